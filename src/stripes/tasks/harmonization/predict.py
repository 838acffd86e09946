"""Harmonization inference: probabilities and their binarization into pianorolls.

The harmonizer predicts every step in parallel (no sampling, [FS] Sec. IV): sigmoid of the
``3 × 128`` logits, then a binary pianoroll by a threshold, optionally followed by *merging*:
gaps of at most ``merge_gap`` empty steps inside a pitch are filled, which turns the flicker of
per-step predictions into held notes. Threshold and gap are chosen on the validation set.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    inputs: torch.Tensor,
    positions: torch.Tensor | None = None,
    code: list | None = None,
) -> torch.Tensor:
    """``inputs [B, T, 256]`` (+ ``positions [B, T, L]``) -> probabilities ``[B, T, 384]``."""
    was_training = model.training
    model.eval()
    logits, _ = model(inputs, positions=positions, code=code)
    model.train(was_training)
    return torch.sigmoid(logits)


def harmonize_pianoroll(
    model: nn.Module,
    inputs: torch.Tensor,
    positions: torch.Tensor | None,
    binarization: dict,
    seed: int = 0,
) -> np.ndarray:
    """One window ``inputs [1, T, 256]`` -> binary pianoroll ``[T, 384]``: a PE code drawn from
    ``seed`` (stochastic PEs), the probabilities, then ``binarization`` (``threshold`` and
    ``merge_gap``, as chosen on validation by :func:`choose_binarization`)."""
    code = model.draw_pe_code(inputs.shape[1], None, torch.Generator().manual_seed(seed))
    probs = predict_probabilities(model, inputs, positions, code=code)[0].numpy()
    return binarize(probs, binarization["threshold"], binarization["merge_gap"])


def fill_gaps(roll: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of at most ``max_gap`` off-steps that have an on-step on both sides.

    Args:
        roll: binary ``[T, P]``.
    Returns:
        binary ``[T, P]`` (a copy).
    """
    out = roll.astype(bool).copy()
    if max_gap <= 0:
        return out
    t = out.shape[0]
    for p in np.flatnonzero(out.any(axis=0)):
        on = np.flatnonzero(out[:, p])
        gaps = np.diff(on) - 1
        for start, gap in zip(on[:-1], gaps, strict=False):
            if 0 < gap <= max_gap and start + gap + 1 < t:
                out[start + 1 : start + 1 + gap, p] = True
    return out


def binarize(probs: np.ndarray, threshold: float = 0.5, merge_gap: int = 0) -> np.ndarray:
    """``probs [T, P]`` -> binary ``[T, P]`` by ``threshold``, then :func:`fill_gaps`."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    return fill_gaps(np.asarray(probs) >= threshold, merge_gap)


def choose_binarization(
    probs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    score: Callable[[np.ndarray, np.ndarray], float],
    thresholds: Sequence[float] = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5),
    merge_gaps: Sequence[int] = (0, 2, 4, 8),
) -> dict:
    """The ``(threshold, merge_gap)`` of the grid with the best mean ``score(pred, target)``.

    Returns ``{"threshold", "merge_gap", "score", "grid": [[t, g, score], ...]}``.
    """
    grid = []
    for th, gap in itertools.product(thresholds, merge_gaps):
        s = float(
            np.mean([score(binarize(p, th, gap), t) for p, t in zip(probs, targets, strict=False)])
        )
        grid.append([th, gap, s])
    best = max(grid, key=lambda row: row[2])
    return {"threshold": best[0], "merge_gap": best[1], "score": best[2], "grid": grid}
