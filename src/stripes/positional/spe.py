"""Stochastic Positional Encoding ([SPE] Sec. 2): sineSPE, convSPE, gating, shareable codes.

Per head h and feature d, codes ``Q̄_d, K̄_d ∈ R^{T×R}`` with ``E[Q̄_d K̄_dᵀ]/R = P_d`` are pooled
into ``q̂_m = Σ_d q_md Q̄_d(m) / (DR)^{1/4}`` (Eq. 16-17, likewise k̂), by contraction: the
``B·T·H·D·R`` product of the official code is never formed (:mod:`stripes.positional.ops.pooling`
for sineSPE; a banded block matmul for convSPE).

Scaling: the ``(DR)^{-1/4}`` of Eq. 16-17 is applied here, inside the pooling, so
``E[q̂_m·k̂_n] = √(R/D) Σ_d q_md P_d(m,n) k_nd``. The attention layer then applies its own
temperature for ``D' = R`` (softmax: ``1/√R``; FAVOR: ``x/R^{1/4}`` per side), which gives the
paper's ``exp(Σ_d q_md P_d k_nd / √D)`` (Eq. 8). Pointwise maps (elu+1, relu) have no temperature.

Codes ([SPE] App. A.2): ``draw_code(length, positions, generator, n_realizations)`` draws once per
forward, shared by the batch and by every layer (pass ``code=`` to each); ``freeze(code)`` keeps one
realization for evaluation and decoding. ``R`` may change at call time through ``n_realizations``.

Gating (Eq. 23-25), our one convention: ``δ_d = sigmoid(g_{layer,h,d})`` is the weight of the
position-free part, ``Q̄'_d = √(1−δ_d) Q̄_d + √δ_d ε_d`` and ``K̄'_d = √(1−δ_d) K̄_d + √δ_d ε_d`` with
one ``ε_d ~ N(0, I_R)`` drawn with the code (so it is frozen with it), hence
``P'_d = δ_d + (1−δ_d) P_d``. One gate per layer (``n_layers`` of them) since codes are shared.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stripes.positional.base import (
    ForwardTokenStep,
    QKTransformPE,
    TokenStep,
    frequencies_of,
    frequency_logits,
    position_vectors,
    register,
)
from stripes.positional.ops.pooling import pool_prepared, prepare_pool
from stripes.positional.ops.spe_noise import SineCode, draw_noise
from stripes.positional.ops.token_pool import TokenSinePool


class SPE(QKTransformPE):
    """What sineSPE and convSPE share: R, gates per layer, code resolution, the gate term."""

    stochastic = True

    def __init__(
        self, n_heads: int, head_dim: int, n_realizations: int, gated: bool, n_layers: int
    ):
        super().__init__()
        self.n_heads, self.head_dim, self.n_realizations = n_heads, head_dim, n_realizations
        self.gated = gated
        self.gate = nn.Parameter(torch.randn(n_layers, n_heads, head_dim)) if gated else None
        self.frozen_code = None

    def _cache_tag(self, like: Tensor) -> tuple:
        """What decoding caches kept in a code are valid for: dtype, device and the parameters'
        versions (an optimizer step bumps them)."""
        return like.dtype, like.device, tuple(p._version for p in self.parameters())

    def output_dim(self, head_dim: int) -> int:
        return self.n_realizations

    def freeze(self, code=None, generator: torch.Generator | None = None):
        """Keep one realization (given, or drawn now) for every call without ``code=``."""
        self.frozen_code = code if code is not None else self.draw_code(None, generator=generator)
        return self.frozen_code

    def unfreeze(self) -> None:
        self.frozen_code = None

    def gate_weight(self, layer: int = 0) -> Tensor:
        """``δ = sigmoid(g_layer) [H, D]``, the weight of the position-free part (Eq. 23)."""
        if self.gate is None:
            raise ValueError("this SPE is not gated")
        if not 0 <= layer < self.gate.shape[0]:
            raise IndexError(f"layer {layer} out of range: this SPE has {self.gate.shape[0]} gates")
        return torch.sigmoid(self.gate[layer])

    def _resolve(self, code, length: int, positions: Tensor | None):
        if code is None:
            code = self.frozen_code
        return code if code is not None else self.draw_code(length, positions)

    def context_kernel(self, positions_q: Tensor, positions_k: Tensor | None = None,
                       layer: int = 0) -> Tensor:
        """The expected positional kernel ``P_d(p_m, p_n)`` ``[Bp, H, D, T, S]`` (each family's
        own closed form, [SPE] Eq. 8)."""
        raise NotImplementedError

    def _gate_noise(
        self, r: int, generator: torch.Generator | None, device: torch.device | None = None
    ) -> Tensor | None:
        """``ε [H, D, R]`` on the generator's device, else on ``device`` (None when not gated)."""
        if not self.gated:
            return None
        device = generator.device if generator is not None else device
        return torch.randn(self.n_heads, self.head_dim, r, generator=generator, device=device)

    def _gate_weights(self, code, layer: int, like: Tensor) -> Tensor:
        """``√δ_d ε_d / (DR)^{1/4}`` ``[H, D, R]``: what the gate adds to Eq. 16-17 per feature."""
        r = code.n_realizations
        eps = code.gate_noise.to(like)
        return self.gate_weight(layer).to(like).sqrt()[..., None] * eps * (
            self.head_dim * r) ** -0.25

    def _gate_term(self, x: Tensor, code, layer: int) -> Tensor:
        """``Σ_d x_d √δ_d ε_d / (DR)^{1/4}`` ``[B, T, H, R]``: the gate's share of Eq. 16-17."""
        return torch.einsum("bthd,hdr->bthr", x, self._gate_weights(code, layer, x))

    def _dry(self, layer: int, like: Tensor) -> Tensor:
        """``√(1−δ) [H, D]`` (ones when not gated)."""
        if not self.gated:
            return like.new_ones(self.n_heads, self.head_dim)
        return (1 - self.gate_weight(layer)).to(like).sqrt()


