"""The unified content × context view ([ST] Prop. 1, Eq. 13-22) of every PE, for plots and tests.

``a^d_mn = F(q_md, k_nd) × G_d(p_m, p_n)``. For every PE this module gives

- :func:`context_kernel`: the expected context kernel — ``P'_d`` (SPE, Eq. 21/22/25), ``G_d``
  (F-StrIPE, [ST] Eq. 12), the trig terms of RoPE (Eq. 14: ``cos Δ⁻, sin Δ⁻``) and RoPEPool
  (Eq. 23: also ``cos Δ⁺, sin Δ⁺``), the Gram ``e(p_m)·e(p_n)`` of an additive PE;
- :func:`induced_logits`: the exact ``T×S`` logits the attention uses (softmax exponentiates
  them), rebuilt from the kernel view and the explicit codes, *not* from the PE's fast path:
  pooled PEs ``Σ_{d,d'} q_md k_nd' Q̄_d(m)·K̄_d'(n) · c / √D'`` (``c = (DR)^{-1/2}`` for SPE,
  1 for F-StrIPE), RoPE/RoPEPool the sums of Eq. 14 / Eq. 23 over pairs, relative PEs
  ``q·k/√D + bias``, additive PEs through the layer's projections;
- :func:`expected_logits`: the unpooled ``Σ_d q_md k_nd G_d(p_m, p_n) / √D_eff`` (``U(a)`` of
  §5), equal in expectation to SPE's logits (Eq. 15) and to F-StrIPE's when ``h(q_d)·h(k_d') ≈ 0``
  for ``d ≠ d'``; exact for RoPE and RoPEPool.

Everything here is quadratic and float64: small inputs only.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from stripes.positional.base import AdditivePE, QKTransformPE, RelativeBiasPE, position_vectors
from stripes.positional.conv_spe import ConvSPE
from stripes.positional.rope import _RotaryBase
from stripes.positional.spe import SPE, SineSPE
from stripes.positional.structure import FStrIPE


def rope_context_terms(pe: _RotaryBase, positions_q, positions_k=None, length=None) -> dict:
    """``{cos_lag, sin_lag, cos_sum, sin_sum}`` ``[Bp, Hf, D/2, T, S]`` (Eq. 14, 23)."""
    pq = position_vectors(positions_q, positions_q.shape[1] if length is None else length,
                          0, None, torch.float64)
    pk = pq if positions_k is None else position_vectors(positions_k, positions_k.shape[1], 0,
                                                         None, torch.float64)
    omega = pe.omega.detach().double()
    tq = torch.einsum("btl,hil->bhit", pq, omega)[..., None]
    tk = torch.einsum("bsl,hil->bhis", pk, omega)[..., None, :]
    lag, tot = tq - tk, tq + tk
    return {"cos_lag": lag.cos(), "sin_lag": lag.sin(), "cos_sum": tot.cos(), "sin_sum": tot.sin()}


def rope_content_terms(q: Tensor, k: Tensor) -> dict:
    """Per-pair content products ``[B, H, D/2, T, S]`` with ``a = q`` pair, ``b = k`` pair."""
    a1, a2 = q[..., 0::2].double(), q[..., 1::2].double()
    b1, b2 = k[..., 0::2].double(), k[..., 1::2].double()
    prod = lambda x, y: torch.einsum("bthi,bshi->bhits", x, y)
    return {"a1b1": prod(a1, b1), "a2b2": prod(a2, b2), "a1b2": prod(a1, b2), "a2b1": prod(a2, b1)}


def rope_logits(q: Tensor, k: Tensor, ctx: dict, pooled: bool) -> Tensor:
    """Eq. 14 (RoPE) or Eq. 23 (RoPEPool), unscaled: ``[B, H, T, S]``."""
    c = rope_content_terms(q, k)
    out = ctx["cos_lag"] * (c["a1b1"] + c["a2b2"]) + ctx["sin_lag"] * (c["a1b2"] - c["a2b1"])
    if pooled:
        out = out + ctx["cos_sum"] * (c["a1b2"] + c["a2b1"])
        out = out + ctx["sin_sum"] * (c["a1b1"] - c["a2b2"])
    return out.sum(2)


def context_kernel(pe: nn.Module, positions_q: Tensor, positions_k: Tensor | None = None,
                   layer: int = 0, d_model: int | None = None):
    """The expected context kernel of ``pe`` (module docstring); shapes ``[Bp, H, D, T, S]``,
    a dict of ``[Bp, Hf, D/2, T, S]`` for RoPE/RoPEPool, ``[Bp, T, S]`` for additive PEs."""
    if isinstance(pe, (SPE, FStrIPE)):
        return pe.context_kernel(positions_q, positions_k, layer)
    if isinstance(pe, _RotaryBase):
        return rope_context_terms(pe, positions_q, positions_k)
    if isinstance(pe, AdditivePE):
        if d_model is None:
            raise ValueError("the context kernel of an additive PE needs d_model")
        zeros = torch.zeros(positions_q.shape[0], positions_q.shape[1], d_model,
                            dtype=torch.float64, device=positions_q.device)
        eq = pe.double()(zeros, positions_q)
        ek = eq if positions_k is None else pe.double()(zeros[:, : positions_k.shape[1]],
                                                        positions_k)
        return torch.einsum("btd,bsd->bts", eq, ek)
    raise TypeError(f"no context kernel for {type(pe).__name__} (relative biases depend on q)")


def induced_logits(pe: nn.Module, q: Tensor, k: Tensor, positions: Tensor | None = None,
                   code=None, layer: int = 0) -> Tensor:
    """Exact logits ``[B, H, T, S]`` rebuilt from the kernel view (module docstring)."""
    t = q.shape[1]
    pos = positions if positions is not None else torch.arange(t, device=q.device)[None]
    if isinstance(pe, _RotaryBase):
        pooled = pe.output_dim(pe.head_dim) != pe.head_dim
        logits = rope_logits(q, k, rope_context_terms(pe, pos, length=t), pooled)
        return logits / math.sqrt(pe.output_dim(q.shape[-1]))
    if isinstance(pe, RelativeBiasPE):
        base = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(q.shape[-1])
        return base + pe.bias(pos, pos, q)
    q_bar, k_bar, c = _tables(pe, pos, t, code, layer)
    b = q.shape[0]
    q_hat = torch.einsum("bthd,bthdr->bthr", q.double(), q_bar.expand(b, *q_bar.shape[1:]))
    k_hat = torch.einsum("bthd,bthdr->bthr", k.double(), k_bar.expand(b, *k_bar.shape[1:]))
    return torch.einsum("bthr,bshr->bhts", q_hat, k_hat) * c / math.sqrt(q_bar.shape[-1])


def expected_logits(pe: nn.Module, q: Tensor, k: Tensor, positions: Tensor | None = None,
                    layer: int = 0) -> Tensor:
    """Unpooled content × context logits ``Σ_d q_md k_nd G_d / √D_eff`` ``[B, H, T, S]``."""
    pos = positions if positions is not None else torch.arange(q.shape[1], device=q.device)[None]
    if isinstance(pe, _RotaryBase):
        return induced_logits(pe, q, k, pos)
    kern = context_kernel(pe, pos, None, layer)  # [Bp, H, D, T, S]
    if isinstance(pe, SPE):
        scale = q.shape[-1]
    elif isinstance(pe, QKTransformPE):
        scale = pe.output_dim(q.shape[-1])
    else:
        raise TypeError(f"no expected logits for {type(pe).__name__}")
    return torch.einsum("bthd,bshd,bhdts->bhts", q.double(), k.double(), kern) / math.sqrt(scale)


def _tables(pe: nn.Module, pos: Tensor, t: int, code, layer: int):
    """Explicit per-feature tables ``(Q̄, K̄) [Bp, T, H, D, R']`` and the pooling constant c."""
    if isinstance(pe, FStrIPE):
        q_bar, k_bar = pe.codes(pos, t)
        return q_bar, k_bar, 1.0
    if isinstance(pe, SPE):
        code = code if code is not None else pe.frozen_code
        if code is None:
            raise ValueError("induced_logits of an SPE needs its code (or a frozen one)")
        if isinstance(pe, ConvSPE):  # convSPE: consecutive positions from pos[0, 0]
            q_bar, k_bar = pe.codes(code, t, int(pos.reshape(-1)[0]), layer)
        elif isinstance(pe, SineSPE):
            q_bar, k_bar = pe.codes(code, pos, t, layer)
        else:
            raise TypeError(f"no kernel view for {type(pe).__name__}")
        return q_bar, k_bar, (pe.head_dim * code.n_realizations) ** -0.5
    raise TypeError(f"no kernel view for {type(pe).__name__}")


def additive_logits(pe: AdditivePE, attention: Any, x: Tensor,
                    positions: Tensor | None = None) -> Tensor:
    """Logits ``[B, H, T, T]`` of an :class:`~stripes.attention.Attention` layer (no q/k PE) on
    ``x + e(positions)``: how an additive PE's Gram enters the content × context product.
    (``attention`` is typed ``Any``: this package sits beside ``stripes.attention``.)"""
    b, t, _ = x.shape
    h, d = attention.n_heads, attention.head_dim
    q, k, _ = attention.qkv(pe(x, positions)).view(b, t, 3, h, d).unbind(2)
    return torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(d)
