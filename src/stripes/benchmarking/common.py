"""Benchmark plumbing shared by every ``benchmarks/bench_*.py``: context, timing, memory, output.

Results carry their context (machine, versions, commit) and the matmul peak measured in the same
run, so every speed can be read as a fraction of what the machine can do. Each point runs in a
fresh subprocess (:func:`run_isolated`): memory is measured cleanly and an out-of-memory point
cannot take the series down.

Devices: every timing and memory helper takes ``device`` (default: the CPU). On CUDA, kernels run
asynchronously, so a timer read after a launch would time the launch: the helpers synchronize
before starting and after each call, and peak memory is the allocator's
``torch.cuda.max_memory_allocated`` (the process's resident memory knows nothing of the GPU).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch


def machine_header(device: str | torch.device | None = None) -> dict:
    """Machine, versions and commit: the header of every results file (with the GPU's name and
    the CUDA version when ``device`` is a CUDA device)."""
    import numpy

    header = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "commit": _git_commit(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "allocator": "default (no mallopt settings)",
    }
    if _device(device).type == "cuda":
        header.update(device=torch.cuda.get_device_name(_device(device)), cuda=torch.version.cuda)
    return header


def _device(device: str | torch.device | None) -> torch.device:
    return torch.device("cpu" if device is None else device)


def synchronize(device: str | torch.device | None = None) -> None:
    """Wait until the work queued on ``device`` is done (CUDA); nothing to wait for on the CPU."""
    d = _device(device)
    if d.type == "cuda":
        torch.cuda.synchronize(d)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def measure_matmul_peak(n: int = 2048, repeats: int = 5,
                        device: str | torch.device | None = None) -> float:
    """GFLOP/s of an ``n×n`` float32 matmul on ``device`` now (best of ``repeats``)."""
    d = _device(device)
    a, b = torch.randn(n, n, device=d), torch.randn(n, n, device=d)
    out = torch.empty(n, n, device=d)
    torch.mm(a, b, out=out)
    best = min(_seconds(lambda: torch.mm(a, b, out=out), d) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _seconds(fn: Callable[[], object], device: str | torch.device | None = None) -> float:
    """Wall time of ``fn()``, from an idle ``device`` until its queued work is done."""
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


def time_call(fn: Callable[[], object], repeats: int = 3, warmup: int = 1,
              device: str | torch.device | None = None) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls (synchronized
    on ``device``)."""
    for _ in range(warmup):
        fn()
    times = sorted(_seconds(fn, device) for _ in range(repeats))
    return times[len(times) // 2]


def _rss_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def peak_memory(fn: Callable[[], object], device: str | torch.device | None = None) -> int:
    """Peak memory added by ``fn()`` in bytes: on the CPU the resident memory (Linux ``VmHWM``,
    reset first), on CUDA the allocator's peak above what was allocated before the call.

    Call it on a fresh process for a clean number (memory kept mapped by an earlier call is not
    counted again). Returns 0 on the CPU where ``/proc`` is unavailable.
    """
    d = _device(device)
    if d.type == "cuda":
        synchronize(d)
        torch.cuda.reset_peak_memory_stats(d)
        base = torch.cuda.memory_allocated(d)
        fn()
        synchronize(d)
        return max(0, torch.cuda.max_memory_allocated(d) - base)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        return 0
    base = _rss_bytes("VmRSS")
    fn()
    return max(0, _rss_bytes("VmHWM") - base)


def measure_call(fn: Callable[[], object], repeats: int = 5, slow_s: float = 5.0,
                 warmup: int = 2, device: str | torch.device | None = None) -> dict:
    """Peak memory of a cold call (run this on a fresh process), then the median time of
    ``repeats`` calls after ``warmup`` calls, with the default allocator (what a user's process
    gets: fresh large temporaries page-fault, ~0.5 s/GiB, docs/performance.md, and that cost is
    part of the measurement). A call whose cold run took over ``slow_s`` seconds is timed once,
    after one warm-up: repeating multi-second points adds minutes and no information.
    Returns ``seconds``, ``peak_bytes`` and ``timed_once``; ``device``: where ``fn`` runs (the
    module docstring)."""
    t0 = time.perf_counter()
    mem = peak_memory(fn, device)
    slow = time.perf_counter() - t0 > slow_s
    seconds = time_call(fn, repeats=1 if slow else repeats, warmup=1 if slow else warmup,
                        device=device)
    return {"seconds": seconds, "peak_bytes": mem, "timed_once": slow}


def measure_paired(calls: dict[str, Callable[[], object]], rounds: int = 7, warmup: int = 2,
                   device: str | torch.device | None = None) -> dict:
    """Time several calls alternately in one process: ``rounds`` rounds after ``warmup`` calls
    each, the order rotated every round, so load from other processes hits all of them alike.

    Returns ``{name: {"seconds": median, "rounds": [...]}}``; ratios of two names are best taken
    per round (:func:`paired_ratio`).
    """
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(_seconds(calls[name], device))
    return {name: {"seconds": statistics.median(ts), "rounds": ts} for name, ts in times.items()}


def paired_ratio(measured: dict, slow: str, fast: str) -> float:
    """Median over rounds of ``time(slow) / time(fast)`` from :func:`measure_paired`."""
    pairs = zip(measured[slow]["rounds"], measured[fast]["rounds"], strict=True)
    return statistics.median(a / b for a, b in pairs)


def run_isolated(module: str, args: list[str], timeout: float = 600) -> dict:
    """Run ``python -m module *args`` in a fresh process; it prints one JSON line last.

    Returns that dict, or ``{"error": ...}`` when the point failed (out of memory, time-out).
    """
    cmd = [sys.executable, "-m", module, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0][:200]}"}
    return json.loads(lines[-1])


def write_results(
    out_dir: str | Path, name: str, payload: dict, markdown: str
) -> tuple[Path, Path]:
    """Write ``name.json`` and ``name.md`` under ``out_dir``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out / f"{name}.json", out / f"{name}.md"
    jpath.write_text(json.dumps(payload, indent=2) + "\n")
    mpath.write_text(markdown)
    return jpath, mpath


def markdown_header(title: str, header: dict, peak_gflops: float) -> str:
    """The context block that opens every Markdown results file."""
    lines = [f"# {title}", ""]
    lines += [f"- {k}: `{v}`" for k, v in header.items()]
    lines += [f"- matmul peak (2048², fp32, this run): **{peak_gflops:.1f} GFLOP/s**", ""]
    return "\n".join(lines)


def markdown_table(columns: list[str], rows: list[list]) -> str:
    """A plain Markdown table."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"
