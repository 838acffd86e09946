"""Sinusoidal pooling of one token, for decoding: sineSPE ([SPE] Eq. 16-17, 21) and F-StrIPE
([FS] Eq. 9) with everything that a frozen code fixes laid out once.

Both PEs map a query or key ``x [H, D]`` at position ``p`` to

    ``x̂_s[h, :] = Σ_{d, j} x_s[h, d] Ω_j(a[h, d]) W_s[h, d, j, :]``,  ``a = 2π fᵀp``,

with ``Ω = [cos a_1 … cos a_K, sin a_1 … sin a_K (, 1)]``: sineSPE's ``W_s`` are its pooling
weights (:meth:`~stripes.positional.spe.SineSPE.weights`, phases, gains, noise and scale folded
in) and its gate term rides on the constant last column; F-StrIPE's diagonal pooling becomes a
``2K × 2K`` block of cos/sin rotations by its phases per ``(h, d)``. The parallel path
(:mod:`stripes.positional.ops.pooling`) handles chunks of many tokens; called on one token it
spends most of its time on layouts, which is what a decoding step is bound by. Here a call is the
trigonometry of ``H·D·K`` angles (reduced modulo one turn in float64, as the parallel path
does), one broadcast product and one batched matmul over the ``2H`` (side, head) pairs, into
preallocated buffers. Tests: tests/positional/ops/test_ops_token_pool.py (against each PE's
forward).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from stripes.tracing import call_into


class TokenSinePool:
    """``qk [B, 2, H, D]`` (queries then keys) at one position -> ``[B, 2, H, R']``.

    Args:
        freqs: ``f [H, D, K, L]`` in cycles per unit of position.
        w_q, w_k: ``[H, D, 2K, R']``: the weight of ``(d, cos a_k or sin a_k)`` on each output.
        bias_q, bias_k: ``[H, D, R']`` weights of the constant column (sineSPE's gate), or None.
        batch: B.

    Layouts keep every op of a call contiguous: angles and ``Ω`` are ``[K or J, Bp, H, D]``
    (cos and sin written straight into their planes), the weights' rows in ``(j, d)`` order.
    The returned tensor is a buffer overwritten by the next call (the caller may modify it).
    """

    def __init__(self, freqs: Tensor, w_q: Tensor, w_k: Tensor, bias_q: Tensor | None,
                 bias_k: Tensor | None, batch: int):
        h, d, k, _ = freqs.shape
        self.freqs = freqs.detach().double().permute(2, 3, 0, 1).contiguous()  # [K, L, H, D]
        self.k = k
        sides = []
        for w, bias in ((w_q, bias_q), (w_k, bias_k)):
            if bias is not None:
                w = torch.cat([w, bias[:, :, None]], 2)
            sides.append(w.detach().permute(0, 2, 1, 3))  # [H, J, D, R']
        j, r = sides[0].shape[1], sides[0].shape[3]
        self.w = torch.stack(sides).reshape(2 * h, j * d, r).contiguous()  # [2H, J·D, R']
        self.turns = freqs.new_empty(k, batch, h, d, dtype=torch.float64)
        self.a = w_q.new_empty(k, batch, h, d)
        self.omega = w_q.new_ones(j, batch, h, d)  # the constant plane stays 1
        self.x = w_q.new_empty(2, h, batch, j, d)
        self.out = w_q.new_empty(2 * h, batch, r)
        self.result = w_q.new_empty(batch, 2, h, r)
        self.shape = (batch, h, d, j, r)

    def angles(self, offset: int, positions: Tensor | None) -> Tensor:
        """``a = 2π fᵀp`` ``[K, Bp, H, D]`` (Bp = 1 for times shared by the batch), reduced
        modulo one turn in float64 before the cast (at times ~10⁴ a float32 angle is off by
        ~10⁻³ rad)."""
        if positions is None:
            turns = call_into(torch.mul, self.freqs[:, 0, None], offset, out=self.turns[:, :1])
        else:
            p = positions.reshape(positions.shape[0], -1).double()  # [Bp, L]
            if p.shape[0] not in (1, self.turns.shape[1]):
                raise ValueError(f"positions for {p.shape[0]} sequences, the decoder has "
                                 f"{self.turns.shape[1]}")
            turns = self.turns[:, : p.shape[0]]
            turns.copy_(torch.einsum("bl,klhd->kbhd", p, self.freqs))
        bp = turns.shape[1]
        turns.frac_()  # in (−1, 1): whole turns dropped, the sign kept
        return call_into(torch.mul, turns, 2 * math.pi, out=self.a[:, :bp])

    def __call__(self, qk: Tensor, offset: int = 0, positions: Tensor | None = None) -> Tensor:
        b, h, d, j, r = self.shape
        a = self.angles(offset, positions)
        omega = self.omega[:, : a.shape[1]]
        call_into(torch.cos, a, out=omega[: self.k])
        call_into(torch.sin, a, out=omega[self.k : 2 * self.k])
        xs = qk.permute(1, 2, 0, 3)[:, :, :, None]  # [2, H, B, 1, D]
        call_into(torch.mul, xs, omega.permute(2, 1, 0, 3)[None], out=self.x)  # [2, H, B, J, D]
        call_into(torch.bmm, self.x.view(2 * h, b, j * d), self.w, out=self.out)
        y = self.out.view(2, h, b, r).permute(2, 0, 1, 3)
        if b == 1:
            return y  # the same memory as [1, 2, H, R']
        return self.result.copy_(y)


def rotation_weights(w: Tensor, phase: Tensor | None) -> Tensor:
    """F-StrIPE's diagonal pooling as dense weights ``[H, D, 2K, 2K]``.

    ``w [H, D, 2K]`` (cos then sin), ``phase θ [H, D, K]`` or None: the outputs
    ``w_c cos(a + θ)`` and ``w_s sin(a + θ)`` expanded by angle addition into ``cos a`` and
    ``sin a`` (``cos(a+θ) = cos a cos θ − sin a sin θ``, ``sin(a+θ) = sin a cos θ + cos a sin θ``).
    """
    h, d, two_k = w.shape
    k = two_k // 2
    c = torch.ones(h, d, k, dtype=w.dtype, device=w.device) if phase is None else phase.cos()
    s = torch.zeros_like(c) if phase is None else phase.sin()
    wc, ws = w[..., :k], w[..., k:]
    out = w.new_zeros(h, d, two_k, two_k)
    idx = torch.arange(k, device=w.device)
    out[:, :, idx, idx] = wc * c  # cos a -> cos output
    out[:, :, k + idx, idx] = -wc * s  # sin a -> cos output
    out[:, :, idx, k + idx] = ws * s  # cos a -> sin output
    out[:, :, k + idx, k + idx] = ws * c  # sin a -> sin output
    return out
