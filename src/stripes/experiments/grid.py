"""The grid that reproduces a paper's table: methods × training seeds, run seed-major, resumable.

Both tasks' experiments (:mod:`.harmonization`, :mod:`.lm`) lay their runs out alike,
``<root>/runs/<method label>/seed<k>/``, and go seed by seed (every method at the first seed,
then the next), so that a cut-off experiment leaves complete rows and its tables (:mod:`.tables`)
can be rewritten after every run. Each task says how one run is trained and evaluated (or read
back when it is done); :func:`run_grid` runs them in order, keeping the wall time of all sessions
in ``wall_time.json`` when asked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

from stripes.training.checkpoint import atomic_write

M = TypeVar("M")
S = TypeVar("S")
R = TypeVar("R")


def seed_major(methods: Sequence[M], seeds: Sequence[S]) -> list[tuple[M, S]]:
    """Every ``(method, seed)``: every method at the first seed, then at the next."""
    return [(m, s) for s in seeds for m in methods]


def run_folder(root: Path, label: str, seed: int | None = None) -> Path:
    """The folder of one run: ``<root>/runs/<label>/seed<seed>`` (without a seed level when
    ``seed`` is None)."""
    run = Path(root) / "runs" / label
    return run if seed is None else run / f"seed{seed}"


def run_grid(runs: Sequence[tuple[M, S]], run_one: Callable[[M, S], R],
             after_run: Callable[[list[R]], None], *, clock: Path | None = None,
             desc: str = "", progress: bool = False) -> list[R]:
    """``run_one(method, seed)`` for every run in order, then ``after_run(results so far)``
    (e.g. the partial tables); each run's seconds are added to ``<clock>/wall_time.json`` when
    ``clock`` is a folder. Returns the results in run order."""
    results: list[R] = []
    for method, seed in tqdm(runs, desc=desc, unit="run", disable=not progress):
        started = time.perf_counter()
        results.append(run_one(method, seed))
        if clock is not None:  # kept if a later run is cut off
            add_wall_time(clock, time.perf_counter() - started)
        after_run(results)
    return results


def wall_time(out: Path) -> float:
    """The seconds of all sessions of the experiment in ``out`` (0 before the first run)."""
    path = Path(out) / "wall_time.json"
    return json.loads(path.read_text())["seconds"] if path.exists() else 0.0


def add_wall_time(out: Path, seconds: float) -> float:
    """Add ``seconds`` to ``<out>/wall_time.json``; returns the new total."""
    total = seconds + wall_time(out)
    atomic_write(Path(out) / "wall_time.json",
                 lambda f: f.write(json.dumps({"seconds": total}).encode()))
    return total


def missing_lines(missing: Sequence[str], total: int) -> list[str]:
    """``- PARTIAL: ...`` naming the runs without results yet (``"<label> seed <k>"``), or
    nothing when every one of the ``total`` runs is done."""
    if not missing:
        return []
    return [f"- PARTIAL: {len(missing)} of {total} runs missing (rerun the command to resume): "
            f"{', '.join(missing)}"]
