"""F-StrIPE: noise-free structure-informed PE over structural positions ([FS] Sec. III, [ST] IV-D).

Positions are structure vectors ``p_t ∈ R^L`` (a "non-linear grid": equal labels, equal
positions; ``L = 1`` with ``p_t = t`` is the TIME context). Per head h and feature d, K vector
frequencies ``f_dk ∈ R^L`` (cycles per unit), phases and gains. Times (``L = 1``) take
``f = sigmoid(ρ)/2 ∈ (0, ½)`` (a sign would only mirror θ). Structure vectors (``L > 1``) take
signed components ``f = tanh(ρ)/2 ∈ (−½, ½)^L`` (``signed_frequencies``, default ``L > 1``): with
``(0, ½)^L`` only same-sign directions exist, so ``G`` could never treat the differences (1, 1)
and (1, −1) alike, as an isotropic kernel must; with signs, the pair ``(a, b), (a, −b)`` does.
Signed frequencies start at the magnitudes of the unsigned ones, with random signs.

``P^Q_d(t) = Ω(p_t; f_d, θ^Q_d) diag(λ̈_d) / √K ∈ R^{2K}`` ([FS] Eq. 6-9, [ST] Eq. 11-12; our layout
is the K cosines then the K sines), likewise ``P^K_d``, pooled ``q̂_t = Σ_d q_td P^Q_d(t)``: the
attention's feature map is built for ``D' = 2K``. The context kernel is
``G_d(p_m, p_n) = P^Q_d(m)·P^K_d(n) = Σ_k λ_dk² cos(2π f_dkᵀ(p_m − p_n) + θ^Q_dk − θ^K_dk) / K``.
Pooling keeps the cross terms ``d ≠ d'`` (no noise averages them out; see
:func:`stripes.positional.kernel_view.unpooled_logits`). Scaling: none beyond docs/math.md's
``1/√K``; the attention applies its temperature for ``D' = 2K``.

F-StrIPE₁ ([ST] Eq. 15, 20): ``K = 1``, ``θ = 0``, gains absorbed in the projections:
``h(a_d) = [a_d cos ω_d·p, a_d sin ω_d·p]`` (``ω = 2πf``), pooled over d: ``D' = 2`` per head, and
``q̂_m·k̂_n = Σ_{d,d'} q_md k_nd' cos(ω_dᵀp_m − ω_d'ᵀp_n)``.

F-StrIPE:SFF (SPE with structural positions, R realizations) is
:class:`~stripes.positional.spe.SineSPE` with ``position_dim = L``; with equal ``(f, θ, λ)`` its
kernel is ``G_d / 2`` (the ``1/√(2K)`` of [SPE] Eq. 19 against the ``1/√K`` here).

Cost: ``O(B·T·H·D·K)`` products, chunk by chunk with a recomputing backward. Times and
structure positions with few distinct values evaluate sinusoids only on a small table
(:mod:`stripes.positional.ops.table_pool`: chunk rotations or distinct positions); other
positions evaluate all ``T·H·D·K`` of them (:mod:`stripes.positional.ops.pooling`). Decoding needs
only the new token's position.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stripes.positional.base import (
    QKTransformPE,
    frequencies_of,
    frequency_logits,
    position_vectors,
    register,
)
from stripes.positional.ops.pooling import sinusoid_pool
from stripes.positional.ops.table_pool import structure_pool
from stripes.positional.ops.token_pool import TokenSinePool, rotation_weights


def _lag_angles(positions_q: Tensor, positions_k: Tensor | None, freqs: Tensor) -> Tensor:
    """``2π f_dkᵀ(p_m − p_n)`` ``[Bp, H, D, K, T, S]`` in float64 (kernel views, tests)."""
    positions_k = positions_q if positions_k is None else positions_k
    pq = position_vectors(positions_q, positions_q.shape[1], 0, None, torch.float64)
    pk = position_vectors(positions_k, positions_k.shape[1], 0, None, torch.float64)
    f = freqs.double()
    aq = torch.einsum("btl,hdkl->bhdkt", pq, f)
    ak = torch.einsum("bsl,hdkl->bhdks", pk, f)
    return 2 * math.pi * (aq[..., None] - ak[..., None, :])


@register("fstripe")
class FStrIPE(QKTransformPE):
    """F-StrIPE (RFF over structure vectors), ``q, k [B, T, H, D] -> [B, T, H, 2K]``.

    Args:
        n_heads, head_dim: H, D.
        n_sines: K (``output_dim = 2K``).
        position_dim: L.
        key_phases: learn ``θ^K`` too (default: queries only; G depends on ``θ^Q − θ^K``).
        learn_frequencies: learn f (else fixed at their random initial values, a buffer).
        pool_rows: rows (B·C) per chunk.
        signed_frequencies: components in ``(−½, ½)`` (``tanh(ρ)/2``) instead of ``(0, ½)``
            (``sigmoid(ρ)/2``); default (None): signed for structure vectors (``L > 1``).
    """

    def __init__(
        self,
        n_heads: int,
        head_dim: int,
        n_sines: int = 5,
        position_dim: int = 1,
        key_phases: bool = False,
        learn_frequencies: bool = True,
        pool_rows: int = 256,
        signed_frequencies: bool | None = None,
    ):
        super().__init__()
        self.n_heads, self.head_dim, self.n_sines = n_heads, head_dim, n_sines
        self.position_dim, self.pool_rows = position_dim, pool_rows
        self.signed = position_dim > 1 if signed_frequencies is None else bool(signed_frequencies)
        shape = (n_heads, head_dim, n_sines)
        logits = frequency_logits((*shape, position_dim), self.signed)
        if learn_frequencies:
            self.freq_logits = nn.Parameter(logits)
        else:
            self.register_buffer("freq_logits", logits)
        self.phases = nn.Parameter(torch.randn(shape))
        self.key_phases = nn.Parameter(torch.zeros(shape)) if key_phases else None
        self.gain_logits = nn.Parameter(torch.full(shape, math.log(math.e - 1)))  # λ = 1

    def output_dim(self, head_dim: int) -> int:
        return 2 * self.n_sines

    def frequencies(self) -> Tensor:
        """``f [H, D, K, L]`` in cycles per unit of position, entries in ``(0, ½)``, or in
        ``(−½, ½)`` when signed."""
        return frequencies_of(self.freq_logits, self.signed)

    def gains(self) -> Tensor:
        """``λ [H, D, K]``, positive."""
        return F.softplus(self.gain_logits)

    def _pool_args(self, like: Tensor):
        """``(freqs, w, θ^Q, θ^K)`` for :func:`sinusoid_pool` in diag mode."""
        lam = self.gains().to(like) / math.sqrt(self.n_sines)
        w = torch.cat([lam, lam], dim=-1)  # λ̈/√K in the cos-then-sin layout
        theta_k = None if self.key_phases is None else self.key_phases.to(like)
        return self.frequencies().to(like), w, self.phases.to(like), theta_k

    def forward(self, q, k, positions=None, offset=0, code=None, layer=0):
        """``q, k [B, T, H, D]`` -> ``q̂, k̂ [B, T, H, 2K]`` ([FS] Eq. 9)."""
        acc = torch.promote_types(q.dtype, torch.float32)
        freqs, w, th_q, th_k = self._pool_args(q.new_empty((), dtype=acc))
        qa, ka = q.to(acc), k.to(acc)
        # Times and repeated structure positions go through small tables (table_pool.py);
        # positions with too many distinct values are evaluated directly.
        pooled = structure_pool(positions, offset, freqs, qa, ka, w, th_q, th_k, self.pool_rows)
        if pooled is None:
            pos = position_vectors(positions, q.shape[1], offset, q.device, acc)
            pooled = sinusoid_pool(pos, freqs, qa, ka, w, w, th_q, th_k, dense=False,
                                   chunk_tokens=self.pool_rows)
        return pooled[0].to(q.dtype), pooled[1].to(k.dtype)

    @torch.no_grad()
    def token_step(self, code: Any, layer: int, batch: int, like: Tensor) -> TokenSinePool:
        """[FS] Eq. 9 for one token per call (decoding): the diagonal pooling as rotation
        weights, :class:`~stripes.positional.ops.token_pool.TokenSinePool`. ``code`` and
        ``layer`` are unused (deterministic, one module per layer)."""
        freqs, w, th_q, th_k = self._pool_args(like)
        return TokenSinePool(freqs, rotation_weights(w, th_q), rotation_weights(w, th_k),
                             None, None, batch)

    def codes(self, positions: Tensor, length: int | None = None):
        """Explicit ``(P^Q, P^K)`` ``[Bp, T, H, D, 2K]`` in float64 ([FS] Eq. 8); tests, plots."""
        length = positions.shape[1] if length is None else length
        pos = position_vectors(positions, length, 0, None, torch.float64)
        a = 2 * math.pi * torch.einsum("btl,hdkl->bthdk", pos, self.frequencies().double())
        freqs, w, th_q, th_k = self._pool_args(a)
        out = []
        for theta in (th_q, th_k):
            ang = a if theta is None else a + theta
            out.append(torch.cat([ang.cos(), ang.sin()], -1) * w)
        return tuple(out)

    def context_kernel(self, positions_q, positions_k=None, layer=0) -> Tensor:
        """``G_d(p_m, p_n)`` ``[Bp, H, D, T, S]`` ([ST] Eq. 12)."""
        ang = _lag_angles(positions_q, positions_k, self.frequencies())
        theta = self.phases.double()
        if self.key_phases is not None:
            theta = theta - self.key_phases.double()
        lam2 = self.gains().double() ** 2
        return (lam2[..., None, None] * (ang + theta[..., None, None]).cos()).sum(3) / self.n_sines


@register("fstripe1")
class FStrIPE1(FStrIPE):
    """F-StrIPE₁ ([ST] Eq. 15, 20): K = 1, θ = 0, no gains; ``output_dim = 2``.

    Args:
        n_heads, head_dim: H, D.
        position_dim: L.
        learn_frequencies: learn ``f_d``.
        pool_rows: rows (B·C) per chunk.
        signed_frequencies: as :class:`FStrIPE` (default: signed for ``L > 1``).
    """

    def __init__(
        self,
        n_heads: int,
        head_dim: int,
        position_dim: int = 1,
        learn_frequencies: bool = True,
        pool_rows: int = 256,
        signed_frequencies: bool | None = None,
    ):
        super().__init__(n_heads, head_dim, 1, position_dim, False, learn_frequencies, pool_rows,
                         signed_frequencies)
        del self.phases, self.gain_logits  # θ = 0 and the gains live in the projections
        self.phases = self.gain_logits = None  # type: ignore[assignment]

    def gains(self) -> Tensor:
        return self.freq_logits.new_ones(self.n_heads, self.head_dim, 1)

    def _pool_args(self, like: Tensor):
        w = like.new_ones(self.n_heads, self.head_dim, 2)
        return self.frequencies().to(like), w, None, None

    def context_kernel(self, positions_q, positions_k=None, layer=0) -> Tensor:
        """``G_d = cos(ω_dᵀ(p_m − p_n))`` ``[Bp, H, D, T, S]``."""
        return _lag_angles(positions_q, positions_k, self.frequencies())[:, :, :, 0].cos()
