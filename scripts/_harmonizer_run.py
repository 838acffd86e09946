"""The command line the research scripts on a harmonizer run share: ``RUN --out DIR``, and the
run's model and config loaded (``short_notes.py``, ``compare_criteria.py``,
``onset_tradeoff.py``; run them from the repository root as ``python scripts/NAME.py``)."""

from __future__ import annotations

import argparse
from typing import Any

from stripes.tasks.harmonization.train import load_harmonizer


def open_run(doc: str | None) -> tuple[argparse.Namespace, Any, Any]:
    """Parse ``RUN --out DIR`` (the description: ``doc``'s first line) and load the run's
    harmonizer: ``(args, model, config)``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    ap.add_argument("run", help="a harmonization run folder")
    ap.add_argument("--out", required=True, help="folder for the JSON and Markdown written")
    args = ap.parse_args()
    model, config = load_harmonizer(args.run)
    return args, model, config
