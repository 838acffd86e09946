"""Sinusoidal pooling: the contraction shared by sineSPE and F-StrIPE, in chunks, never expanded.

For a side ``s`` (queries or keys), positions ``p_t ∈ R^L``, head h and feature d, let
``a_dk(t) = 2π f_dkᵀ p_t`` and ``Ω_s(t)_d = [cos(a_dk + θ^s_dk)]_k ⊕ [sin(a_dk + θ^s_dk)]_k`` in
``R^{2K}`` (the K cosines, then the K sines). Two contractions ([SPE] Eq. 16-17, [FS] Eq. 6-9):

- ``dense`` (sineSPE): ``x̂_t = Σ_{d,j} x_td Ω_s(t)_dj W_s[d, j, :]`` with ``W_s ∈ R^{D·2K×R'}``;
  the per-feature codes ``Q̄_d(t) = Ω(t) W_d`` (the official ``B·T·H·D·R`` tensor) are never
  formed: the sum over ``(d, j)`` is one batched matmul of ``x ⊗ Ω`` (``[H, B·C, 2K·D]``) by W.
- ``diag`` (F-StrIPE): ``x̂_t = Σ_d x_td (Ω_s(t)_d ⊙ W_s[d])`` with ``W_s ∈ R^{D×2K}``.

:func:`sinusoid_pool` runs over chunks of positions with a hand-written backward that recomputes
the cos/sin tables instead of storing the ``T·H·D·2K`` tables: memory stays ``O(B·T·H·(D+R'))``
plus one chunk. Internally tables are ``[H, Bp, C, 2K, D]`` (feature d innermost, so every
elementwise pass is contiguous); one cos and one sin table per chunk serve both sides, a phase
entering by rotation. :func:`sinusoid_pool_reference` is the same formula in plain autograd, the
oracle of the tests.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from stripes.positional.base import turn_angle
from stripes.tracing import call_into


def sinusoid_angles(pos: Tensor, freqs: Tensor) -> Tensor:
    """``pos [Bp, C, L]``, ``freqs [H, K, D, L]`` -> ``a = 2π fᵀp``, ``[H, Bp, C, K, D]``."""
    if pos.shape[-1] == 1:
        return (2 * math.pi) * pos[None, :, :, None, :] * freqs[:, None, None, :, :, 0]
    return (2 * math.pi) * torch.einsum("bcl,hkdl->hbckd", pos, freqs)


def _trig(a: Tensor, phase: Tensor | None) -> tuple[Tensor, Tensor]:
    """cos and sin of ``a + θ`` (``θ [H, K, D]``), each ``[H, Bp, C, K, D]``."""
    if phase is not None:
        a = a + phase[:, None, None]
    return a.cos(), a.sin()


def _contract(x: Tensor, cos: Tensor, sin: Tensor, w: Tensor, dense: bool) -> Tensor:
    """Autograd form. ``x [B, C, H, D]``, tables ``[H, Bp, C, K, D]``, ``w [H, 2K·D, R']`` or
    ``[H, 2K, D]`` -> ``x̂ [B, C, H, R']``."""
    omega = torch.cat([cos, sin], dim=-2)  # [H, Bp, C, 2K, D]
    xh = x.permute(2, 0, 1, 3)  # [H, B, C, D]
    h, b, c, _ = xh.shape
    if dense:
        big = xh[:, :, :, None] * omega  # [H, B, C, 2K, D]: one chunk only
        y = torch.bmm(big.reshape(h, b * c, -1), w)  # [H, B·C, R']
        return y.view(h, b, c, -1).permute(1, 2, 0, 3)
    mod = omega * w[:, None, None]
    return torch.matmul(mod, xh[..., None]).squeeze(-1).permute(1, 2, 0, 3)


def _rotation(w: Tensor, phase: Tensor | None) -> tuple[Tensor, Tensor] | None:
    """``(w cos θ, w sin θ)`` ``[H, 2K, D]``, so ``w ⊙ Ω(a + θ)`` comes from ``cos a, sin a``."""
    if phase is None:
        return None
    theta = torch.cat([phase, phase], dim=-2)
    return w * theta.cos(), w * theta.sin()


def _contract_fast(x: Tensor, omega: Tensor, w: Tensor, rot, dense: bool, k: int) -> Tensor:
    """:func:`_contract` without autograd (the forward runs under no-grad), on the shared
    ``omega = [cos a; sin a]`` ``[H, Bp, C, 2K, D]``; phases (diag) by rotation."""
    xh = x.permute(2, 0, 1, 3).contiguous()  # [H, B, C, D], so products come out contiguous
    h, b, c, d = xh.shape
    if dense:
        big = omega.new_empty(h, b, c, 2 * k, d)
        call_into(torch.mul, xh[:, :, :, None], omega, out=big)
        return torch.bmm(big.view(h, b * c, -1), w).view(h, b, c, -1).permute(1, 2, 0, 3)
    if rot is None:
        mod = omega * w[:, None, None]
    else:
        alpha, beta = (r[:, None, None] for r in rot)
        cos, sin = omega[:, :, :, :k], omega[:, :, :, k:]
        mod = torch.empty_like(omega)
        call_into(torch.mul, cos, alpha[:, :, :, :k], out=mod[:, :, :, :k])
        mod[:, :, :, :k].addcmul_(sin, beta[:, :, :, :k], value=-1)
        call_into(torch.mul, sin, alpha[:, :, :, k:], out=mod[:, :, :, k:])
        mod[:, :, :, k:].addcmul_(cos, beta[:, :, :, k:])
    # a product and a contiguous sum over d beat H·B·C tiny [2K, D] @ [D, 1] matmuls
    return (mod * xh[:, :, :, None, :]).sum(-1).permute(1, 2, 0, 3)


def _sum_to(x: Tensor, batch: int) -> Tensor:
    """Reduce the broadcast batch axis (dim 1) of a ``[H, B, ...]`` gradient to ``batch``."""
    return x if x.shape[1] == batch else x.sum(1, keepdim=True)


def _contract_backward(x, cos, sin, w, gy, dense: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`_contract`: ``(gx [B,C,H,D], gw like w, g_angle [H,Bp,C,K,D])``."""
    k, bp = cos.shape[-2], cos.shape[1]
    omega = torch.cat([cos, sin], dim=-2)
    # gyh copied: a compiled backward may hand gy with other strides than it traced
    xh, gyh = x.permute(2, 0, 1, 3), gy.permute(2, 0, 1, 3).contiguous()  # [H,B,C,D], [H,B,C,R']
    h, b, c, d = xh.shape
    if dense:
        gbig = torch.bmm(gyh.reshape(h, b * c, -1), w.transpose(1, 2)).view(h, b, c, 2 * k, d)
        gx = (gbig * omega).sum(-2)
        big = (xh[:, :, :, None] * omega).reshape(h, b * c, -1)
        gw = torch.bmm(big.transpose(1, 2), gyh.reshape(h, b * c, -1))
        gomega = _sum_to(gbig * xh[:, :, :, None], bp)
    else:
        gx = (omega * w[:, None, None] * gyh[..., None]).sum(-2)
        gmod = _sum_to(gyh[..., None] * xh[:, :, :, None], bp)  # [H, Bp, C, 2K, D]
        gw = (gmod * omega).sum((1, 2))
        gomega = gmod * w[:, None, None]
    g_angle = cos * gomega[:, :, :, k:] - sin * gomega[:, :, :, :k]
    return gx.permute(1, 2, 0, 3), gw, g_angle


class _TimeTables:
    """Times ``p_t = s + t`` (alike in every row), a chunk base plus an offset ``r < C``:
    ``a = 2π f (s + first) + 2π f r``, each term reduced modulo one turn in float64
    (:func:`turn_angle`), so no float32 angle exceeds 4π however large s is: a one-token step at
    s = 65535 and the parallel row agree to float32 rounding (an unreduced ``2π f s`` in float32
    would be off by ~1e-3 rad). The forward rotates the cos/sin table of the offsets (computed
    once) by each chunk's base angle (angle addition: four products instead of two
    transcendental calls per element); the backward reads the angles. ``start``: the first time
    when the caller knows it (no look at ``pos``, so no host sync); ``self.start`` is None when
    the positions are not such times (every sinusoid is then evaluated directly)."""

    def __init__(self, pos: Tensor, freqs: Tensor, chunk: int, start: int | None = None):
        from stripes.positional.ops.table_pool import time_start  # (imports this module)
        if pos.shape[-1] != 1:
            start = None
        elif start is None:
            start = time_start(pos, pos.shape[1], 0)  # checks every row
        self.start, self.dtype = start, pos.dtype
        if start is None:
            return
        self.freqs = freqs.double()[..., 0]  # [H, K, D]
        self.offset = None  # one position (a decoding step): the base angle alone
        if pos.shape[1] > 1:
            r = torch.arange(min(chunk, pos.shape[1]), dtype=torch.float64, device=pos.device)
            turns = r[None, None, :, None, None] * self.freqs[:, None, None]
            self.offset = turn_angle(turns).to(pos.dtype)  # [H, 1, C, K, D]
            self.cos, self.sin = self.offset.cos(), self.offset.sin()

    def _base(self, first: int) -> Tensor:
        """``2π f (s + first)`` reduced, ``[H, 1, 1, K, D]``."""
        assert self.start is not None  # callers check it first
        return turn_angle((self.start + first) * self.freqs)[:, None, None].to(self.dtype)

    def angles(self, first: int, n: int) -> Tensor | None:
        """``a = 2π f p`` ``[H, 1, n, K, D]`` of positions ``first … first+n`` (or None)."""
        if self.start is None:
            return None
        base = self._base(first)
        return base if self.offset is None else base + self.offset[:, :, :n]

    def omega(self, first: int, n: int) -> Tensor | None:
        """``[cos a; sin a]`` ``[H, 1, n, 2K, D]`` of positions ``first … first+n`` (or None)."""
        if self.start is None:
            return None
        base = self._base(first)
        cb, sb = base.cos(), base.sin()
        if self.offset is None:
            return torch.cat([cb, sb], dim=-2)
        c, s, k = self.cos[:, :, :n], self.sin[:, :, :n], self.cos.shape[-2]
        out = c.new_empty(*c.shape[:3], 2 * k, c.shape[-1])
        call_into(torch.mul, c, cb, out=out[:, :, :, :k]).addcmul_(s, sb, value=-1)
        call_into(torch.mul, s, cb, out=out[:, :, :, k:]).addcmul_(c, sb)
        return out


class _SinusoidPool(torch.autograd.Function):
    """Chunked forward, chunked recomputing backward, internal layouts (module docstring)."""

    @staticmethod
    def forward(ctx, pos, freqs, q, k, w_q, w_k, phase_q, phase_k, dense, chunk, start):
        ctx.save_for_backward(pos, freqs, q, k, w_q, w_k, phase_q, phase_k)
        ctx.dense, ctx.chunk = dense, chunk
        t, kk = q.shape[1], freqs.shape[1]
        outs = (q.new_empty(*q.shape[:3], w_q.shape[-1 if dense else -2]),
                k.new_empty(*k.shape[:3], w_k.shape[-1 if dense else -2]))
        sides = [(x, w, None if dense else _rotation(w, phase), phase, y) for x, w, phase, y in
                 ((q, w_q, phase_q, outs[0]), (k, w_k, phase_k, outs[1]))]
        times = _TimeTables(pos, freqs, chunk, start)
        ctx.start = times.start
        for first in range(0, t, chunk):
            sl = slice(first, min(first + chunk, t))
            omega = times.omega(first, sl.stop - first)  # shared by both sides
            phased = dense and (phase_q is not None or phase_k is not None)
            a = None
            if omega is None or phased:
                a = times.angles(first, sl.stop - first)
                a = sinusoid_angles(pos[:, sl], freqs) if a is None else a
            if omega is None:
                assert a is not None  # computed above whenever omega is None
                omega = a.new_empty(*a.shape[:3], 2 * kk, a.shape[-1])
                call_into(torch.cos, a, out=omega[:, :, :, :kk])
                call_into(torch.sin, a, out=omega[:, :, :, kk:])
            for x, w, rot, phase, y in sides:
                if dense and phase is not None:
                    assert a is not None  # phased: the angles were computed
                    om = torch.cat(_trig(a, phase), dim=-2)
                else:
                    om = omega
                y[:, sl] = _contract_fast(x[:, sl], om, w, rot, dense, kk)
        return outs

    @staticmethod
    def backward(ctx, g_q, g_k):
        pos, freqs, q, k, w_q, w_k, phase_q, phase_k = ctx.saved_tensors
        g_q, g_k = g_q.contiguous(), g_k.contiguous()  # a compiled graph may hand them strided
        grads = [torch.zeros_like(x) for x in (q, k, w_q, w_k)]
        g_phase: list[Tensor | None] = [None if p is None else torch.zeros_like(p)
                                        for p in (phase_q, phase_k)]
        g_freqs = torch.zeros_like(freqs)
        sides = ((q, w_q, phase_q, g_q), (k, w_k, phase_k, g_k))
        times = None if ctx.start is None else _TimeTables(pos, freqs, ctx.chunk, ctx.start)
        pos = pos if times is None else pos[:1]  # equal rows: the tables have Bp = 1
        for first in range(0, q.shape[1], ctx.chunk):
            sl = slice(first, min(first + ctx.chunk, q.shape[1]))
            if times is None:
                a = sinusoid_angles(pos[:, sl], freqs)
            else:  # the forward's reduced angles: at large times a direct float32 one is off
                reduced = times.angles(first, sl.stop - first)
                assert reduced is not None  # the tables exist: times.start is not None
                a = reduced
            g_angle = torch.zeros_like(a)
            shared = _trig(a, None) if phase_q is None or phase_k is None else None
            for i, (x, w, phase, gy) in enumerate(sides):
                tables = _trig(a, phase) if phase is not None or shared is None else shared
                gx, gw, ga = _contract_backward(x[:, sl], *tables, w, gy[:, sl], ctx.dense)
                grads[i][:, sl] = gx
                grads[2 + i] += gw
                g_angle += ga
                gp = g_phase[i]
                if gp is not None:
                    gp += ga.sum((1, 2))
            g_freqs += (2 * math.pi) * torch.einsum("hbckd,bcl->hkdl", g_angle, pos[:, sl])
        return (None, g_freqs, *grads, *g_phase, None, None, None)


def _internal(freqs, ws, phases, dense):
    """Caller layouts (``f [H, D, K, L]``, ``w [H, D·2K, R']`` / ``[H, D, 2K]``, ``θ [H, D, K]``)
    to the internal d-innermost ones, differentiably (small tensors)."""
    h, d, kk, _ = freqs.shape
    f = freqs.permute(0, 2, 1, 3).contiguous()
    if dense:
        ws = [w.view(h, d, 2 * kk, -1).transpose(1, 2).reshape(h, 2 * kk * d, -1) for w in ws]
    else:
        ws = [w.transpose(1, 2).contiguous() for w in ws]
    phases = [None if p is None else p.transpose(1, 2).contiguous() for p in phases]
    return f, ws, phases


def sinusoid_pool(
    pos: Tensor,
    freqs: Tensor,
    q: Tensor,
    k: Tensor,
    w_q: Tensor,
    w_k: Tensor,
    phase_q: Tensor | None = None,
    phase_k: Tensor | None = None,
    *,
    dense: bool,
    chunk_tokens: int = 512,
    start: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Pool queries and keys against shared sinusoid tables (module docstring).

    Args:
        pos: positions ``[B or 1, T, L]`` in the dtype of q (float32 or wider).
        freqs: frequencies ``f [H, D, K, L]`` (cycles per unit of position).
        q, k: ``[B, T, H, D]``.
        w_q, w_k: ``[H, D·2K, R']`` (dense, rows in ``(d, j)`` order) or ``[H, D, 2K]`` (diag).
        phase_q, phase_k: optional phases ``θ [H, D, K]`` inside the sinusoids (sineSPE folds its
            query phases into ``w_q`` instead).
        chunk_tokens: about ``B·C`` rows per chunk (C positions).
        start: s when the caller knows that ``pos`` is ``s + arange(T)`` (``[1, T, 1]``), which
            spares a host sync; by default such times are detected from ``pos``.

    Returns:
        ``(q̂, k̂)``, each ``[B, T, H, R']`` (``R' = 2K`` for diag).
    """
    prepared = prepare_pool(freqs, w_q, w_k, phase_q, phase_k, dense=dense)
    return pool_prepared(pos, prepared, q, k, dense=dense, chunk_tokens=chunk_tokens,
                         start=start)


def prepare_pool(freqs, w_q, w_k, phase_q=None, phase_k=None, *, dense: bool) -> tuple:
    """The arguments of :func:`sinusoid_pool` in its internal layouts: a caller may keep them
    across calls (sineSPE does, decoding with a frozen code: copying ``W`` is most of a step)."""
    f, (wq, wk), (pq, pk) = _internal(freqs, [w_q, w_k], [phase_q, phase_k], dense)
    return f, wq, wk, pq, pk


def pool_prepared(pos, prepared, q, k, *, dense: bool, chunk_tokens: int = 512,
                  start: int | None = None):
    """:func:`sinusoid_pool` on the output of :func:`prepare_pool`."""
    chunk = max(1, chunk_tokens // q.shape[0])
    return _SinusoidPool.apply(pos, prepared[0], q, k, *prepared[1:], dense, chunk, start)


def sinusoid_pool_reference(
    pos: Tensor, freqs: Tensor, x: Tensor, w: Tensor, phase: Tensor | None = None, *, dense: bool
) -> Tensor:
    """One side of :func:`sinusoid_pool` in plain autograd, unchunked (tests, tiny inputs)."""
    f, (wi,), (pi,) = _internal(freqs, [w], [phase], dense)
    return _contract(x, *_trig(sinusoid_angles(pos, f), pi), wi, dense)
