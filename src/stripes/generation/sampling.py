"""Sampling the next token from logits: temperature, top-k, nucleus (top-p), grammar masks.

Every function is pure and works on logits ``[..., V]`` (any leading batch shape, V the
vocabulary). Filters never renormalise: they set discarded tokens to ``-inf`` so that a softmax
afterwards gives the filtered distribution. Randomness comes only from an explicit
``torch.Generator``, so a seeded generator reproduces a draw exactly (docs/math.md §6; [SPE] 3.3:
continuations are sampled from the model).

The order inside :func:`sample` is the usual one: grammar mask, temperature, top-k, top-p, draw.
"""

from __future__ import annotations

import torch
from torch import Tensor

_NEG_INF = float("-inf")


def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    """Divide logits by a temperature: ``p ∝ exp(l / τ)``.

    Args:
        logits: ``[..., V]``.
        temperature: ``τ > 0``; ``τ < 1`` sharpens, ``τ > 1`` flattens. ``τ = 0`` (greedy) has no
            logits form; :func:`sample` handles it as an argmax.

    Returns:
        ``[..., V]``, ``logits / τ`` (``-inf`` entries stay ``-inf``).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature} (sample() takes 0: argmax)")
    return logits / temperature


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep exactly the ``k`` largest logits of each row, set the others to ``-inf``.

    Ties at the k-th value are broken by ``torch.topk`` (lowest index first in practice), so the
    kept set always has exactly ``min(k, V)`` members.

    Args:
        logits: ``[..., V]``.
        k: number of tokens to keep, ``k >= 1``; ``k >= V`` keeps everything.

    Returns:
        ``[..., V]``.
    """
    if k < 1:
        raise ValueError(f"top-k needs k >= 1, got {k}")
    if k >= logits.shape[-1]:
        return logits
    keep = torch.zeros_like(logits, dtype=torch.bool)
    keep.scatter_(-1, logits.topk(k, dim=-1).indices, True)
    return logits.masked_fill(~keep, _NEG_INF)


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filter: keep the smallest set of most probable tokens whose mass reaches ``p``.

    Tokens are sorted by decreasing probability ``π = softmax(logits)``; token number ``i`` in that
    order is kept iff the mass of the tokens before it is ``< p``. The most probable token is
    therefore always kept, and the kept mass is ``>= p`` (Holtzman et al. 2020).

    Args:
        logits: ``[..., V]``.
        p: nucleus mass in ``(0, 1]``; ``p = 1`` keeps everything.

    Returns:
        ``[..., V]``.
    """
    if not 0 < p <= 1:
        raise ValueError(f"top-p needs 0 < p <= 1, got {p}")
    if p == 1:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    keep_sorted = mass_before < p
    keep_sorted[..., 0] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, _NEG_INF)


def mask_forbidden(logits: Tensor, allowed_mask: Tensor) -> Tensor:
    """Grammar-constrained logits: forbidden tokens get ``-inf``.

    Args:
        logits: ``[..., V]``.
        allowed_mask: boolean ``[..., V]`` (broadcastable), ``True`` where a token may be emitted.

    Returns:
        ``[..., V]``.

    Raises:
        ValueError: if some row allows no token at all (or only tokens whose logit is ``-inf``),
            naming the first such row, since nothing could be sampled there.
    """
    if allowed_mask.dtype != torch.bool:
        raise TypeError(f"allowed_mask must be boolean, got {allowed_mask.dtype}")
    masked = logits.masked_fill(~allowed_mask, _NEG_INF)
    dead = ~torch.isfinite(masked).any(dim=-1)
    if dead.any():
        row = tuple(int(i) for i in dead.nonzero()[0])
        raise ValueError(
            f"constrained sampling: no allowed token with finite logit at batch index {row} "
            f"({int(dead.sum())} row(s) in all); the grammar state admits no continuation"
        )
    return masked


def sample(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    allowed_mask: Tensor | None = None,
) -> Tensor:
    """Draw one token per row from filtered logits.

    Steps: forbidden tokens to ``-inf`` (:func:`mask_forbidden`), temperature, top-k, top-p,
    softmax, one categorical draw with ``generator``. ``temperature == 0`` means greedy: the
    argmax of the (masked) logits, no randomness; top-k/top-p cannot change an argmax.

    Args:
        logits: ``[..., V]``, finite or ``-inf`` (NaN is refused).
        temperature: ``>= 0``.
        top_k: keep the k best tokens; ``None`` or ``0`` disables the filter.
        top_p: nucleus mass; ``None`` or ``1.0`` disables the filter.
        generator: the source of randomness (on the logits' device); ``None`` uses torch's global
            generator, which makes the draw irreproducible unless seeded globally.
        allowed_mask: optional boolean ``[..., V]``, ``True`` for tokens the grammar allows.

    Returns:
        Token ids ``[...]`` (int64), the logits' shape without V.
    """
    if torch.isnan(logits).any():
        raise ValueError("logits contain NaN")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if allowed_mask is not None:
        logits = mask_forbidden(logits, allowed_mask)
    elif not torch.isfinite(logits).any(dim=-1).all():
        raise ValueError("some row of logits is entirely -inf: nothing to sample")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = apply_temperature(logits.float(), temperature)
    if top_k:
        logits = top_k_filter(logits, top_k)
    if top_p is not None and top_p < 1:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    ids = torch.multinomial(flat, 1, generator=generator)
    return ids.reshape(probs.shape[:-1])
