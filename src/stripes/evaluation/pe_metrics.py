"""Translation invariance and monotonicity of attention, by identical-token probing.

Wang et al. 2021 ("On position embeddings in BERT", ICLR) feed a sequence whose tokens are all
identical, so that whatever structure is left in the attention comes from the positional encoding
alone, and ask two things of it: does the attention between positions m and n depend only on the
lag ``m - n`` (translation invariance), and does it decrease as the keys get farther away
(monotonicity). [SPE] (Liutkus et al., ICML 2021, Sec. 3.2 and App. C) scores its pop-piano models
with these two properties, as *errors* (lower is better), computed per query-position range so that
positions beyond the training length can be told apart; the definitions below are those of the
[SPE] experiment code (aliutkus/spe, ``experiments/pop_piano/metrics/pe_eval.py``), re-derived here
and extended to non-causal maps. docs/math.md ("Generation") asks for them on the *unnormalised*
attention ``a_mn`` (``exp`` of the logits, or ``φ(q_m)·φ(k_n)``): row normalisation would break
translation invariance by itself, since under a causal mask row m sums over m + 1 keys.

Per head, over the entries that count (``n <= m`` if causal, all otherwise; ``|m - n| <= max_lag``
if given; query rows ``start <= m < stop`` if ``queries=(start, stop)``; non-finite entries, e.g.
masked ``-inf`` logits, never count):

* **translation-invariance error** ``TI = Σ_k N_k var_k / (N var)``: the variance *within* the
  diagonals ``k = m - n`` (pooled, each diagonal weighted by its number of entries ``N_k``) over
  the variance of all ``N`` entries, i.e. the share of the map's variance that the lag does *not*
  explain (``1 - η²`` of a one-way ANOVA grouped by diagonal). 0 for a Toeplitz map (entries depend
  only on ``m - n``), about ``1 - (#diagonals - 1) / (N - 1)``, i.e. near 1, for i.i.d. noise.
  A constant map is Toeplitz: TI = 0.
* **monotonicity error** ``MO``: over every query m and every pair of its keys on the same side of
  it (``n1, n2 <= m`` or ``n1, n2 >= m``) with ``|m - n1| < |m - n2|``, the fraction of pairs where
  the farther key gets strictly more attention, ``a_{m n2} > a_{m n1}`` (an inversion count, as in
  Kendall's τ: 0 when attention never grows with distance, 1 when it strictly grows, about 1/2 for
  noise). Ties are not violations (a constant map scores 0).

Entries closer than ``TIE_RTOL = 1e-6`` times the head's largest entry count as equal (in MO; in TI
a head whose entries spread less than that is flat, error 0): float32 scores round at ~6e-8, and
kernelized attention's ``ε`` makes the outputs of a layer fed identical tokens differ by ~1e-9
between positions, so without it the order of rounding noise on a flat map would be scored.

Normalisation: both errors are invariant to multiplying a head's map by a positive constant (TI is
a ratio of variances, MO compares entries of one row), so the different scales of APE and SPE
heads, or of softmax and kernelized attention, never decide a ranking, and every head's score lies
in ``[0, 1]`` before heads and layers are averaged. MO is invariant to any increasing transform
(the same on logits and on their ``exp``); TI is not: it is computed on the map as given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

TIE_RTOL = 1e-6  # entries closer than this times the head's largest |entry| are equal
_BLOCK = 1 << 22  # booleans per block of the pairwise comparison in monotonicity


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


def _rows(length: int, queries: tuple[int, int] | None) -> range:
    start, stop = (0, length) if queries is None else queries
    if not 0 <= start < stop:
        raise ValueError(f"queries: expected 0 <= start < stop, got {queries}")
    return range(start, min(stop, length))


def _entries(length: int, causal: bool, max_lag: int | None,
             queries: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``[T, T]`` of the entries that count, and the lags ``m - n`` ``[T, T]``."""
    m, n = np.indices((length, length))
    lag = m - n
    keep = lag >= 0 if causal else np.ones_like(lag, dtype=bool)
    if max_lag is not None:
        keep &= np.abs(lag) <= max_lag
    rows = _rows(length, queries)
    keep &= (m >= rows.start) & (m < rows.stop)
    return keep, lag


def _scale(head: np.ndarray) -> float:
    finite = np.abs(head[np.isfinite(head)])
    return float(finite.max()) if finite.size else 0.0