@register("sine_spe")
class SineSPE(SPE):
    """sineSPE ([SPE] Eq. 18-21), also F-StrIPE:SFF when ``position_dim = L > 1`` ([FS]).

    Per (h, d): frequencies ``f_k = sigmoid(ρ_k)/2 ∈ (0, ½)^L`` (structure vectors, as in
    :class:`~stripes.positional.structure.FStrIPE`: signed, ``tanh(ρ_k)/2 ∈ (−½, ½)^L``), phases
    ``θ_k`` (queries only),
    gains ``λ_k = softplus(γ_k)``; ``Q̄_d(m) = Ω(p_m; f, θ) diag(λ̈) Z_d / √(2K)``,
    ``K̄_d(n) = Ω(p_n; f, 0) diag(λ̈) Z_d / √(2K)``, so
    ``P_d(m, n) = Σ_k λ_k² cos(2π f_kᵀ(p_m − p_n) + θ_k) / (2K)``.

    Args:
        n_heads, head_dim: H, D.
        n_sines: K.
        n_realizations: R (default of :meth:`draw_code`; ``output_dim``).
        position_dim: L (1: times; > 1: structure vectors, F-StrIPE:SFF).
        gated, n_layers: gating (module docstring) with one gate per layer.
        noise: ``gaussian`` (paper) or ``orthogonal`` (exact kernel per d when ``R ≥ 2K``).
        pool_rows: rows (B·C) per chunk of the pooling.
        signed_frequencies: as F-StrIPE's (default: signed for ``L > 1``).
    """

    def __init__(
        self,
        n_heads: int,
        head_dim: int,
        n_sines: int = 5,
        n_realizations: int = 64,
        position_dim: int = 1,
        gated: bool = False,
        n_layers: int = 1,
        noise: str = "gaussian",
        pool_rows: int = 256,
        signed_frequencies: bool | None = None,
    ):
        super().__init__(n_heads, head_dim, n_realizations, gated, n_layers)
        if noise not in ("gaussian", "orthogonal"):
            raise ValueError(f"sineSPE noise must be 'gaussian' or 'orthogonal', got {noise!r}")
        self.n_sines, self.position_dim, self.noise, self.pool_rows = (
            n_sines, position_dim, noise, pool_rows
        )
        shape = (n_heads, head_dim, n_sines)
        self.signed = position_dim > 1 if signed_frequencies is None else bool(signed_frequencies)
        self.freq_logits = nn.Parameter(frequency_logits((*shape, position_dim), self.signed))
        self.phases = nn.Parameter(torch.randn(shape))
        self.gain_logits = nn.Parameter(torch.full(shape, math.log(math.e - 1)))  # λ = 1

    def frequencies(self) -> Tensor:
        """``f [H, D, K, L]`` in cycles per unit position, each entry in ``(0, ½)`` (signed:
        ``(−½, ½)``)."""
        return frequencies_of(self.freq_logits, self.signed)

    def gains(self) -> Tensor:
        """``λ [H, D, K]``, positive."""
        return F.softplus(self.gain_logits)

    def draw_code(self, length=None, positions=None, generator=None, n_realizations=None):
        """A :class:`SineCode`: position-free, so it serves any length and every decoding step."""
        r = n_realizations or self.n_realizations
        dev = self.phases.device  # drawn there unless a generator (on its own device) is given
        shape = (self.n_heads, self.head_dim, 2 * self.n_sines, r)
        z = draw_noise(self.noise, shape, generator, dev)
        eps = self._gate_noise(r, generator, dev)
        return SineCode(z.to(dev), None if eps is None else eps.to(dev))

    def weights(self, code: SineCode, layer: int = 0, like: Tensor | None = None):
        """``(W_q, W_k)`` ``[H, D·2K, R]`` with ``Q̄_d(m) = Ω(p_m; f, 0) W_q[d]`` up to the scale.

        ``Ω(a + θ) = Ω(a) Rot(θ)``, so the query phases, the gains, the noise, the gate's
        ``√(1−δ)`` and the ``1/(√(2K)(DR)^{1/4})`` scale all fold into these small matrices.
        """
        like = self.phases if like is None else like
        lam = self.gains().to(like)[..., None]
        c, s = self.phases.to(like).cos()[..., None], self.phases.to(like).sin()[..., None]
        z = code.noise.to(like)
        zc, zs = z[:, :, : self.n_sines], z[:, :, self.n_sines :]
        r = z.shape[-1]
        scale = (2 * self.n_sines) ** -0.5 * (self.head_dim * r) ** -0.25
        dry = self._dry(layer, like)[..., None, None] * scale
        w_k = torch.cat([lam * zc, lam * zs], dim=2) * dry
        w_q = torch.cat([lam * (c * zc + s * zs), lam * (c * zs - s * zc)], dim=2) * dry
        return w_q.flatten(1, 2), w_k.flatten(1, 2)

    def forward(self, q, k, positions=None, offset=0, code=None, layer=0):
        """``q, k [B, T, H, D]`` -> ``q̂, k̂ [B, T, H, R]`` (Eq. 16-17, chunked contraction)."""
        code = self._resolve(code, q.shape[1], positions)
        acc = torch.promote_types(q.dtype, torch.float32)
        pos = position_vectors(positions, q.shape[1], offset, q.device, acc)
        prepared = self._prepared(code, layer, q.new_empty((), dtype=acc), q.shape[1])
        qh, kh = pool_prepared(pos, prepared, q.to(acc), k.to(acc), dense=True,
                               chunk_tokens=self.pool_rows,
                               start=offset if positions is None else None)
        if self.gated:
            qh, kh = qh + self._gate_term(q.to(acc), code, layer), kh + self._gate_term(
                k.to(acc), code, layer)
        return qh.to(q.dtype), kh.to(k.dtype)

    @torch.no_grad()
    def token_step(self, code: SineCode | None, layer: int, batch: int,
                   like: Tensor) -> TokenStep:
        """Eq. 16-17 for one token per call with this code frozen (decoding; gate term on the
        constant column), :class:`~stripes.positional.ops.token_pool.TokenSinePool`; without a
        code (each call draws its own) the module's own call."""
        code = code if code is not None else self.frozen_code
        if code is None:
            return ForwardTokenStep(self, code, layer)
        w_q, w_k = self.weights(code, layer, like)
        shape = (self.n_heads, self.head_dim, 2 * self.n_sines, code.n_realizations)
        bias = self._gate_weights(code, layer, like) if self.gated else None
        return TokenSinePool(self.frequencies().to(like), w_q.view(shape), w_k.view(shape),
                             bias, bias, batch)

    def _prepared(self, code: SineCode, layer: int, like: Tensor, length: int) -> tuple:
        """Pooling weights in the layout of :func:`pool_prepared`. Decoding (no gradient, fewer
        than ``pool_rows`` tokens) keeps them in the code per layer, tagged with the parameters'
        versions: rebuilding ``W`` each step would cost more than the step's pooling."""
        def build():
            w_q, w_k = self.weights(code, layer, like)
            return prepare_pool(self.frequencies().to(like), w_q, w_k, dense=True)

        trains = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
        if trains or length >= self.pool_rows:
            return build()
        key = (id(self), layer)
        tag = self._cache_tag(like)
        if code.prepared.get(key, (None,))[0] != tag:
            code.prepared[key] = (tag, build())
        return code.prepared[key][1]

    def codes(self, code: SineCode, positions=None, length=None, layer=0):
        """Explicit ``(Q̄, K̄) [Bp, T, H, D, R]`` (gated, without the ``(DR)^{-1/4}``); tests only."""
        pos = position_vectors(positions, length or positions.shape[1], 0, self.phases.device,
                               torch.float64)
        a = 2 * math.pi * torch.einsum("btl,hdkl->bthdk", pos, self.frequencies().double())
        lam = self.gains().double()
        z = code.noise.double() * (2 * self.n_sines) ** -0.5
        bars = []
        for phase in (self.phases.double(), None):
            ang = a if phase is None else a + phase
            omega = torch.cat([ang.cos() * lam, ang.sin() * lam], dim=-1)
            bars.append(torch.einsum("bthdj,hdjr->bthdr", omega, z))
        if self.gated:
            delta = self.gate_weight(layer).double()[..., None]
            eps = code.gate_noise
            assert eps is not None  # a gated SPE draws gate noise
            bars = [(1 - delta).sqrt() * b + delta.sqrt() * eps.double() for b in bars]
        return tuple(bars)

    def context_kernel(self, positions_q, positions_k=None, layer=0) -> Tensor:
        """Analytic ``P'_d(p_m, p_n)`` ``[Bp, H, D, T, S]`` (Eq. 21, gating Eq. 25)."""
        positions_k = positions_q if positions_k is None else positions_k
        acc = torch.float64
        pq = position_vectors(positions_q, positions_q.shape[1], 0, None, acc)
        pk = position_vectors(positions_k, positions_k.shape[1], 0, None, acc)
        f = self.frequencies().to(acc)
        lag = torch.einsum("btl,hdkl->bhdkt", pq, f)[..., None] - torch.einsum(
            "bsl,hdkl->bhdks", pk, f)[..., None, :]
        ang = 2 * math.pi * lag + self.phases.to(acc)[None, ..., None, None]
        lam2 = self.gains().to(acc)[None, ..., None, None] ** 2
        kern = (lam2 * ang.cos()).sum(3) / (2 * self.n_sines)
        if self.gated:
            delta = self.gate_weight(layer).to(acc)[None, ..., None, None]
            kern = delta + (1 - delta) * kern
        return kern

