"""Harmonization inference: probabilities and their binarization into pianorolls.

The harmonizer predicts every step in parallel (no sampling, [FS] Sec. IV): sigmoid of the
``3 × 128`` logits, then a binary pianoroll by a threshold, optionally followed by *merging*:
gaps of at most ``merge_gap`` empty steps inside a pitch are filled, which turns the flicker of
per-step predictions into held notes. Threshold and gap are chosen on the validation set.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# One binarization for the whole project (evaluation.binarization); re-exported for callers of
# this module.
from stripes.evaluation.binarization import binarize, fill_gaps

__all__ = ["binarize", "fill_gaps", "harmonize_pianoroll", "predict_probabilities"]


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
    ``merge_gap``, as chosen on validation by ``evaluation.binarization.choose_binarization``)."""
    code = model.draw_pe_code(inputs.shape[1], None, torch.Generator().manual_seed(seed))
    probs = predict_probabilities(model, inputs, positions, code=code)[0].numpy()
    return binarize(probs, binarization["threshold"], binarization["merge_gap"])
