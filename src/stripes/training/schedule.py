"""Learning-rate schedules, as ``LambdaLR`` multipliers of the base rate, stepped once per
optimizer step.

- ``warmup_decay`` ([S24] training recipe: Adam, linear warmup over the first batches, then a
  decay by a constant factor every epoch)::

      factor(s) = min(1, (s + 1) / W) * decay ** floor(s / S)

  with ``W`` warmup steps and ``S`` optimizer steps per epoch. The warmup counts ``s + 1`` so the
  first step already learns (the [S24] code's ``s / W`` spends step 0 at rate 0). The epoch decay
  runs from step 0, so warmup and decay overlap if ``W > S``.
- ``warmup_cosine`` (language models): linear warmup to the base rate, then a half cosine from
  the base rate down to ``min_ratio`` times it at ``total_steps``, held there afterwards::

      factor(s) = (s + 1) / W                                   if s < W
                = r + (1 - r) * (1 + cos(pi * p)) / 2,  p = min(1, (s - W) / (N - W))  otherwise

  with ``r = min_ratio`` and ``N = total_steps``.

- ``constant``: factor 1 after the same linear warmup.

The multipliers are small picklable dataclasses, so ``scheduler.state_dict()`` stores them and a
resumed run rebuilds the same schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import LambdaLR


@dataclass
class WarmupDecay:
    """``factor(s) = min(1, (s + 1) / warmup_steps) * decay ** (s // steps_per_epoch)``."""

    warmup_steps: int
    steps_per_epoch: int
    decay: float = 1.0

    def __call__(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        return warm * self.decay ** (step // max(1, self.steps_per_epoch))


@dataclass
class WarmupCosine:
    """Linear warmup over ``warmup_steps``, then cosine to ``min_ratio`` at ``total_steps``."""

    warmup_steps: int
    total_steps: int
    min_ratio: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


SCHEDULES = ("warmup_decay", "warmup_cosine", "constant")


def build_schedule(kind: str, optimizer: torch.optim.Optimizer, *, warmup_steps: int,
                   steps_per_epoch: int, total_steps: int, decay: float = 1.0,
                   min_ratio: float = 0.0) -> LambdaLR:
    """A ``LambdaLR`` for ``kind`` in :data:`SCHEDULES` (see the module docstring)."""
    factor: WarmupDecay | WarmupCosine
    if kind == "warmup_decay":
        factor = WarmupDecay(warmup_steps, steps_per_epoch, decay)
    elif kind == "warmup_cosine":
        factor = WarmupCosine(warmup_steps, total_steps, min_ratio)
    elif kind == "constant":
        factor = WarmupDecay(warmup_steps, steps_per_epoch, 1.0)
    else:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {SCHEDULES}")
    return LambdaLR(optimizer, factor)


def adam_warmup_decay(params, lr: float, *, warmup_steps: int, steps_per_epoch: int,
                      decay: float, betas: tuple[float, float] = (0.9, 0.999)
                      ) -> tuple[torch.optim.Adam, LambdaLR]:
    """Adam with the [S24] schedule (linear warmup, then ``decay`` per epoch)."""
    optimizer = torch.optim.Adam(params, lr=lr, betas=betas)
    return optimizer, build_schedule("warmup_decay", optimizer, warmup_steps=warmup_steps,
                                     steps_per_epoch=steps_per_epoch, total_steps=0, decay=decay)
