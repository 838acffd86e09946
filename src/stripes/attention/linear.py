"""Kernelized (linear) attention in O(T): the parallel forms used for training.

``y_m = φ(q_m)ᵀ S_m / (φ(q_m)ᵀ z_m + ε)`` with ``S_m = Σ_{n≤m} φ(k_n) v_nᵀ`` and
``z_m = Σ_{n≤m} φ(k_n)`` ([SPE] Eq. 10, docs/math.md §1). The causal path is *chunked*
(:mod:`stripes.attention.chunked`, with its own backward): in a chunk of C tokens the masked
``C×C`` product is explicit; across chunks the state ``(S, z)`` is carried as an exclusive prefix
sum of per-chunk states, a few chunks (a segment) at a time. Nothing of size ``T×M×E`` is ever
allocated.

One trick keeps it to a few large batched matmuls: values get a column of ones appended
(``v' = [v, 1]``), so the same products give the numerator (first E columns) and the normalizer
(last column), and the state ``S' = [S, z]`` is one ``M×(E+1)`` matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor

from stripes.attention.chunked import (
    SEGMENT_BYTES,
    ChunkedCausalLinearAttention,
    chunked_causal_linear_attention_traced,
)
from stripes.attention.precision import autocast_off

State = tuple[Tensor, Tensor]  # (S [B, H, M, E], z [B, H, M]), float32 or wider


def linear_attention(
    phi_q: Tensor,
    phi_k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    initial_state: State | None = None,
    output_final_state: bool = False,
    chunk_size: int = 64,
    eps: float = 1e-6,
    key_padding_mask: Tensor | None = None,
) -> tuple[Tensor, State | None]:
    """Linear attention on already-featurized queries and keys.

    Args:
        phi_q: ``[B, T, H, M]`` featurized queries (``φ(q)``; non-negative for a valid normalizer).
        phi_k: ``[B, T, H, M]`` featurized keys.
        v: ``[B, T, H, E]`` values.
        causal: position m attends to ``n <= m`` only (chunked path).
        initial_state: ``(S [B, H, M, E], z [B, H, M])`` summarising earlier tokens, or ``None``.
        output_final_state: also return the state after the last token (for the next call).
        chunk_size: C, tokens per chunk of the causal path; need not divide T.
        eps: added to the normalizer.
        key_padding_mask: ``[B, T]`` boolean, ``True`` where the token is padding (its key is
            dropped; its own output is still computed).

    Returns:
        ``(o [B, T, H, E], final_state or None)``; ``o`` has the dtype of ``v``, the state is
        accumulated in float32 (or float64 for float64 inputs).
    """
    _check_shapes(phi_q, phi_k, v, initial_state)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    acc = torch.promote_types(v.dtype, torch.float32)
    if causal:
        if key_padding_mask is not None:
            phi_k = phi_k.masked_fill(key_padding_mask[:, :, None, None], 0.0)
        with autocast_off(phi_q.device):
            s0 = _stack_state(initial_state, acc)
            if torch.compiler.is_compiling():  # the traceable form of the same op (chunked.py)
                o, s_final = chunked_causal_linear_attention_traced(phi_q, phi_k, v, s0,
                                                                    chunk_size, eps)
            else:
                o, s_final = ChunkedCausalLinearAttention.apply(phi_q, phi_k, v, s0, chunk_size,
                                                                eps, SEGMENT_BYTES)
        return o.to(v.dtype), (_split_state(s_final) if output_final_state else None)
    q, k, v1 = _to_heads_first(phi_q, phi_k, v, acc, key_padding_mask)
    s0 = _stack_state(initial_state, acc)
    with autocast_off(q.device):  # the state and normalizer accumulate in float32 by design
        s_final = k.transpose(-1, -2) @ v1  # [B, H, M, E+1]
        if s0 is not None:
            s_final = s_final + s0
        o1 = q @ s_final
        o = o1[..., :-1] / (o1[..., -1:] + eps)
    o = o.transpose(1, 2).to(v.dtype)  # back to [B, T, H, E]
    state = _split_state(s_final) if output_final_state else None
    return o, state


def _to_heads_first(
    phi_q: Tensor, phi_k: Tensor, v: Tensor, acc: torch.dtype, key_padding_mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """``[B, T, H, ·]`` -> ``[B, H, T, ·]`` in the accumulation dtype, ``v' = [v, 1]`` (the
    non-causal path; one copy per tensor, written straight into its final layout)."""
    if key_padding_mask is not None:
        phi_k = phi_k.masked_fill(key_padding_mask[:, :, None, None], 0.0)
    return _heads_first(phi_q, acc), _heads_first(phi_k, acc), _heads_first(v, acc, True)


def _heads_first(x: Tensor, acc: torch.dtype, ones_column: bool = False) -> Tensor:
    b, t, h, d = x.shape
    out = x.new_empty(b, h, t, d + int(ones_column), dtype=acc)
    out[..., :d] = x.transpose(1, 2)
    if ones_column:
        out[..., d] = 1.0
    return out


def _stack_state(state: State | None, acc: torch.dtype) -> Tensor | None:
    """``(S [B,H,M,E], z [B,H,M])`` -> ``S' [B, H, M, E+1]``."""
    if state is None:
        return None
    s, z = state
    return torch.cat([s.to(acc), z.to(acc)[..., None]], dim=-1)


def _split_state(s1: Tensor) -> State:
    """``S' [B, H, M, E+1]`` -> ``(S [B,H,M,E], z [B,H,M])``."""
    return s1[..., :-1], s1[..., -1]


def _check_shapes(phi_q: Tensor, phi_k: Tensor, v: Tensor, state: State | None) -> None:
    if phi_q.dim() != 4 or phi_k.shape != phi_q.shape or v.shape[:3] != phi_q.shape[:3]:
        raise ValueError(
            "linear_attention expects phi_q, phi_k [B, T, H, M] and v [B, T, H, E] with equal "
            f"B, T, H; got {tuple(phi_q.shape)}, {tuple(phi_k.shape)}, {tuple(v.shape)}"
        )
    if state is not None:
        b, _, h, m = phi_q.shape
        s, z = state
        if s.shape != (b, h, m, v.shape[-1]) or z.shape != (b, h, m):
            raise ValueError(
                f"initial_state must be (S [B,H,M,E], z [B,H,M]) = ({(b, h, m, v.shape[-1])}, "
                f"{(b, h, m)}); got {tuple(s.shape)}, {tuple(z.shape)}"
            )
