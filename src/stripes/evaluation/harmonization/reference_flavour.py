"""The ``reference`` flavour of the harmonization metrics: what the [S24] code computes
(docs/math.md §6).

Re-derived from the arithmetic of agarwalmanvi/structurePE ``exp/pop909/metrics.py`` (read, not
copied) at our grid of 16 steps per quarter note. Inputs are pianorolls ``[T, n * 128]`` (``n``
stacked slots of 128 pitches; the code's 3-track case is ``n = 3``, its single-track
"accompaniment_generation" case is ``n = 1``); a cell is on when > 0.5.

- onset: on now and off one step before (step 0 has an implicit off before it); per slot.
- CS: onset counts per (slot, pitch class) summed over a unit of 32 steps (half a 4/4 bar),
  ``n * 12``-dim vectors (slots kept apart); cosine with eps 1e-6 on each norm (a silent unit
  scores 0, even against a silent target); mean over units, ×100. Range [0, 100].
- SSMD: *activity* (on cells, not onsets) counts per pitch class, slots summed, per unit of
  2 steps; cosine self-similarity matrices (eps 1e-8; a silent unit has similarity 0 with every
  unit, itself included); mean |SSM_pred − SSM_tgt| ×100 (not halved). Range [0, 100].
- GS: onset counts per sixteenth (4 steps), summed over slots and pitches; each sequence
  L2-normalised (eps 1e-12) over the window; both histogrammed into 20 bins over their common
  range (``numpy.histogram`` rules, so an all-zero pair spans [-0.5, 0.5]); score = mean over the
  bins of the smaller count. A count, not a percentage: at most ``S / 20`` for ``S`` sixteenths
  (12.8 for a 16-bar window), reached when both histograms agree.
- NDD (the code's ND): on cells per sixteenth (summed over its 4 steps, slots and pitches);
  mean absolute difference. A count (cell-steps per sixteenth), unbounded.

The code needs T divisible by each unit; here a trailing partial unit is zero-padded and counted
(identical results whenever T is a multiple of 32, e.g. every window of whole bars).
"""

from __future__ import annotations

import numpy as np

from stripes.evaluation.harmonization.rolls import (
    HALF_BAR,
    PITCHES,
    SIXTEENTH,
    check_pair,
    pool_steps,
    slot_cells,
    slot_onsets,
)

SSM_UNIT = 2
GS_BINS = 20
CS_EPS = 1e-6
SSM_EPS = 1e-8
NORMALIZE_EPS = 1e-12


def fold_octaves(x: np.ndarray) -> np.ndarray:
    """Sum pitches of one pitch class: ``[..., 128]`` -> ``[..., 12]`` (class = pitch mod 12)."""
    padded = np.concatenate([x, np.zeros((*x.shape[:-1], (-PITCHES) % 12), x.dtype)], axis=-1)
    return padded.reshape(*x.shape[:-1], -1, 12).sum(axis=-2)


def cosine_eps(a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """Row-wise cosine ``[N]`` of ``a, b [N, F]``, each norm clamped below by ``eps`` (torch)."""
    na = np.maximum(np.linalg.norm(a, axis=-1), eps)
    nb = np.maximum(np.linalg.norm(b, axis=-1), eps)
    return (a * b).sum(axis=-1) / (na * nb)


def chroma_onset_vectors(roll) -> np.ndarray:
    """CS features: roll ``[T, n*128]`` -> ``[U, n*12]`` onset counts per half bar and slot."""
    per_unit = pool_steps(fold_octaves(slot_onsets(roll)), HALF_BAR)
    return per_unit.reshape(len(per_unit), -1).astype(float)


def chroma_similarity_reference(pred, target) -> float:
    """CS ↑ ([S24] code): mean eps-cosine of half-bar ``n*12``-dim chroma onsets ×100.

    pred, target: ``[T, n*128]``. Returns [0, 100]."""
    check_pair(pred, target)
    return float(cosine_eps(chroma_onset_vectors(pred), chroma_onset_vectors(target),
                            CS_EPS).mean() * 100)


def chroma_activity(roll) -> np.ndarray:
    """SSM features: roll ``[T, n*128]`` -> ``[V, 12]`` on-cell counts per 2 steps, slots
    summed."""
    on = slot_cells(roll).sum(axis=1)
    return pool_steps(fold_octaves(on), SSM_UNIT).astype(float)


def unit_rows(x: np.ndarray, eps: float = SSM_EPS) -> np.ndarray:
    """Rows of ``x [V, F]`` divided by their norms clamped below by ``eps``: ``[V, F]``."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


def self_similarity(x: np.ndarray, eps: float = SSM_EPS) -> np.ndarray:
    """Cosine self-similarity ``[V, V]`` of rows ``x [V, F]`` (norms clamped by ``eps``)."""
    unit = unit_rows(x, eps)
    return unit @ unit.T


def ssm_distance_reference(pred, target, *, block: int = 1024) -> float:
    """SSMD ↓ ([S24] code): mean |SSM_pred − SSM_tgt| ×100 of 2-step chroma activity.

    Computed in blocks of ``block`` rows, so whole songs fit in memory.
    pred, target: ``[T, n*128]``. Returns [0, 100]."""
    check_pair(pred, target)
    up, ut = unit_rows(chroma_activity(pred)), unit_rows(chroma_activity(target))
    total = 0.0
    for lo in range(0, len(up), block):
        total += np.abs(up[lo:lo + block] @ up.T - ut[lo:lo + block] @ ut.T).sum()
    return float(total / len(up) ** 2 * 100)


def onsets_per_sixteenth(roll) -> np.ndarray:
    """GS features: roll ``[T, n*128]`` -> int ``[S]`` onsets per 4 steps, slots and pitches
    summed."""
    return pool_steps(slot_onsets(roll).sum(axis=(1, 2)), SIXTEENTH)


def grooving_similarity_reference(pred, target, *, bins: int = GS_BINS) -> float:
    """GS ↑ ([S24] code): mean over ``bins`` of the overlap of the histograms of the
    L2-normalised per-sixteenth onset counts. pred, target: ``[T, n*128]``. Returns [0, S/bins].
    """
    check_pair(pred, target)
    vp, vt = (v / max(np.linalg.norm(v), NORMALIZE_EPS)
              for v in (onsets_per_sixteenth(pred).astype(float),
                        onsets_per_sixteenth(target).astype(float)))
    span = (min(vp.min(), vt.min()), max(vp.max(), vt.max()))
    hp, _ = np.histogram(vp, bins=bins, range=span)
    ht, _ = np.histogram(vt, bins=bins, range=span)
    return float(np.minimum(hp, ht).mean())


def note_density_reference(pred, target) -> float:
    """NDD ↓ ([S24] code's ND): mean |density_pred − density_tgt| over sixteenths, density =
    on cells in the 4 steps (all slots and pitches). pred, target: ``[T, n*128]``. Returns
    [0, ∞)."""
    check_pair(pred, target)
    dp, dt = (pool_steps(slot_cells(r).sum(axis=(1, 2)), SIXTEENTH) for r in (pred, target))
    return float(np.abs(dp - dt).mean())
