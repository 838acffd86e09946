"""Harmonization scores in a named flavour, for all slots, the accompaniment and each slot.

Two flavours of the four metrics (docs/math.md §6, ``docs/metrics.md``):

- ``"reference"``: what the [S24] code computes (:mod:`.reference_flavour`);
- ``"paper"``: our reading of the [ST]/[FS] text (:mod:`.paper_flavour`:
  CS with silent pairs agreeing, SSMD halved, GS as per-quarter onset patterns, NDD as the
  percentage of missing pitches).

Every result records its flavour. Scores come in three groups: ``"all"`` (every slot, what the
papers report), ``"accompaniment"`` (the slots the model must invent, see
:class:`~.layout.TrackLayout`) and ``"tracks"`` (each slot alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from stripes.evaluation.harmonization import paper_flavour as paper
from stripes.evaluation.harmonization import reference_flavour as ref
from stripes.evaluation.harmonization.layout import POP909_LAYOUT, TrackLayout
from stripes.evaluation.harmonization.rolls import PITCHES, check_pair, select_slots

Metric = Callable[[np.ndarray, np.ndarray], float]

#: The four metrics of [ST] and [FS], in the papers' column order.
METRICS = ("CS", "SSMD", "GS", "NDD")
#: Direction of each metric, in both flavours (True: higher is better).
HIGHER_IS_BETTER = {"CS": True, "SSMD": False, "GS": True, "NDD": False}

#: ``{flavour: {metric: fn(pred [T, n*128], target [T, n*128]) -> float}}``.
FLAVOURS: dict[str, dict[str, Metric]] = {
    "reference": {
        "CS": ref.chroma_similarity_reference,
        "SSMD": ref.ssm_distance_reference,
        "GS": ref.grooving_similarity_reference,
        "NDD": ref.note_density_reference,
    },
    "paper": {
        "CS": paper.chroma_similarity,
        "SSMD": paper.ssm_distance,
        "GS": paper.grooving_similarity,
        "NDD": paper.note_density_distance,
    },
}
#: Unit and range of each metric per flavour (for table headers and docs).
UNITS = {
    "reference": {"CS": "% [0, 100]", "SSMD": "% [0, 100]", "GS": "count [0, S/20]",
                  "NDD": "cells per 16th [0, inf)"},
    "paper": {"CS": "% [0, 100]", "SSMD": "% [0, 50]", "GS": "% [0, 100]", "NDD": "% [0, 100]"},
}
GROUPS = ("all", "accompaniment", "tracks")


def check_flavour(flavour: str) -> dict[str, Metric]:
    """The metrics of ``flavour``; ``ValueError`` naming the known flavours otherwise."""
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {sorted(FLAVOURS)}, got {flavour!r}")
    return FLAVOURS[flavour]


def score_pair(pred, target, flavour: str = "reference") -> dict[str, float]:
    """``{"CS", "SSMD", "GS", "NDD"}`` of one pair ``[T, n*128]`` in ``flavour``."""
    return {name: fn(pred, target) for name, fn in check_flavour(flavour).items()}


def evaluate_window(pred, target, *, flavour: str = "reference",
                    layout: TrackLayout = POP909_LAYOUT, per_track: bool = True) -> dict:
    """Scores of one window, all slots, the accompaniment and (``per_track``) each slot.

    pred, target: ``[T, n*128]`` with ``n = layout.n_slots``. Returns ``{"flavour": str,
    "all": {metric: float}, "accompaniment": {...}, "tracks": {slot name: {...}}}``.
    """
    pred, target = np.asarray(pred), np.asarray(target)
    check_pair(pred, target)
    if pred.shape[1] != layout.n_slots * PITCHES:
        raise ValueError(f"layout has {layout.n_slots} slots, the rolls {pred.shape[1]} columns")
    acc = layout.accompaniment
    out = {"flavour": flavour, "all": score_pair(pred, target, flavour),
           "accompaniment": score_pair(select_slots(pred, acc), select_slots(target, acc),
                                       flavour)}
    if per_track:
        out["tracks"] = {name: score_pair(select_slots(pred, (k,)), select_slots(target, (k,)),
                                          flavour) for k, name in enumerate(layout.names)}
    return out


def aggregate(scores: Sequence[dict[str, float]], *, ddof: int = 1) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each metric over windows (or songs, or seeds).

    scores: one dict per window, as returned by :func:`score_pair`; every dict must hold the same
    keys. Returns ``{metric: {"mean", "std", "n"}}`` (plus ``"flavour"`` when the dicts carry
    one; they must agree); ``std`` uses ``ddof`` (1: sample standard deviation) and is 0 when
    there are not more than ``ddof`` scores.
    """
    if not scores:
        raise ValueError("aggregate needs at least one score dict")
    out: dict = {}
    flavours = {s.get("flavour") for s in scores}
    if len(flavours) > 1:
        raise ValueError(f"cannot aggregate scores of several flavours: {flavours}")
    if flavours != {None}:
        out["flavour"] = flavours.pop()
        scores = [{k: v for k, v in s.items() if k != "flavour"} for s in scores]
    keys = list(scores[0])
    if any(set(s) != set(keys) for s in scores):
        raise ValueError("every score dict must hold the same metrics")
    for key in keys:
        values = np.array([s[key] for s in scores], dtype=float)
        std = float(values.std(ddof=ddof)) if len(values) > ddof else 0.0
        out[key] = {"mean": float(values.mean()), "std": std, "n": len(values)}
    return out


def summarize_windows(windows: Sequence[dict]) -> dict:
    """Mean ± std over windows of :func:`evaluate_window` results (one flavour).

    Returns ``{"flavour", "n", "all": {metric: {"mean", "std", "n"}}, "accompaniment": ...,
    "tracks": {name: ...}}``.
    """
    if not windows:
        raise ValueError("summarize_windows needs at least one window")
    flavours = {w["flavour"] for w in windows}
    if len(flavours) != 1:
        raise ValueError(f"cannot summarize windows of several flavours: {sorted(flavours)}")
    out = {"flavour": flavours.pop(), "n": len(windows),
           "all": aggregate([w["all"] for w in windows]),
           "accompaniment": aggregate([w["accompaniment"] for w in windows])}
    if "tracks" in windows[0]:
        out["tracks"] = {name: aggregate([w["tracks"][name] for w in windows])
                         for name in windows[0]["tracks"]}
    return out


def evaluate_windows(preds: Sequence, targets: Sequence, *, flavour: str = "reference",
                     layout: TrackLayout = POP909_LAYOUT, per_track: bool = True) -> dict:
    """Score many windows: ``{"flavour", "per_window": [evaluate_window ...], "summary":
    summarize_windows(...)}``. preds, targets: sequences of ``[T_i, n*128]`` (lengths may
    differ)."""
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} targets")
    rows = [evaluate_window(p, t, flavour=flavour, layout=layout, per_track=per_track)
            for p, t in zip(preds, targets, strict=True)]
    return {"flavour": flavour, "per_window": rows, "summary": summarize_windows(rows)}
