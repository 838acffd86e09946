"""Choosing the binarization of predicted probabilities on validation, by a named criterion.

A harmonizer outputs probabilities ``[T, n*128]``; a binary pianoroll comes from a threshold and
an optional gap filling (runs of at most ``merge_gap`` off-steps inside a pitch become on, which
turns per-step flicker into held notes). :func:`choose_binarization` searches a grid of both on
validation windows and keeps the best mean of one criterion of :data:`BINARIZATION_CRITERIA`,
returned by name with the chosen values, so a report can say how its rolls were made.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from stripes.evaluation.harmonization.layout import POP909_LAYOUT, TrackLayout
from stripes.evaluation.harmonization.reference_flavour import chroma_similarity_reference
from stripes.evaluation.harmonization.rolls import select_slots

Criterion = Callable[[np.ndarray, np.ndarray], float]
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
MERGE_GAPS = (0, 2, 4, 8)


def fill_gaps(roll: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of 1..``max_gap`` off-steps that have an on-step before and after them.

    roll: binary ``[T, P]``. Returns bool ``[T, P]`` (a copy)."""
    out = np.asarray(roll).astype(bool).copy()
    if max_gap <= 0:
        return out
    for p in np.flatnonzero(out.any(axis=0)):
        on = np.flatnonzero(out[:, p])
        for start, stop in zip(on[:-1], on[1:], strict=True):
            if 1 < stop - start <= max_gap + 1:
                out[start + 1:stop, p] = True
    return out


def binarize(probs, threshold: float = 0.5, merge_gap: int = 0) -> np.ndarray:
    """``probs [T, P]`` -> bool ``[T, P]``: ``probs >= threshold``, then :func:`fill_gaps`."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    return fill_gaps(np.asarray(probs) >= threshold, merge_gap)


def frame_f1(pred, target) -> float:
    """Frame-level F1 of two binary rolls ``[T, P]`` (1 when both are silent)."""
    pred, target = np.asarray(pred) > 0.5, np.asarray(target) > 0.5
    total = float(pred.sum() + target.sum())
    return 1.0 if total == 0 else 2 * float((pred & target).sum()) / total


def negative_mse(pred, target) -> float:
    """Minus the mean squared error of two rolls ``[T, P]`` (the [S24] code picks its threshold
    by this error; negated so that higher is better, like every criterion here)."""
    diff = np.asarray(pred, dtype=float) - np.asarray(target, dtype=float)
    return -float(np.mean(diff ** 2))


def on_accompaniment(fn: Criterion, layout: TrackLayout = POP909_LAYOUT) -> Criterion:
    """``fn`` applied to the accompaniment slots of ``layout`` only."""
    def criterion(pred, target):
        return fn(select_slots(pred, layout.accompaniment),
                  select_slots(target, layout.accompaniment))
    return criterion


#: Higher is better for every criterion; ``(pred [T, n*128], target [T, n*128]) -> float``.
#: The ``_accompaniment`` ones use the POP909 layout (piano slot); build others with
#: :func:`on_accompaniment`.
BINARIZATION_CRITERIA: dict[str, Criterion] = {
    "frame_f1": frame_f1,
    "frame_f1_accompaniment": on_accompaniment(frame_f1),
    "cs": chroma_similarity_reference,
    "cs_accompaniment": on_accompaniment(chroma_similarity_reference),
    "neg_mse": negative_mse,
}


def criteria_for(layout: TrackLayout) -> dict[str, Criterion]:
    """:data:`BINARIZATION_CRITERIA` with the ``_accompaniment`` ones on ``layout``'s slots."""
    table = dict(BINARIZATION_CRITERIA)
    for name in [n for n in table if n.endswith("_accompaniment")]:
        table[name] = on_accompaniment(BINARIZATION_CRITERIA[name.removesuffix(
            "_accompaniment")], layout)
    return table


def choose_binarization(probs: Sequence, targets: Sequence, criterion: str = "frame_f1", *,
                        thresholds: Sequence[float] = THRESHOLDS,
                        merge_gaps: Sequence[int] = MERGE_GAPS,
                        criteria: dict[str, Criterion] | None = None) -> dict:
    """The ``(threshold, merge_gap)`` with the best mean ``criterion`` over validation windows.

    probs, targets: sequences of ``[T_i, n*128]``. Returns ``{"criterion": name, "threshold",
    "merge_gap", "score", "grid": [[threshold, merge_gap, score], ...]}`` (ties: the first in
    grid order, thresholds ascending, then gaps).
    """
    table = BINARIZATION_CRITERIA if criteria is None else criteria
    if criterion not in table:
        raise ValueError(f"criterion must be one of {sorted(table)}, got {criterion!r}")
    if not probs or len(probs) != len(targets):
        raise ValueError(f"need as many targets as probabilities, got {len(probs)}, "
                         f"{len(targets)}")
    fn = table[criterion]
    grid = []
    for th, gap in itertools.product(thresholds, merge_gaps):
        scores = [fn(binarize(p, th, gap), t) for p, t in zip(probs, targets, strict=True)]
        grid.append([float(th), int(gap), float(np.mean(scores))])
    best = max(grid, key=lambda row: row[2])
    return {"criterion": criterion, "threshold": best[0], "merge_gap": best[1],
            "score": best[2], "grid": grid}
