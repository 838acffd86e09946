"""Translation invariance and monotonicity of attention, by identical-token probing.

Wang et al. 2021 ("On position embeddings in BERT", ICLR) feed a sequence whose tokens are all
identical, so that any structure left in the attention comes from the positional encoding alone, and
measure two properties of it; [SPE] App. D.3 (Table 7) reports them for SPE; docs/math.md §6 asks
for them on the *unnormalised* attention ``a_mn`` (``exp`` of the logits, or ``φ(q_m)·φ(k_n)``): row
normalisation would break translation invariance by itself, since under a causal mask row m sums
over m + 1 keys.

Definitions used here (per head, over the entries that count: ``n <= m`` if causal, all entries
otherwise; non-finite entries, e.g. masked ``-inf`` logits, never count):

* **translation invariance** ``TI = 1 - Σ_k Σ_{m-n=k} (a_mn - ā_k)² / Σ_mn (a_mn - ā)²`` where
  ``ā_k`` is the mean of diagonal ``k = m - n`` and ``ā`` the mean of all entries: the fraction of
  the map's variance explained by the offset alone (the η² of a one-way ANOVA grouped by
  diagonal). 1 for a Toeplitz map (entries depend only on ``m - n``); about
  ``(#diagonals - 1) / (#entries - 1)`` for i.i.d. noise, i.e. near 0 for large T. A constant map
  is Toeplitz: TI = 1.
* **monotonicity** ``MO = -ρ_S(a_mn, |m - n|)``, minus Spearman's rank correlation between the
  entries and their distance (average ranks for ties). 1 when attention strictly decreases with
  distance, -1 when it strictly increases, about 0 for noise; NaN for a constant map (no ranks).
  ``max_lag`` restricts both metrics to ``|m - n| <= max_lag`` (local monotonicity).

Both are invariant to multiplying the map by a positive constant; MO is invariant to any
increasing transform (the same on logits and on ``exp`` of them), TI is not (it is computed on
the map as given).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import rankdata
from torch import Tensor


def _as_heads(attention: np.ndarray | Tensor) -> np.ndarray:
    """``[T, T]`` or ``[H, T, T]`` (numpy or torch) -> float64 ``[H, T, T]``."""
    if isinstance(attention, Tensor):
        attention = attention.detach().cpu().double().numpy()
    maps = np.asarray(attention, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"expected an attention map [T, T] or [H, T, T], got {maps.shape}")
    return maps


def _entries(length: int, causal: bool, max_lag: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``[T, T]`` of the entries that count, and the offsets ``m - n`` ``[T, T]``."""
    m, n = np.indices((length, length))
    offset = m - n
    keep = offset >= 0 if causal else np.ones_like(offset, dtype=bool)
    if max_lag is not None:
        keep &= np.abs(offset) <= max_lag
    return keep, offset


def _translation_invariance(values: np.ndarray, offsets: np.ndarray) -> float:
    """η² of ``values [N]`` grouped by ``offsets [N]``."""
    total = np.sum((values - values.mean()) ** 2)
    if total <= 1e-12 * max(1.0, float(np.sum(values**2))):
        return 1.0
    groups, inverse = np.unique(offsets, return_inverse=True)
    sums = np.bincount(inverse, weights=values, minlength=len(groups))
    counts = np.bincount(inverse, minlength=len(groups))
    within = np.sum((values - (sums / counts)[inverse]) ** 2)
    return float(1.0 - within / total)


def _monotonicity(values: np.ndarray, distances: np.ndarray) -> float:
    """Minus Spearman's ρ between ``values [N]`` and ``distances [N]`` (NaN if either is flat)."""
    rv, rd = rankdata(values), rankdata(distances)
    rv, rd = rv - rv.mean(), rd - rd.mean()
    denom = np.sqrt(np.sum(rv**2) * np.sum(rd**2))
    return float(-np.sum(rv * rd) / denom) if denom > 0 else float("nan")


