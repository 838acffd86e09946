"""RoPE and RoPEPool ([ST] Eq. 8-10, 14, 23-26): rotate each pair of q, k by ``θ_i(t) = ω_iᵀ p_t``.

Pairs are ``(2i, 2i+1)`` (0-based; ``(2i−1, 2i)`` in the paper's 1-based notation), i.e.
adjacent features, rotated as one complex multiplication ``(x_2i + i x_2i+1)·e^{iθ_i}``: a single
fused elementwise pass over q and k with a cached ``e^{iθ}`` table (docs/performance.md: naive
rotations cost 30-100 % of attention).

Frequencies ``ω [Hf, D/2, L]`` (radians per unit position), variants:

- ``"A"``: fixed geometric ``ω_i = base^{−2i/D}`` (base 10000), shared by heads (``Hf = 1``).
- ``"B"``: fixed, different per head, our choice: each head shifts the geometric grid by a
  fraction of one step, ``ω_{h,i} = base^{−2(i + h/H)/D}``, so the H heads together sample the
  same range ``[base^{-1}, 1]`` H times more densely and no two heads share a frequency.
- ``"C"``: learned per head (``nn.Parameter``, initialised as A).

Structure vectors ``p_t ∈ R^L`` (``L = position_dim > 1``, ``structure_map="levels"``, the
default; :func:`structure_frequencies`): every level reaches at least one of the ``M = D/2``
pairs. With ``c = min(M, L)``, pair i carries the levels ``l ≡ i (mod c)``: one level per pair
when ``M ≥ L`` (pair i follows level ``i mod L``), several per pair when ``M < L`` (level l on
pair ``l mod M``, the r-th of them, ``r = l div M``, scaled by ``3^{−r}`` so that bit differences
``Δ ∈ {−1, 0, 1}`` of the levels sharing a pair give distinct angles, as balanced ternary digits).
Each level gets its own geometric grid over its pairs, spanning one decade (``vector_base``,
default 10) instead of ``base``: the j-th pair of a level (``j = i div c``, ``n = ⌈M/c⌉`` ranks)
rotates by ``vector_base^{−(j + s_h)/n}`` radians per unit, ``s_h = h/H`` for B and 0 for A, so in
A (and in B's head 0) a 0/1 bit turns its first pair by ``3^{−r}`` rad: 1 rad when ``M ≥ L``, never
the ≤ 0.03 rad that the global grid gives most levels. C learns full vectors
``ω_i ∈ R^L`` from A's start. ``structure_map="legacy"`` keeps the map before issue 12 (pair i
follows level ``i mod L`` at ``base^{−2i/D}``: with ``M < L`` levels ``M…L−1`` never rotate).
Trigonometry runs in float32 at least (float64 for the cached tables). Tables are cached
for the fixed variants with integer positions (``None`` or an integer dtype); float or vector
positions and variant C compute them per call.

RoPE's logits (Eq. 14) carry only lag terms ``cos Δ⁻, sin Δ⁻``, ``Δ⁻ = θ(p_m) − θ(p_n)``.
RoPEPool (docs/math.md §3, our per-pair derivation) pools each rotated pair to one number,
``u_i(a) = a_2i (cos θ_i + sin θ_i) + a_2i+1 (cos θ_i − sin θ_i)``, ``output_dim = D/2``, so that
``q̂_m·k̂_n = Σ_i cosΔ⁻(a1b1 + a2b2) + sinΔ⁻(a1b2 − a2b1) + cosΔ⁺(a1b2 + a2b1) + sinΔ⁺(a1b1 − a2b2)``
(Eq. 23, ``Δ⁺ = θ(p_m) + θ(p_n)``); on unit-norm pairs ``a = e^{iα}, b = e^{iβ}`` each term is
``cos(α − β + Δ⁻) + sin(α + β + Δ⁺)`` (Eq. 24-26): not shift-invariant.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from stripes.positional.base import (
    QKTransformPE,
    TokenStep,
    position_vectors,
    register,
    turn_angle,
)
from stripes.positional.ops.rotary_step import RotaryTokenStep

ROPE_VARIANTS = ("A", "B", "C")
COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


STRUCTURE_MAPS = ("levels", "legacy")


def rope_frequencies(
    variant: str, n_heads: int, head_dim: int, position_dim: int = 1, base: float = 10000.0,
    structure_map: str = "levels", vector_base: float = 10.0,
) -> Tensor:
    """``ω [Hf, D/2, L]`` of variant A or B (C starts from A), float64 (module docstring).

    Times (``L = 1``) and ``structure_map="legacy"``: the global grid ``base^{−2(i + s_h)/D}``,
    pair i on level ``i mod L``. Structure vectors: :func:`structure_frequencies`."""
    if structure_map not in STRUCTURE_MAPS:
        raise ValueError(f"structure_map must be one of {STRUCTURE_MAPS}, not {structure_map!r}")
    if position_dim > 1 and structure_map == "levels":
        return structure_frequencies(variant, n_heads, head_dim, position_dim, vector_base)
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    omega = base ** (-2 * (i[None] + _head_shift(variant, n_heads)) / head_dim)  # [Hf, D/2]
    if variant == "C":
        omega = omega.expand(n_heads, -1)
    axial = torch.nn.functional.one_hot(torch.arange(head_dim // 2) % position_dim, position_dim)
    return omega[..., None] * axial.to(torch.float64)


def structure_frequencies(variant: str, n_heads: int, head_dim: int, position_dim: int,
                          vector_base: float = 10.0) -> Tensor:
    """``ω [Hf, M, L]`` for structure vectors, every level on at least one pair (issue 12).

    ``c = min(M, L)``; pair i carries levels ``l ≡ i (mod c)`` with weight ``3^{−(l div M)}``, at
    ``vector_base^{−(i div c + s_h)/⌈M/c⌉}`` radians per unit (module docstring)."""
    m, dim = head_dim // 2, position_dim
    c = min(m, dim)
    i, level = torch.arange(m), torch.arange(dim)
    carries = (i[:, None] % c == level[None] % c).to(torch.float64)  # [M, L]
    share = 3.0 ** -(level // m).to(torch.float64)  # r-th level on a pair: a ternary digit
    ranks = -(-m // c)
    rank = (i // c).to(torch.float64)
    omega = vector_base ** (-(rank[None] + _head_shift(variant, n_heads)) / ranks)  # [Hf, M]
    if variant == "C":
        omega = omega.expand(n_heads, -1)
    return omega[..., None] * (carries * share)


def _head_shift(variant: str, n_heads: int) -> Tensor:
    """``s_h [Hf, 1]``: ``h/H`` for B (each head shifts the grid by a fraction of a step), or 0."""
    if variant == "B":
        return torch.arange(n_heads, dtype=torch.float64)[:, None] / n_heads
    return torch.zeros(1, 1, dtype=torch.float64)


class _RotaryBase(QKTransformPE):
    """Frequencies, cached tables and the angle computation shared by RoPE and RoPEPool."""

    pools: ClassVar[bool] = False  # RoPEPool keeps one number per pair

    def __init__(self, n_heads, head_dim, variant, base, position_dim, max_len,
                 structure_map="levels", vector_base=10.0):
        super().__init__()
        if variant not in ROPE_VARIANTS or head_dim % 2:
            raise ValueError(f"variant in {ROPE_VARIANTS} and even head_dim; got {variant!r}, "
                             f"{head_dim}")
        self.n_heads, self.head_dim, self.variant = n_heads, head_dim, variant
        self.position_dim, self.max_len = position_dim, max_len
        self.structure_map = structure_map
        omega = rope_frequencies(variant, n_heads, head_dim, position_dim, base, structure_map,
                                 vector_base)
        if variant == "C":
            self.omega = nn.Parameter(omega.float())
        else:
            self.register_buffer("omega", omega, persistent=False)
        # not a buffer: a complex table would not follow .to(dtype); keyed on (device, dtype)
        self._cache: Tensor | None = None
        self._cache_key: tuple | None = None

    def angles(self, positions: Tensor | None, length: int, offset: int = 0) -> Tensor:
        """``θ = ωᵀp`` ``[Bp, T, Hf, D/2]`` (float32 at least), reduced modulo one turn in
        float64: at p ~ 10⁴ an unreduced float32 angle is off by ~10⁻³ rad, so a one-token
        step would drift from the parallel row (:func:`turn_angle`; gradients flow to ω)."""
        acc = torch.promote_types(self.omega.dtype, torch.float32)
        pos = position_vectors(positions, length, offset, self.omega.device, torch.float64)
        turns = torch.einsum("btl,hil->bthi", pos, self.omega.double()) / (2 * math.pi)
        return turn_angle(turns).to(acc)

    def _table(self, positions: Tensor | None, length: int, offset: int, dtype) -> Tensor:
        """The per-position table of :meth:`_encode` ``[Bp, T, Hf, …]`` (``dtype``: the real
        precision), cached for the fixed variants with integer times."""
        vector = positions is not None and positions.dim() == 3
        integral = positions is None or not positions.is_floating_point()
        if self.variant == "C" and positions is None and self.position_dim == 1 and length > 512:
            return self._encode(self._learned_times(length, offset, dtype))
        # under torch.compile explicit times are evaluated directly (sizing the table would
        # need a host sync); the table holds the same float64-reduced angles
        explicit_compiled = positions is not None and torch.compiler.is_compiling()
        if self.variant == "C" or self.position_dim != 1 or vector or not integral or \
                explicit_compiled:
            return self._encode(self._phase(self.angles(positions, length, offset), dtype))
        need = offset + length if positions is None else int(positions.max()) + 1
        key = (self.omega.device, dtype)  # a CPU table must not serve after .to(device)
        if self._cache is None or self._cache.shape[0] < need or self._cache_key != key:
            n = max(need, self.max_len, 0 if self._cache is None else 2 * self._cache.shape[0])
            t = torch.arange(n, dtype=torch.float64, device=self.omega.device)
            ang = t[:, None, None] * self.omega[None, :, :, 0].double()  # [N, Hf, D/2]
            self._cache = self._encode(self._phase(ang, dtype))
            self._cache_key = key
        if positions is None:
            return self._cache[offset : offset + length][None]
        return self._cache[positions.long()]

    def _learned_times(self, length: int, offset: int, dtype, c: int = 256) -> Tensor:
        """``e^{iθ}`` ``[1, T, Hf, D/2]`` (complex) for times ``offset + t`` and learned ω, without
        ``T·H·D/2`` sinusoids: ``e^{iω(s+gC+r)} = e^{iω(s+gC)} e^{iωr}``, two small tables and one
        complex product (autograd flows to ω through both). Angles in float64, reduced mod 2π."""
        omega = self.omega[..., 0]  # [Hf, D/2]
        g = -(-length // c)
        turns = (offset + c * torch.arange(g, dtype=torch.float64, device=omega.device))[
            :, None, None] * omega.double() / (2 * math.pi)
        base = torch.polar(torch.ones_like(turns), turn_angle(turns))
        r = torch.arange(c, dtype=torch.float64, device=omega.device)[:, None, None]
        r = turn_angle(r * omega.double() / (2 * math.pi)).to(omega.dtype)  # float32 ω·r: 1e-5
        step = torch.polar(torch.ones_like(r), r)
        e = (base.to(step.dtype)[:, None] * step[None]).flatten(0, 1)[:length][None]
        return e.to(COMPLEX[dtype])

    @staticmethod
    def _phase(ang: Tensor, dtype) -> Tensor:
        """``e^{iθ}`` as complex of ``dtype``'s precision (trig in the wider of the two)."""
        ang = ang.to(torch.promote_types(ang.dtype, dtype))
        return torch.complex(ang.cos().to(dtype), ang.sin().to(dtype))

    def _encode(self, phase: Tensor) -> Tensor:
        """The table :meth:`forward` multiplies pairs by, from ``e^{iθ}``."""
        raise NotImplementedError

    def token_step(self, code: Any, layer: int, batch: int, like: Tensor) -> TokenStep:
        """One token at an integer time: one complex product (in real arithmetic) with a row
        read off this module (:class:`~stripes.positional.ops.rotary_step.RotaryTokenStep`)."""
        return RotaryTokenStep(self, self.pools, self.n_heads, self.head_dim, code, layer, batch,
                               like, self.max_len)