def _within_and_total(values: np.ndarray, lags: np.ndarray, tol: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per diagonal: lags ``[K]``, ``N_k`` ``[K]``, ``N_k var_k`` ``[K]``; and ``N var`` (0 when
    the entries agree to within ``tol``)."""
    groups, inverse = np.unique(lags, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(groups))
    means = np.bincount(inverse, weights=values, minlength=len(groups)) / counts
    within = np.bincount(inverse, weights=(values - means[inverse]) ** 2, minlength=len(groups))
    total = float(np.sum((values - values.mean()) ** 2))
    return groups, counts, within, (0.0 if total <= values.size * tol**2 else total)


def _per_head(attention, score: Callable[[np.ndarray, np.ndarray, float], float], causal: bool,
              max_lag: int | None, queries: tuple[int, int] | None) -> np.ndarray:
    maps = _as_heads(attention)
    keep, lag = _entries(maps.shape[-1], causal, max_lag, queries)
    scores = []
    for head in maps:
        ok = keep & np.isfinite(head)
        scores.append(score(head[ok], lag[ok], TIE_RTOL * _scale(head)) if ok.any()
                      else float("nan"))
    return np.asarray(scores)


def _ti_error(values: np.ndarray, lags: np.ndarray, tol: float) -> float:
    _, _, within, total = _within_and_total(values, lags, tol)
    return float(within.sum() / total) if total > 0 else 0.0


def translation_invariance(attention: np.ndarray | Tensor, causal: bool = False,
                           max_lag: int | None = None,
                           queries: tuple[int, int] | None = None) -> np.ndarray:
    """Per-head translation-invariance error (module docstring; lower is better).

    Args:
        attention: unnormalised attention ``[T, T]`` or ``[H, T, T]`` (query m, key n).
        causal: only ``n <= m`` counts.
        max_lag: only ``|m - n| <= max_lag`` counts.
        queries: ``(start, stop)``: only query rows ``start <= m < stop`` count.

    Returns:
        ``[H]`` errors in ``[0, 1]``: 0 = entries depend only on ``m - n``; NaN if nothing counts.
    """
    return _per_head(attention, _ti_error, causal, max_lag, queries)


def translation_invariance_by_lag(attention: np.ndarray | Tensor, causal: bool = False,
                                  max_lag: int | None = None,
                                  queries: tuple[int, int] | None = None
                                  ) -> tuple[np.ndarray, np.ndarray]:
    """How much each diagonal varies along the sequence: ``var_k / var`` per lag k.

    The ``N_k``-weighted mean over lags of the returned ratios is :func:`translation_invariance`;
    plotted against k it shows *which* lags depend on the absolute position (0 everywhere for a
    Toeplitz map). Arguments as :func:`translation_invariance`.

    Returns:
        ``(lags [K], ratios [H, K])`` over the lags that count in any head (NaN where a head
        has no entry at a lag; 0 for a flat head).
    """
    maps = _as_heads(attention)
    keep, lag = _entries(maps.shape[-1], causal, max_lag, queries)
    lags = np.unique(lag[keep])
    out = np.full((len(maps), len(lags)), np.nan)
    for h, head in enumerate(maps):
        ok = keep & np.isfinite(head)
        if not ok.any():
            continue
        groups, counts, within, total = _within_and_total(head[ok], lag[ok],
                                                          TIE_RTOL * _scale(head))
        ratio = (within / counts) / (total / ok.sum()) if total > 0 else np.zeros(len(groups))
        out[h, np.searchsorted(lags, groups)] = ratio
    return lags, out


def _distance_sides(head: np.ndarray, causal: bool, max_lag: int | None):
    """Each row's entries ordered by distance: ``(values [T, K+1], valid [T, K+1])`` per side,
    entry ``[m, d]`` being key ``m - d`` (left side) or ``m + d`` (right side)."""
    t = head.shape[-1]
    reach = t - 1 if max_lag is None else min(max_lag, t - 1)
    m, d = np.indices((t, reach + 1))
    sides = []
    for sign in ((-1,) if causal else (-1, 1)):
        n = m + sign * d
        inside = (n >= 0) & (n < t)
        values = np.where(inside, head[m, np.clip(n, 0, t - 1)], np.nan)
        sides.append((values, inside & np.isfinite(values)))
    return sides


def _violations_per_row(head: np.ndarray, causal: bool, max_lag: int | None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Per query row: violated pairs ``[T]`` and pairs ``[T]`` (module docstring, MO)."""
    tol = TIE_RTOL * _scale(head)
    t = head.shape[-1]
    bad, pairs = np.zeros(t), np.zeros(t)
    for values, valid in _distance_sides(head, causal, max_lag):
        width = values.shape[1]
        nearer = np.triu(np.ones((width, width), dtype=bool), 1)  # [d1, d2]: d1 < d2
        step = max(1, _BLOCK // (width * width))
        for lo in range(0, t, step):
            v, ok = values[lo:lo + step], valid[lo:lo + step]
            both = ok[:, :, None] & ok[:, None, :] & nearer
            grows = v[:, None, :] > v[:, :, None] + tol  # farther d2 above nearer d1
            bad[lo:lo + step] += np.sum(grows & both, axis=(1, 2))
            pairs[lo:lo + step] += np.sum(both, axis=(1, 2))
    return bad, pairs


def _row_windows(length: int, window: int | None, queries: tuple[int, int] | None):
    rows = _rows(length, queries)
    if window is None:
        return [(rows.start, rows.stop)]
    if window < 1:
        raise ValueError(f"window: expected >= 1, got {window}")
    return [(s, min(s + window, rows.stop)) for s in range(rows.start, rows.stop, window)]


def _monotonicity(maps: np.ndarray, causal: bool, max_lag: int | None,
                  windows: list[tuple[int, int]]) -> np.ndarray:
    """``[H, W]`` MO of each head over each window of query rows."""
    out = np.full((len(maps), len(windows)), np.nan)
    for h, head in enumerate(maps):
        bad, pairs = _violations_per_row(head, causal, max_lag)
        for w, (lo, hi) in enumerate(windows):
            if pairs[lo:hi].sum() > 0:
                out[h, w] = bad[lo:hi].sum() / pairs[lo:hi].sum()
    return out


def monotonicity(attention: np.ndarray | Tensor, causal: bool = False,
                 max_lag: int | None = None,
                 queries: tuple[int, int] | None = None) -> np.ndarray:
    """Per-head monotonicity error: the share of key pairs where the farther key gets more
    attention (module docstring; lower is better).

    Args:
        attention: unnormalised attention ``[T, T]`` or ``[H, T, T]``.
        causal: only keys ``n <= m`` count.
        max_lag: only keys with ``|m - n| <= max_lag`` count (local monotonicity).
        queries: ``(start, stop)``: only query rows ``start <= m < stop`` count.

    Returns:
        ``[H]`` errors in ``[0, 1]``: 0 = attention never grows with distance; NaN if no pairs.
    """
    maps = _as_heads(attention)
    return _monotonicity(maps, causal, max_lag, _row_windows(maps.shape[-1], None, queries))[:, 0]


def pe_metrics(attention: np.ndarray | Tensor, causal: bool = False, max_lag: int | None = None,
               queries: tuple[int, int] | None = None) -> dict[str, float]:
    """Both errors averaged over heads (NaN heads are left out of the mean; all NaN gives NaN).

    Args:
        attention: unnormalised attention ``[T, T]`` or ``[H, T, T]``, e.g. from
            :func:`probe_attention_map`. Other arguments as :func:`translation_invariance`.

    Returns:
        ``{"translation_invariance": TI, "monotonicity": MO}``, both lower-is-better errors.
    """
    ti = translation_invariance(attention, causal, max_lag, queries)
    mo = monotonicity(attention, causal, max_lag, queries)
    return {"translation_invariance": _nanmean(ti), "monotonicity": _nanmean(mo)}


def pe_metrics_by_position(attention: np.ndarray | Tensor, window: int, causal: bool = False,
                           max_lag: int | None = None) -> dict[str, np.ndarray]:
    """Both errors over consecutive windows of query positions, as [SPE] resolves them by
    position (e.g. within and beyond the training length).

    Window ``w`` holds the query rows ``start[w] <= m < stop[w]`` with all their keys that count
    (``n <= m`` if causal); a window's TI compares the entries of one diagonal within the window.

    Args:
        attention: unnormalised attention ``[T, T]`` or ``[H, T, T]``.
        window: query rows per window (the last one may be shorter).

    Returns:
        ``{"start" [W], "stop" [W], "translation_invariance" [H, W], "monotonicity" [H, W]}``.
    """
    maps = _as_heads(attention)
    windows = _row_windows(maps.shape[-1], window, None)
    ti = np.stack([translation_invariance(maps, causal, max_lag, w) for w in windows], axis=1)
    return {"start": np.array([lo for lo, _ in windows]),
            "stop": np.array([hi for _, hi in windows]),
            "translation_invariance": ti,
            "monotonicity": _monotonicity(maps, causal, max_lag, windows)}


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
