"""Run folders that are never damaged: claimed before anything is written, cleaned of stale
temporary files, replaced only on request.

``claim_run_dir(path, resume=..., overwrite=...)`` is called after every input is validated and
before the first byte is written: an existing non-empty folder is refused unless the run is
resumed (from its ``checkpoints/last.pt``) or explicitly overwritten; ``prepare_run_dir`` then
empties an overwritten folder (run artifacts only) and removes ``*.tmp`` files that a killed
process left behind. ``hold_run_dir`` holds the folder's lock (``.stripes.lock``, an exclusive
``flock`` that the system releases when the process ends, however it ends) while the run is
written: of two commands that claimed one empty folder at once, the second to take the lock is
refused with one line (the folder is busy, or no longer empty).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stripes.files import remove_stale_tmp

#: What a run folder holds (``stripes train``, ``lm train``, ``evaluate``, a groove grid's run);
#: ``--overwrite`` removes these and nothing else.
RUN_ARTIFACTS = ("task.yaml", "config.yaml", "log.csv", "checkpoints", "tb", "evaluation.json",
                 "trained", "experiment.yaml", "tokenizer.json", "eval", "continuation.json",
                 "samples")
#: The lock file of a run folder (kept; empty).
LOCK_NAME = ".stripes.lock"


def claim_run_dir(path: str | Path, *, resume: bool = False, overwrite: bool = False
                  ) -> Path | None:
    """Check that ``path`` may become (or continue) a run; returns the checkpoint to resume from.

    Raises ValueError (nothing written) for a non-empty folder without ``resume`` or
    ``overwrite``, a resume without ``checkpoints/last.pt``, or an overwrite of a folder holding
    files that are not run artifacts; NotADirectoryError when ``path`` is a file.
    """
    path = Path(path)
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(path))
    if resume:
        last = path / "checkpoints" / "last.pt"
        if not last.is_file():
            raise ValueError(f"{path}: nothing to resume (no checkpoints/last.pt)")
        return last
    entries = sorted(p.name for p in path.iterdir() if p.name != LOCK_NAME) if path.is_dir() else []
    if entries and not overwrite:
        raise ValueError(f"{path}: the run folder exists and is not empty; pass --resume to "
                         "continue it or --overwrite to replace it")
    foreign = [e for e in entries if e not in RUN_ARTIFACTS and not e.endswith(".tmp")]
    if foreign:
        raise ValueError(f"{path}: not a run folder (holds {', '.join(foreign[:3])}); "
                         "--overwrite replaces run folders only")
    return None


def prepare_run_dir(path: str | Path, *, overwrite: bool = False) -> Path:
    """Create the claimed folder: emptied of run artifacts when ``overwrite``, stale ``*.tmp``
    files removed. Call only after :func:`claim_run_dir` accepted it."""
    path = Path(path)
    if overwrite and path.is_dir():
        for name in RUN_ARTIFACTS:
            target = path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    remove_stale_tmp(path)
    remove_stale_tmp(path / "checkpoints")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def hold_run_dir(path: str | Path, *, fresh: bool) -> Iterator[Path]:
    """Hold the run folder's lock while the run is written (the folder is created).

    Raises ValueError when another process holds it, or, for a ``fresh`` run (neither resumed
    nor overwritten), when the folder is no longer empty once the lock is held: another command
    claimed it between :func:`claim_run_dir` and now.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{path}: another stripes command is writing this run folder now; "
                             "wait for it to end or choose another --out") from None
        others = [p.name for p in path.iterdir() if p.name != LOCK_NAME
                  and not p.name.endswith(".tmp")]
        if fresh and others:
            raise ValueError(f"{path}: another command started a run in this folder first "
                             f"(it holds {', '.join(sorted(others)[:3])}); choose another --out")
        yield path
    finally:
        os.close(fd)  # releases the lock
