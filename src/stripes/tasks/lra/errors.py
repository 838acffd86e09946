"""Errors of the LRA data: a missing release file and a malformed one, each one clear line.

:class:`MissingReleaseError` is a ``FileNotFoundError`` and :class:`LRADataError` a
``ValueError``, so the command line reports either as ``stripes: error: ...`` (no traceback).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class LRADataError(ValueError):
    """A file of an LRA format with a line that does not follow it (the message names the file
    and the line)."""


class MissingReleaseError(FileNotFoundError):
    """Files of an LRA task that are not where they were looked for; the message names every
    expected path and where the files come from."""

    def __init__(self, task: str, missing: Sequence[Path], source: str):
        self.task, self.missing, self.source = task, list(missing), source
        paths = ", ".join(str(p) for p in self.missing)
        super().__init__(f"{task}: missing {paths}; {source}")


def require(task: str, paths: Sequence[Path], source: str) -> None:
    """Raise :class:`MissingReleaseError` naming those of ``paths`` that do not exist."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise MissingReleaseError(task, missing, source)