@register("rope")
class RoPE(_RotaryBase):
    """Rotary PE, ``q, k [B, T, H, D] -> [B, T, H, D]`` (``output_dim = D``).

    Args:
        n_heads, head_dim: H, D (even).
        variant: ``"A"``, ``"B"`` or ``"C"`` (module docstring).
        base: geometric base of A and B (10000).
        position_dim: L.
        max_len: initial length of the cached tables (they grow on demand).
        structure_map: ``"levels"`` (every level of a structure vector on some pair, own grid
            per level) or ``"legacy"`` (the map before issue 12); times are the same in both.
        vector_base: ratio of a level's first to its last frequency for structure vectors.
    """

    def __init__(self, n_heads: int, head_dim: int, variant: str = "A", base: float = 10000.0,
                 position_dim: int = 1, max_len: int = 2048, structure_map: str = "levels",
                 vector_base: float = 10.0):
        super().__init__(n_heads, head_dim, variant, base, position_dim, max_len, structure_map,
                         vector_base)

    def output_dim(self, head_dim: int) -> int:
        return head_dim

    def _encode(self, phase: Tensor) -> Tensor:
        return phase

    def forward(self, q, k, positions=None, offset=0, code=None, layer=0):
        """Rotate every pair of q and k by its angle ([ST] Eq. 8-10)."""
        acc = torch.promote_types(q.dtype, torch.float32)
        rot = self._table(positions, q.shape[1], offset, acc)
        return _rotate(q, rot), _rotate(k, rot)


