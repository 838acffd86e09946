"""Checks of command-line arguments shared by several commands (raising the errors that the
entry point prints as one line)."""

from __future__ import annotations


def output_file(path: str, suffixes: tuple[str, ...] = ()) -> str:
    """``path`` checked as a file to write (not a folder; one of ``suffixes`` when given)."""
    import errno
    import os

    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if suffixes and not path.lower().endswith(suffixes):
        raise ValueError(f"--out {path}: expected a file ending in {' or '.join(suffixes)}")
    return path
