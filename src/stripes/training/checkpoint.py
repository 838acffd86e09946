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
import logging
import pickle
import platform
import random
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import yaml

import stripes
from stripes.files import atomic_write

logger = logging.getLogger(__name__)


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
    return cast(torch.nn.Module, model.module) if hasattr(model, "module") else model


def write_config(config: Any, path: str | Path) -> Path:
    """Write a config (dataclass or mapping) as YAML, atomically. Returns the path."""
    path = Path(path)
    text = yaml.safe_dump(to_plain(config), sort_keys=False, allow_unicode=True)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


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


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint (truncated, foreign, unsafe, another model's)."""


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (safely: ``weights_only=True``).

    Raises FileNotFoundError / IsADirectoryError for a wrong path and :class:`CheckpointError`
    for a file that is not a checkpoint: truncated, not written by torch, or a pickle holding
    objects other than tensors and plain data (refused, never run).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    try:
        with warnings.catch_warnings():  # a raw pickle's protocol note would be a second line
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as err:
        if not path.exists():
            raise
        raise CheckpointError(f"{path}: not a usable checkpoint ({_first_line(err)})") from None
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path}: not a usable checkpoint (refused by weights_only "
                              "loading: it is not only tensors and plain data; nothing in it "
                              "was run)") from None
    except Exception as err:  # torch reports a truncated or foreign file in many ways
        raise CheckpointError(f"{path}: not a usable checkpoint ({_first_line(err)})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"{path}: not a stripes checkpoint (no 'model' entry)")
    return ckpt


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


def load_weights(model: torch.nn.Module, state: Mapping, source: str | Path) -> None:
    """``model.load_state_dict(state)``, or one :class:`CheckpointError` line naming how the
    weights differ (another model's checkpoint) instead of torch's dump of every tensor."""
    try:
        unwrap(model).load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        mine = unwrap(model).state_dict()
        missing = sorted(set(mine) - set(state)) if isinstance(state, Mapping) else []
        shapes = [k for k in mine if isinstance(state, Mapping) and k in state
                  and tuple(getattr(state[k], "shape", ())) != tuple(mine[k].shape)]
        detail = (f"{len(shapes)} tensors of another shape (e.g. {shapes[0]})" if shapes else
                  f"{len(missing)} tensors missing (e.g. {missing[0]})" if missing else
                  _first_line(err))
        raise CheckpointError(f"{source}: the weights do not fit the model of its config "
                              f"({detail}); is it another model's checkpoint?") from None


def restore_checkpoint(ckpt: Mapping, model: torch.nn.Module,
                       optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                       *, rank: int = 0, restore_rng: bool = True) -> None:
    """Load the states of ``ckpt`` into the given objects; restore rank ``rank``'s RNG state.

    The RNG is left alone when the checkpoint holds no state for this rank (another world size).
    """
    load_weights(model, ckpt["model"], "checkpoint")
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt.get("scheduler") is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if restore_rng and rank < len(ckpt.get("rng", [])):
        restore_rng_state(ckpt["rng"][rank])


def resume_checkpoint(path: str | Path, model: torch.nn.Module,
                      optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None, *,
                      rank: int = 0, world_size: int = 1) -> dict:
    """Load the checkpoint at ``path`` (:func:`load_checkpoint`, on the CPU: RNG states must
    stay CPU tensors) and restore it into the given objects (:func:`restore_checkpoint`);
    returns it, for its ``step``, ``data_position`` and ``extra``. A checkpoint of another
    number of processes is resumed with a warning: the RNG streams then differ."""
    ckpt = load_checkpoint(path)
    restore_checkpoint(ckpt, model, optimizer, scheduler, rank=rank)
    if len(ckpt["rng"]) != world_size:
        logger.warning("checkpoint from %d processes resumed on %d: RNG streams differ",
                       len(ckpt["rng"]), world_size)
    return ckpt
