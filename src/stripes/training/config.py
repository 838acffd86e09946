"""The training loop's configs, validated on construction: :class:`TrainConfig` (the recipe:
what a run computes) and :class:`RunConfig` (how and where this invocation runs it: device,
folder, workers, progress, data locations), and the choices they name: optimizers, precisions,
devices."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from stripes.config import ConfigError, check_sizes

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


@dataclass
class TrainConfig:
    """The recipe :func:`~stripes.training.loop.train` follows, besides the model, the loss and
    the data: two runs with equal ``TrainConfig`` compute the same thing (a resumed run must
    keep it)."""

    epochs: int = 1
    batch_size: int = 8  # global, over all processes
    lr: float = 1e-3
    optimizer: str = "adam"  # "adam" | "adamw"
    weight_decay: float = 0.0
    precision: str = "fp32"  # "fp32" | "bf16" (autocast)
    schedule: str = "warmup_decay"  # "warmup_decay" | "warmup_cosine" | "constant"
    warmup_steps: int = 0
    decay: float = 1.0  # per-epoch factor of "warmup_decay"
    min_lr_ratio: float = 0.0  # final rate / lr of "warmup_cosine"
    grad_clip: float = 0.0  # max gradient norm; 0 disables
    seed: int = 0
    log_every: int = 50
    eval_every: int = 0  # steps; 0: at each epoch end
    checkpoint_every: int = 0  # steps; 0: at each epoch end
    keep_every: int = 0  # steps; > 0 keeps the weights as checkpoints/step_NNNNNN.pt
    curriculum: list[tuple[int, int]] = field(default_factory=list)  # (start_epoch, max_len)
    drop_last: bool = False

    def __post_init__(self):
        check_sizes(self, 1, "epochs", "batch_size")
        check_sizes(self, 0, "weight_decay", "warmup_steps", "min_lr_ratio", "grad_clip",
                    "log_every", "eval_every", "checkpoint_every", "keep_every")
        check_sizes(self, 0, "lr", "decay")
        if not 0 < self.lr <= MAX_LR:
            raise ConfigError(f"lr: must be in (0, {MAX_LR:g}], got {self.lr:g} (a run at this "
                              "rate diverges)")
        for name, choices in (("optimizer", OPTIMIZERS), ("precision", PRECISIONS)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name}: must be one of {sorted(choices)}, "
                                  f"got {getattr(self, name)!r}")


@dataclass
class RunConfig:
    """How and where one invocation runs a recipe; nothing here changes what a run computes.

    Attributes:
        out_dir: the run folder. device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        num_workers: data-loading processes. progress: progress bars. tensorboard: also log to
            ``tb/`` (when installed).
        resume_from: a checkpoint to continue from. max_steps: stop this invocation after so
            many optimizer steps in all (the schedule still spans every epoch; resume later).
        data_root: the POP909 data folder a harmonization task prepares its corpus from
            (``None``: ``$STRIPES_DATA``). cache_dir: where prepared corpora live (``None``:
            ``$STRIPES_CACHE`` or ~/.cache/stripes). The training loop reads neither.
        compile: train through ``torch.compile(model, fullgraph=True)`` (Inductor): the same
            function, fused kernels; the first steps pay the compilation (logged).
    """

    out_dir: str = "runs/default"
    device: str = "cpu"
    num_workers: int = 0
    progress: bool = True
    tensorboard: bool = True
    resume_from: str | None = None
    max_steps: int | None = None
    data_root: str | None = None
    cache_dir: str | None = None
    compile: bool = False

    def __post_init__(self):
        check_sizes(self, 1, "max_steps")
        check_sizes(self, 0, "num_workers")
        check_device(self.device, available=False)


#: The entries of the older ``train`` section that are run settings now.
RUN_KEYS = tuple(f.name for f in fields(RunConfig) if f.name not in ("data_root", "cache_dir"))


def split_run_settings(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An older ``train`` section (recipe and run settings mixed) as ``(train, run)``."""
    train = {k: v for k, v in data.items() if k not in RUN_KEYS}
    return train, {k: v for k, v in data.items() if k in RUN_KEYS}


def migrate_run_settings(data: dict[str, Any], *, top_level: tuple[str, ...] = ()
                         ) -> dict[str, Any]:
    """A task config's mapping with the run settings of its ``train`` section (and the keys
    ``top_level`` beside the sections) moved into its ``run`` section, where they live now."""
    out = dict(data)
    moved = {k: out.pop(k) for k in top_level if k in out}
    if isinstance(out.get("train"), Mapping):
        out["train"], from_train = split_run_settings(out["train"])
        moved.update(from_train)
    if moved:
        run = out.get("run")
        out["run"] = {**(run if isinstance(run, Mapping) else {}), **moved}
    return out


MAX_LR = 1.0  # no optimizer here trains at a larger rate
DEVICE_PATTERN = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")


def check_device(name: str, available: bool = True) -> str:
    """``name`` if it is a device this code can use (``cpu``, ``cuda``, ``cuda:N``, ``auto``),
    else :class:`ConfigError` naming the valid ones; with ``available``, CUDA must exist too."""
    if not isinstance(name, str) or not DEVICE_PATTERN.match(name):
        raise ConfigError(f"device: {name!r} is not a device; use cpu, cuda, cuda:N or auto")
    if available and name.startswith("cuda"):
        count = torch.cuda.device_count()
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            raise ConfigError(f"device: {name!r} is not available here ({count} CUDA devices); "
                              "use cpu or auto")
    return name


def build_optimizer(params, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam or AdamW, fused when this torch and device support it (else the foreach path)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    params = list(params)
    try:
        return OPTIMIZERS[name](params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or a device without the kernel
        return OPTIMIZERS[name](params, lr=lr, weight_decay=weight_decay)


__all__ = ["DEVICE_PATTERN", "MAX_LR", "OPTIMIZERS", "PRECISIONS", "RUN_KEYS", "RunConfig",
           "TrainConfig", "build_optimizer", "check_device", "migrate_run_settings",
           "split_run_settings"]
