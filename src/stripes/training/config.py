"""The training loop's config (:class:`TrainConfig`), validated on construction, and the
choices it names: optimizers, precisions, devices."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from stripes.config import ConfigError, check_sizes

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


@dataclass
class TrainConfig:
    """Everything :func:`train` needs besides the model, the loss and the data."""

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
    out_dir: str = "runs/default"
    num_workers: int = 0
    device: str = "cpu"  # "cpu" | "cuda" | "auto"
    curriculum: list[tuple[int, int]] = field(default_factory=list)  # (start_epoch, max_len)
    drop_last: bool = False
    max_steps: int | None = None  # stop early (the schedule still spans all epochs)
    resume_from: str | None = None
    progress: bool = True
    tensorboard: bool = True

    def __post_init__(self):
        check_sizes(self, 1, "epochs", "batch_size", "max_steps")
        check_sizes(self, 0, "weight_decay", "warmup_steps", "min_lr_ratio", "grad_clip",
                    "log_every", "eval_every", "checkpoint_every", "keep_every", "num_workers")
        check_sizes(self, 0, "lr", "decay")
        if not 0 < self.lr <= MAX_LR:
            raise ConfigError(f"lr: must be in (0, {MAX_LR:g}], got {self.lr:g} (a run at this "
                              "rate diverges)")
        for name, choices in (("optimizer", OPTIMIZERS), ("precision", PRECISIONS)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name}: must be one of {sorted(choices)}, "
                                  f"got {getattr(self, name)!r}")
        check_device(self.device, available=False)


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


__all__ = ["DEVICE_PATTERN", "MAX_LR", "OPTIMIZERS", "PRECISIONS", "TrainConfig", "build_optimizer",
           "check_device"]
