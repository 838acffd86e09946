"""Harmonization inference: probabilities and their binarization into pianorolls.

The harmonizer predicts every step in parallel (no sampling, [FS] Sec. IV): sigmoid of the
``3 × 128`` frame logits, then a binary pianoroll by a threshold, optionally followed by
*merging*: gaps of at most ``merge_gap`` empty steps inside a pitch are filled, which turns the
flicker of per-step predictions into held notes. An onset harmonizer also has ``3 × 128`` onset
logits, and notes are decoded from them (``evaluation.harmonization.binarization.decode_notes``).
Thresholds and gap are chosen on the validation set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# One binarization for the whole project (evaluation.harmonization.binarization); re-exported
# for callers of this module.
from stripes.evaluation.harmonization.binarization import NoteRoll, binarize, decode_window
from stripes.evaluation.harmonization.rolls import chords_of
from stripes.models import StripesTransformer
from stripes.music.windows import WindowDataset, collate_windows
from stripes.tasks.harmonization.data import model_inputs

__all__ = ["Texture", "apply_texture", "binarize", "collect_windows", "harmonize_pianoroll",
           "predict_probabilities"]

BAR_STEPS = 64  # a 4/4 bar at 16 steps per quarter


@dataclass(frozen=True)
class Texture:
    """What the user may ask of an onset harmonizer's accompaniment, beyond its validated decode.

    Attributes:
        density: multiplies the odds of every onset (1: as validated; 2: twice the odds, a busier
            part; 0.5: a sparser one). Must be > 0.
        variation: 0 is the validated decode; another number seeds an emphasis per position in
            the bar (the same in every bar), so each variation is another consistent figure
            rather than scattered noise.
        strength: the standard deviation of that emphasis, in logits.
    """

    density: float = 1.0
    variation: int = 0
    strength: float = 1.0

    def __post_init__(self):
        if not self.density > 0:
            raise ValueError(f"density must be > 0, got {self.density}")
        if self.variation < 0:
            raise ValueError(f"variation must be >= 0, got {self.variation}")


def apply_texture(onset_probs: np.ndarray, texture: Texture, bar_steps: int = BAR_STEPS
                  ) -> np.ndarray:
    """Onset probabilities ``[T, P]`` moved in logit space by ``log(density)`` and, for a
    variation, by a seeded emphasis ``[bar_steps]`` repeated bar after bar."""
    if texture == Texture():
        return onset_probs
    p = np.clip(np.asarray(onset_probs, dtype=np.float64), 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p)) + np.log(texture.density)
    if texture.variation:
        emphasis = np.random.default_rng(texture.variation).normal(0, texture.strength, bar_steps)
        logit += np.resize(emphasis, len(p))[:, None]
    return 1 / (1 + np.exp(-logit))


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    inputs: torch.Tensor,
    positions: torch.Tensor | None = None,
    code: list | None = None,
) -> torch.Tensor:
    """``inputs [B, T, 256]`` (+ ``positions [B, T, L]``) -> probabilities ``[B, T, 384]``
    (frame | onset ``[B, T, 768]`` for an onset harmonizer)."""
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
    texture: Texture = Texture(),
) -> NoteRoll:
    """One window ``inputs [1, T, 256]`` -> binary arrangement (frames, onsets ``[T, 384]``): a
    PE code drawn from ``seed`` (stochastic PEs), the probabilities, then ``binarization``
    (thresholds and gap, as chosen on validation by ``evaluation.harmonization.binarization``),
    the onsets of an onset harmonizer moved by ``texture`` first (ValueError for another
    texture than the default on a frame harmonizer, which has no onsets to move)."""
    code = model.draw_pe_code(inputs.shape[1], None, torch.Generator().manual_seed(seed))
    probs = split_outputs(predict_probabilities(model, inputs, positions, code=code)[0].numpy())
    if "onset_probs" in probs:
        probs["onset_probs"] = apply_texture(probs["onset_probs"], texture)
    elif texture != Texture():
        raise ValueError("density and variation need a harmonizer with onset outputs "
                         "(output: onsets_frames); this one predicts frames only")
    return decode_window(probs, binarization)


def split_outputs(probs: np.ndarray, width: int = 384) -> dict:
    """``{"probs": frames [T, width]}``, with ``"onset_probs" [T, width]`` when ``probs`` holds
    both channels of an onset harmonizer (``[T, 2 * width]``)."""
    if probs.shape[-1] == 2 * width:
        return {"probs": probs[..., :width], "onset_probs": probs[..., width:]}
    return {"probs": probs}


def collect_windows(model: StripesTransformer, dataset: WindowDataset, batch_size: int = 8,
                    max_tokens: int = 8192) -> list[dict]:
    """Per window: ``probs``, ``targets``, ``onsets`` ``[T, 384]`` (and ``onset_probs`` for an
    onset harmonizer), ``inputs`` ``[T, 256]`` (numpy),
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
            out.append({**split_outputs(p[b, :n].numpy()),
                        "targets": batch["targets"][b, :n].numpy(),
                        "onsets": batch["onsets"][b, :n].numpy(),
                        "inputs": batch["inputs"][b, :n].numpy(), "root": root,
                        "chroma": chroma, "song": int(batch["song"][b])})
    return out
