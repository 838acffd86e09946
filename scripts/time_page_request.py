"""Time one request of `stripes serve`'s page: typed 'C G Am F' over the shipped example with
the POP909 model, through the page's own path (`run_request`), after the server's warm-up.
Prints wall time, this process's CPU time and the load average around each of two runs.

    PYTHONPATH=src python scripts/time_page_request.py
"""

import os
import tempfile
import time
from pathlib import Path

from stripes.web.inputs import ChordsInput, Limits
from stripes.web.page import EXAMPLES, PageRequest, run_request, warm_up

warm_up({"pop909": "pop909"})
request = PageRequest(midi=EXAMPLES / "ode_to_joy" / "melody.mid",
                      chords=ChordsInput("typed", "C G Am F"), model="pop909")
for run in range(2):
    with tempfile.TemporaryDirectory() as folder:
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        result = run_request(request, Path(folder), Limits())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"run {run}: wall {wall:.1f} s, cpu {cpu:.1f} s, load average {load:.1f} on "
              f"{os.cpu_count()} cores; {result.status.split('.')[0]}")
