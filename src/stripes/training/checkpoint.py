"""Checkpoints that are enough to rebuild and to resume a run.

A checkpoint is a dict saved with ``torch.save`` and readable with ``weights_only=True`` (only
tensors, numbers, strings, lists and dicts inside):

- ``model``, ``optimizer``, ``scheduler``: state dicts (a DDP wrapper is unwrapped first);
- ``step`` (optimizer steps done), ``epoch``, ``data_position`` (e.g. ``{"epoch", "batch"}``: the
  next batch to read);
- ``rng``: a list with one :func:`capture_rng_state` per process rank (torch CPU and CUDA, numpy,
  python ``random``);
- ``config``: the resolved configuration as a plain dict, also written to ``config.yaml`` in the
  checkpoint's folder;
- ``versions``: stripes, torch, numpy, python; ``extra``: anything else the caller passes.

Writes are atomic: the file is written to a temporary name in the same folder, flushed to disk,
then moved over the target with ``os.replace``, so a crash leaves the old checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

import stripes


def library_versions() -> dict[str, str]:
    """Versions of stripes, torch, numpy and python."""
    return {"stripes": stripes.__version__, "torch": str(torch.__version__),
            "numpy": np.__version__, "python": platform.python_version()}


def to_plain(obj: Any) -> Any:
    """Dataclasses, mappings, tuples, paths to dicts, lists, strings (YAML/JSON-safe)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def capture_rng_state() -> dict:
    """The state of every global random generator, as checkpoint-safe values."""
    np_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        # Only when CUDA is in use: asking earlier would create a context on every GPU.
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "python": [version, list(internal), gauss],
    }


def restore_rng_state(state: Mapping) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    if len(state["cuda"]) and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["key"].numpy().astype(np.uint32), npst["pos"],
                         npst["has_gauss"], npst["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel (or DataParallel) wrapper."""
    return model.module if hasattr(model, "module") else model


def write_config(config: Any, path: str | Path) -> Path:
    """Write a config (dataclass or mapping) as YAML, atomically. Returns the path."""
    path = Path(path)
    text = yaml.safe_dump(to_plain(config), sort_keys=False, allow_unicode=True)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


def atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; checkpoints are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | Path, *, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    step: int = 0, epoch: int = 0, data_position: Mapping | None = None,
                    config: Any = None, rng: list[dict] | None = None,
                    extra: Mapping | None = None, write_yaml: bool = True) -> Path:
    """Save a checkpoint atomically (see the module docstring); returns its path.

    rng: one RNG state per rank (default: this process's state only). With ``write_yaml`` and a
    config, ``config.yaml`` is written beside the checkpoint too.
    """
    path = Path(path)
    state = {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "step": int(step), "epoch": int(epoch),
        "data_position": to_plain(data_position or {}),
        "rng": rng if rng is not None else [capture_rng_state()],
        "config": to_plain(config) if config is not None else {},
        "versions": library_versions(),
        "extra": to_plain(extra or {}),
    }
    atomic_write(path, lambda f: torch.save(state, f))
    if write_yaml and config is not None:
        write_config(config, path.parent / "config.yaml")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (safely: ``weights_only=True``)."""
    return torch.load(Path(path), map_location=map_location, weights_only=True)


def restore_checkpoint(ckpt: Mapping, model: torch.nn.Module,
                       optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                       *, rank: int = 0, restore_rng: bool = True) -> None:
    """Load the states of ``ckpt`` into the given objects; restore rank ``rank``'s RNG state.

    The RNG is left alone when the checkpoint holds no state for this rank (another world size).
    """
    unwrap(model).load_state_dict(ckpt["model"])
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt.get("scheduler") is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if restore_rng and rank < len(ckpt.get("rng", [])):
        restore_rng_state(ckpt["rng"][rank])