def _per_head(
    attention, metric: Callable, causal: bool, max_lag: int | None, absolute: bool
) -> np.ndarray:
    maps = _as_heads(attention)
    keep, offset = _entries(maps.shape[-1], causal, max_lag)
    scores = []
    for head in maps:
        ok = keep & np.isfinite(head)
        lag = np.abs(offset[ok]) if absolute else offset[ok]
        scores.append(metric(head[ok], lag) if ok.any() else float("nan"))
    return np.asarray(scores)


def translation_invariance(
    attention: np.ndarray | Tensor, causal: bool = False, max_lag: int | None = None
) -> np.ndarray:
    """Per-head translation invariance (η² of the map grouped by ``m - n``, see module docstring).

    Args:
        attention: unnormalised attention ``[T, T]`` or ``[H, T, T]`` (query m, key n).
        causal: only ``n <= m`` counts.
        max_lag: only ``|m - n| <= max_lag`` counts.

    Returns:
        ``[H]`` scores in ``[0, 1]``, 1 = entries depend only on ``m - n``.
    """
    return _per_head(attention, _translation_invariance, causal, max_lag, absolute=False)


def monotonicity(
    attention: np.ndarray | Tensor, causal: bool = False, max_lag: int | None = None
) -> np.ndarray:
    """Per-head monotonicity ``-ρ_Spearman(a_mn, |m - n|)`` (see module docstring).

    Args:
        attention: unnormalised attention ``[T, T]`` or ``[H, T, T]``.
        causal: only ``n <= m`` counts.
        max_lag: only ``|m - n| <= max_lag`` counts.

    Returns:
        ``[H]`` scores in ``[-1, 1]``, 1 = strictly decreasing with distance; NaN for a flat head.
    """
    return _per_head(attention, _monotonicity, causal, max_lag, absolute=True)


def pe_metrics(
    attention: np.ndarray | Tensor, causal: bool = False, max_lag: int | None = None
) -> dict[str, float]:
    """Both metrics averaged over heads (NaN heads are left out of the mean; all NaN gives NaN).

    Args:
        attention: unnormalised attention ``[T, T]`` or ``[H, T, T]``, e.g. from
            :func:`probe_attention_map`.

    Returns:
        ``{"translation_invariance": TI, "monotonicity": MO}``.
    """
    ti = translation_invariance(attention, causal, max_lag)
    mo = monotonicity(attention, causal, max_lag)
    return {"translation_invariance": _nanmean(ti), "monotonicity": _nanmean(mo)}


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def probe_attention_map(
    score_fn: Callable[[Tensor], Tensor],
    length: int,
    token: int = 0,
    returns_logits: bool = True,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Identical-token probe: the unnormalised attention of a sequence of one repeated token.

    Args:
        score_fn: maps token ids ``[1, T]`` (int64) to attention scores ``[H, T, T]`` or
            ``[1, H, T, T]`` for one layer: logits ``q_m·k_n/√D`` (masked ones may be ``-inf``)
            if ``returns_logits``, else non-negative scores ``a_mn`` (e.g. ``φ(q_m)·φ(k_n)``).
            It is called once, under ``torch.no_grad()``.
        length: T.
        token: the repeated token id.
        returns_logits: exponentiate the scores. Each head's largest finite logit is subtracted
            first, which scales that head's map by a constant and so changes neither metric.
        device: where the ids are built (that of the model behind ``score_fn``).

    Returns:
        ``[H, T, T]`` float64 unnormalised attention (0 where a logit was ``-inf``).
    """
    ids = torch.full((1, length), token, dtype=torch.long, device=device)
    with torch.no_grad():
        scores = score_fn(ids)
    if scores.ndim == 4:
        if scores.shape[0] != 1:
            raise ValueError(f"expected one sequence of scores, got {tuple(scores.shape)}")
        scores = scores[0]
    if scores.ndim != 3 or scores.shape[-2:] != (length, length):
        raise ValueError(f"score_fn must return [H, {length}, {length}], got {tuple(scores.shape)}")
    maps = scores.detach().cpu().double()
    if returns_logits:
        finite = torch.where(torch.isfinite(maps), maps, torch.full_like(maps, -torch.inf))
        top = finite.amax(dim=(-2, -1), keepdim=True).clamp_min(-1e300)
        maps = torch.exp(maps - top)
    return maps.numpy()
