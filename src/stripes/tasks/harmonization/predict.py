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

# One binarization for the whole project (evaluation.harmonization.binarization); re-exported
# for callers of this module.
from stripes.evaluation.harmonization.binarization import binarize
from stripes.evaluation.harmonization.rolls import chords_of
from stripes.models import StripesTransformer
from stripes.music.windows import WindowDataset, collate_windows
from stripes.tasks.harmonization.data import model_inputs

__all__ = ["binarize", "collect_windows", "harmonize_pianoroll", "predict_probabilities"]


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
    model: StripesTransformer,
    inputs: torch.Tensor,
    positions: torch.Tensor | None,
    binarization: dict,
    seed: int = 0,
) -> np.ndarray:
    """One window ``inputs [1, T, 256]`` -> binary pianoroll ``[T, 384]``: a PE code drawn from
    ``seed`` (stochastic PEs), the probabilities, then ``binarization`` (``threshold`` and
    ``merge_gap``, as chosen on validation by ``evaluation.harmonization.binarization``)."""
    code = model.draw_pe_code(inputs.shape[1], None, torch.Generator().manual_seed(seed))
    probs = predict_probabilities(model, inputs, positions, code=code)[0].numpy()
    return binarize(probs, binarization["threshold"], binarization["merge_gap"])


def collect_windows(model: StripesTransformer, dataset: WindowDataset, batch_size: int = 8,
                    max_tokens: int = 8192) -> list[dict]:
    """Per window: ``probs``, ``targets`` ``[T, 384]``, ``inputs`` ``[T, 256]`` (numpy),
    ``root`` and ``chroma`` ``[T]`` (the given chords) and the ``song`` id: the windows that
    :func:`stripes.evaluation.harmonization.score_harmonization` scores.

    At most ``max_tokens`` = B·T per forward pass (64-bar windows go two at a time), so that a
    quadratic PE's ``[B, H, T, T]`` bias fits in memory at long test lengths. One PE code, drawn
    from seed 0, serves every window."""
    out = []
    longest = int(dataset.index[:, 2].max()) if len(dataset) else 1
    batch_size = max(1, min(batch_size, max_tokens // longest))
    code = model.draw_pe_code(longest, None, torch.Generator().manual_seed(0))
    for i in range(0, len(dataset), batch_size):
        batch = collate_windows([dataset[j] for j in range(i, min(i + batch_size, len(dataset)))])
        p = predict_probabilities(model, model_inputs(batch), batch.get("positions"), code=code)
        for b in range(p.shape[0]):
            n = int(batch["mask"][b].sum())
            root, chroma = chords_of({k: v[b, :n] for k, v in batch["labels"].items()})
            out.append({"probs": p[b, :n].numpy(), "targets": batch["targets"][b, :n].numpy(),
                        "inputs": batch["inputs"][b, :n].numpy(), "root": root,
                        "chroma": chroma, "song": int(batch["song"][b])})
    return out