@register("rope_pool")
class RoPEPool(_RotaryBase):
    """RoPEPool, ``q, k [B, T, H, D] -> [B, T, H, D/2]`` ([ST] Eq. 23, 26; same args as RoPE)."""

    pools = True

    def __init__(self, n_heads: int, head_dim: int, variant: str = "A", base: float = 10000.0,
                 position_dim: int = 1, max_len: int = 2048, structure_map: str = "levels",
                 vector_base: float = 10.0):
        super().__init__(n_heads, head_dim, variant, base, position_dim, max_len, structure_map,
                         vector_base)

    def output_dim(self, head_dim: int) -> int:
        return head_dim // 2

    def _encode(self, phase: Tensor) -> Tensor:
        # Re((a_2i + i a_2i+1)(x − i y)) = a_2i x + a_2i+1 y with x = cos + sin, y = cos − sin,
        # and x − i y = (cos + i sin)(1 − i) (exact: the products are by ±1)
        return phase * (1 - 1j)

    def forward(self, q, k, positions=None, offset=0, code=None, layer=0):
        """``u_i = a_2i (cos θ_i + sin θ_i) + a_2i+1 (cos θ_i − sin θ_i)`` for q and k: the real
        part of one complex multiply, ``[B, T, H, D/2]``."""
        acc = torch.promote_types(q.dtype, torch.float32)
        w = self._table(positions, q.shape[1], offset, acc)
        return _pool_pairs(q, w), _pool_pairs(k, w)


