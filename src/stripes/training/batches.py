"""Nested batches (tensors, dicts, lists, tuples): cropping in time for the length curriculum,
moving to a device, reading the batch size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def max_len_at(curriculum: Sequence[Sequence[int]], epoch: int) -> int | None:
    """The ``max_len`` of the last stage started at or before ``epoch`` (None: no cropping)."""
    stages = [(int(s), int(n)) for s, n in curriculum if int(s) <= epoch]
    return max(stages)[1] if stages else None


def crop_time(batch: Any, max_len: int | None) -> Any:
    """Crop every tensor ``[B, T, ...]`` (ndim ≥ 2) in a nested batch to ``T <= max_len``."""
    if max_len is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch[:, :max_len] if batch.dim() >= 2 else batch
    if isinstance(batch, dict):
        return {k: crop_time(v, max_len) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(crop_time(v, max_len) for v in batch)
    return batch


def move_to(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a nested batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


def batch_size_of(batch: Any) -> int:
    """Size of dim 0 of the first tensor found in a nested batch."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    items = batch.values() if isinstance(batch, dict) else batch
    return next(batch_size_of(v) for v in items if isinstance(v, (torch.Tensor, dict, list, tuple)))


__all__ = ["batch_size_of", "crop_time", "max_len_at", "move_to"]
