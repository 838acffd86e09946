"""Slow, obviously-correct attention: the oracles every fast path is tested against.

Layout everywhere: ``[B, T, H, D]`` (batch, time, heads, features). Nothing here is meant to be
fast; each function is the literal formula of docs/math.md §1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def softmax_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    bias: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """Exact softmax attention ``y_m = Σ_n a_mn v_n / Σ_n a_mn``, ``a_mn = exp(q_m·k_n/√D + b_mn)``.

    Args:
        q: queries ``[B, T, H, D]``.
        k: keys ``[B, S, H, D]``.
        v: values ``[B, S, H, E]``.
        causal: keep only ``n <= m`` (requires ``T == S`` or queries aligned to the last keys).
        bias: additive logit term ``[B or 1, H, T, S]`` (the hook of the quadratic PE baselines).
        key_padding_mask: ``[B, S]`` boolean, ``True`` where the key is padding (ignored).
        scale: logit scale, ``1/√D`` by default.

    Returns:
        ``[B, T, H, E]``. A query that sees no key at all gets zeros.
    """
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    logits = torch.einsum("bthd,bshd->bhts", q, k) * scale
    if bias is not None:
        logits = logits + bias
    mask = _visible(q.shape[1], k.shape[1], causal, key_padding_mask, q.device)
    logits = logits.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # all-masked rows -> 0, not NaN
    return torch.einsum("bhts,bshe->bthe", weights, v)


def _visible(
    t: int, s: int, causal: bool, key_padding_mask: Tensor | None, device: torch.device
) -> Tensor:
    """Boolean ``[B or 1, 1, T, S]``: may query m see key n."""
    mask = torch.ones(1, 1, t, s, dtype=torch.bool, device=device)
    if causal:
        # Queries are aligned to the *last* T keys, so a query block continuing a cache works.
        mask = torch.ones(t, s, dtype=torch.bool, device=device).tril(s - t)[None, None]
    if key_padding_mask is not None:
        mask = mask & ~key_padding_mask[:, None, None, :]
    return mask


def naive_linear_attention(
    phi_q: Tensor,
    phi_k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    eps: float = 1e-6,
    key_padding_mask: Tensor | None = None,
) -> Tensor:
    """Kernelized attention through the explicit ``T×S`` matrix ``A = φ(Q) φ(K)ᵀ`` ([SPE] Eq. 3-4).

    Args:
        phi_q: featurized queries ``[B, T, H, M]`` (non-negative for a valid normalizer).
        phi_k: featurized keys ``[B, S, H, M]``.
        v: values ``[B, S, H, E]``.

    Returns:
        ``[B, T, H, E]`` with ``y_m = Σ_n a_mn v_n / (Σ_n a_mn + eps)``.
    """
    a = torch.einsum("bthm,bshm->bhts", phi_q, phi_k)
    mask = _visible(phi_q.shape[1], phi_k.shape[1], causal, key_padding_mask, phi_q.device)
    a = a * mask
    num = torch.einsum("bhts,bshe->bthe", a, v)
    den = a.sum(-1).transpose(1, 2)[..., None]  # [B, T, H, 1]
    return num / (den + eps)


def naive_recurrent_linear_attention(
    phi_q: Tensor,
    phi_k: Tensor,
    v: Tensor,
    *,
    initial_state: tuple[Tensor, Tensor] | None = None,
    eps: float = 1e-6,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Causal kernelized attention one token at a time, carrying ``(S, z)`` ([SPE] Eq. 10).

    Args:
        phi_q, phi_k: ``[B, T, H, M]``; v: ``[B, T, H, E]``.
        initial_state: ``(S [B, H, M, E], z [B, H, M])`` or ``None`` for zeros.

    Returns:
        ``(o [B, T, H, E], (S, z))`` with the state after the last token, in float32 or wider.
    """
    b, t, h, m = phi_q.shape
    e = v.shape[-1]
    acc = torch.promote_types(v.dtype, torch.float32)
    if initial_state is None:
        s = phi_q.new_zeros(b, h, m, e, dtype=acc)
        z = phi_q.new_zeros(b, h, m, dtype=acc)
    else:
        s, z = (x.to(acc) for x in initial_state)
    outs = []
    for i in range(t):
        kq, qq, vv = phi_k[:, i].to(acc), phi_q[:, i].to(acc), v[:, i].to(acc)
        s = s + kq[..., :, None] * vv[..., None, :]
        z = z + kq
        num = torch.einsum("bhm,bhme->bhe", qq, s)
        den = torch.einsum("bhm,bhm->bh", qq, z)[..., None]
        outs.append((num / (den + eps)).to(v.dtype))
    return torch.stack(outs, dim=1), (s, z)