def _pairs(x: Tensor) -> Tensor:
    return x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2)


def _rotate(x: Tensor, rot: Tensor) -> Tensor:
    """``x [B, T, H, D]`` times ``e^{iθ}`` ``[Bp, T, Hf, D/2]`` pairwise, one fused pass."""
    return _complex_product(x, rot).flatten(-2).to(x.dtype)


def _pool_pairs(x: Tensor, w: Tensor) -> Tensor:
    """``x [B, T, H, D]``, complex ``w [Bp, T, Hf, D/2]`` -> ``Re(x_c · w)`` ``[B, T, H, D/2]``."""
    # contiguous: the strided real-part view would slow every later pass over q̂, k̂
    return _complex_product(x, w)[..., 0].to(x.dtype).contiguous()


def _complex_product(x: Tensor, w: Tensor) -> Tensor:
    """``(x_2i + i x_2i+1) · w_i`` as ``[..., D/2, 2]`` (real, imaginary), one fused pass."""
    pairs = _pairs(x)
    # a complex view needs even strides and offset; a compiled graph cannot read the offset
    # (the compiler plans its own layouts), so it always asks for the contiguous form
    if torch.compiler.is_compiling() or pairs.stride(-1) != 1 or \
            any(s % 2 for s in pairs.stride()[:-1]) or pairs.storage_offset() % 2:
        pairs = pairs.contiguous()
    return torch.view_as_real(torch.view_as_complex(pairs.to(w.real.dtype)) * w)
