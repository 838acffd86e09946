"""Files written so that a crash never leaves half of one: atomic writes and file digests.

:func:`atomic_write` writes to a temporary file beside the target, flushes it to disk and moves it
over the target with ``os.replace``; on any failure the temporary file is removed and the old
target is intact. :func:`file_record` is what a cache's manifest keeps of each of its files (size
and SHA-256), and :func:`check_file_records` what it checks before the cache is trusted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return Path(path)


def file_record(path: str | Path) -> dict:
    """``{"bytes": size, "sha256": hex digest}`` of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"bytes": Path(path).stat().st_size, "sha256": h.hexdigest()}


def check_file_records(folder: str | Path, records: Mapping[str, Mapping],
                       hashes: bool = False) -> list[str]:
    """What differs between the files of ``folder`` and their ``records`` (empty: all match):
    sizes always, SHA-256 digests too with ``hashes``."""
    problems = []
    for name, rec in records.items():
        path = Path(folder) / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != rec.get("bytes"):
            problems.append(f"{name} has {path.stat().st_size} bytes, {rec.get('bytes')} expected")
        elif hashes and file_record(path)["sha256"] != rec.get("sha256"):
            problems.append(f"{name} does not match the SHA-256 hash in the manifest")
    return problems


def remove_stale_tmp(folder: str | Path) -> list[Path]:
    """Delete the temporary files (``*.tmp``, ``.*.tmp``) that an interrupted atomic write left
    directly in ``folder``; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted({p for pattern in ("*.tmp", ".*.tmp") for p in folder.glob(pattern)
                    if p.is_file()})
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
