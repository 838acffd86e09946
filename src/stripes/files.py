"""Files written so that a crash never leaves half of one: atomic writes and file digests.

:func:`atomic_write` writes to a temporary file beside the target, flushes it to disk and moves it
over the target with ``os.replace``; on any failure the temporary file is removed and the old
target is intact; :class:`OutputSet` does the same for the several files of one command (all or
none), and :func:`check_outputs` refuses an output that is an input or an existing file without
``--overwrite``. :func:`file_record` is what a cache's manifest keeps of each of its files (size
and SHA-256), and :func:`check_file_records` what it checks before the cache is trusted.
:func:`strict_json` is the text of a report: JSON that every parser reads (no ``NaN`` or
``Infinity``; a non-finite number becomes ``null`` and the report says where).
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

#: The key under which :func:`strict_json` lists the non-finite numbers it wrote as null.
NON_FINITE_KEY = "non_finite_as_null"


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # a read-only folder: name it, not the temporary file
        raise type(err)(err.errno, err.strerror, str(path.parent)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are meant to be shared
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is None or err.filename == tmp:  # a full disk: name the file written
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return Path(path)


def finite_or_null(obj: Any, where: str = "") -> tuple[Any, list[str]]:
    """``(obj with every NaN / inf / -inf float replaced by None, notes)``: one note per
    replacement, ``"path.to.key: -inf"``. Mappings, lists, tuples and numpy scalars and arrays
    are walked; other objects are returned as they are."""
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return (obj, []) if math.isfinite(obj) else (None, [f"{where or '(top)'}: {obj}"])
    if isinstance(obj, Mapping):
        out, notes = {}, []
        for key, value in obj.items():
            out[key], more = finite_or_null(value, f"{where}.{key}" if where else str(key))
            notes += more
        return out, notes
    if isinstance(obj, (list, tuple)):
        items = [finite_or_null(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return [v for v, _ in items], [n for _, more in items for n in more]
    return obj, []


def strict_json(report: Any, indent: int = 1) -> str:
    """The JSON text of ``report`` that strict parsers accept (``allow_nan=False``): non-finite
    numbers become ``null`` and, for a mapping, :data:`NON_FINITE_KEY` lists where they were
    (e.g. the level of a silent WAV, ``-inf`` dBFS). Objects JSON does not know are written as
    ``str``."""
    clean, notes = finite_or_null(report)
    if notes and isinstance(clean, dict):
        clean[NON_FINITE_KEY] = notes
    return json.dumps(clean, indent=indent, default=str, allow_nan=False) + "\n"


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


def check_outputs(outputs: Sequence[str | Path], inputs: Sequence[str | Path] = (),
                  overwrite: bool = False) -> None:
    """Refuse outputs that are inputs of the same command, or existing files without
    ``overwrite`` (one ``ValueError`` naming the file, raised before anything is written)."""
    def same(a: Path, b: Path) -> bool:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()

    for out in map(Path, outputs):
        for src in map(Path, inputs):
            if same(out, src):
                raise ValueError(f"{out}: this output is also an input of the command ({src}); "
                                 "choose another --out")
        if out.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(out))
        if out.exists() and not overwrite:
            raise ValueError(f"{out} exists: pass --overwrite to replace it")


class OutputSet:
    """Files a command writes together: all of them or none.

    ``stage(target)`` gives the path to write ``target`` to, inside a hidden folder beside it;
    leaving the ``with`` block without an error moves every staged file over its target with
    ``os.replace`` (Ctrl-C held back for those few renames); any error, ``KeyboardInterrupt``
    included, removes the staged files and leaves the targets as they were. An OS error without a
    file name (a full disk) is raised again naming the folder written to.
    """

    def __init__(self) -> None:
        self._staged: dict[Path, Path] = {}
        self._folders: dict[Path, Path] = {}

    def stage(self, target: str | Path) -> Path:
        target = Path(target)
        parent = target.parent
        if parent not in self._folders:
            parent.mkdir(parents=True, exist_ok=True)
            try:
                self._folders[parent] = Path(tempfile.mkdtemp(dir=parent, prefix=".stripes-"))
            except OSError as err:
                raise type(err)(err.errno, err.strerror, str(parent)) from None
        staged = self._folders[parent] / target.name
        self._staged[target] = staged
        return staged

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, kind, err, tb) -> None:
        try:
            if err is None:
                self._commit()
        finally:
            for folder in self._folders.values():
                shutil.rmtree(folder, ignore_errors=True)
        if isinstance(err, OSError) and err.filename is None and self._folders:
            where = ", ".join(str(p) for p in self._folders)
            raise OSError(err.errno, err.strerror or str(err), where) from err

    def _commit(self) -> None:
        missing = [str(t) for t, s in self._staged.items() if not s.is_file()]
        if missing:
            raise RuntimeError(f"staged outputs were not written: {missing}")
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for target, staged in self._staged.items():
                os.chmod(staged, 0o644)
                os.replace(staged, target)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
