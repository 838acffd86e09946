"""Absolute PEs added to the token embeddings: NoPE, sinusoidal, learned, structure.

All map ``x [B, T, d_model] -> x + e(positions)``; positions default to ``offset + arange(T)``, so
one-token decoding passes ``offset = tokens seen``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from stripes.positional.base import AdditivePE, default_positions, register

SINE_BASES = (7920.0, 9919.0, 10001.0, 11339.0)  # [S24]'s per-structure bases


def sinusoid_embedding(values: Tensor, dim: int, base: float = 10000.0) -> Tensor:
    """Vaswani et al.'s table: ``e_{2i} = sin(v/base^{2i/dim})``, ``e_{2i+1} = cos(…)``.

    ``values [...]`` (any real numbers) -> ``[..., dim]``, computed in float32 at least; one
    sine or cosine per entry.
    """
    acc = torch.promote_types(values.dtype, torch.float32)
    i = torch.arange(0, dim, 2, device=values.device, dtype=torch.float64)
    ang = values.to(acc)[..., None] * (base ** (-i / dim)).to(acc)
    return torch.stack([ang.sin(), ang.cos()], dim=-1).flatten(-2)[..., :dim]


def _times(x: Tensor, positions: Tensor | None, offset: int) -> Tensor:
    """Positions ``[B or 1, T]`` (default ``offset + arange(T)``)."""
    if positions is None:
        return default_positions(x.shape[0], x.shape[1], offset, x.device)
    if positions.dim() != 2 or positions.shape[1] != x.shape[1]:
        raise ValueError(
            f"positions must be [B or 1, T={x.shape[1]}]; got {tuple(positions.shape)}"
        )
    return positions


def _value_range(idx: Tensor, dim: int | None = None):
    """``(min, max)`` of integer ``idx`` (overall, or along ``dim`` as lists) in one host sync;
    ``(None, None)`` on the meta device, whose tensors hold no values to check, and under
    ``torch.compile``, where a host sync would break the graph (the range checks are then the
    eager model's: run it once eagerly to check new data)."""
    if idx.device.type == "meta" or torch.compiler.is_compiling():
        return None, None  # no values (meta), or a compiled graph: no host sync, no check
    lo, hi = torch.stack(idx.aminmax() if dim is None else idx.aminmax(dim=dim)).tolist()
    return lo, hi


@register("none")
class NoPE(AdditivePE):
    """No positional encoding: the identity (causal masking alone carries order)."""

    def __init__(self):
        super().__init__()

    def forward(self, x: Tensor, positions: Tensor | None = None, offset: int = 0) -> Tensor:
        return x


@register("sinusoidal")
class SinusoidalAPE(AdditivePE):
    """Sinusoidal APE (Vaswani et al. 2017). It extrapolates: the sinusoids are defined at every
    position, and the table cached for integer positions grows on demand beyond ``max_len``
    (float positions are evaluated directly).

    Args:
        d_model: embedding size.
        max_len: initial length of the cached table.
        base: 10000.
    """

    def __init__(self, d_model: int, max_len: int | None = None, base: float = 10000.0):
        super().__init__()
        self.d_model, self.base, self.max_len = d_model, base, max_len or 0
        self._cache: Tensor | None = None  # for times offset + arange(T), on x's device and dtype

    def forward(self, x: Tensor, positions: Tensor | None = None, offset: int = 0) -> Tensor:
        if positions is not None and positions.is_floating_point():
            e = sinusoid_embedding(_times(x, positions, offset), self.d_model, self.base)
            return x + e.to(x.dtype)
        if positions is not None and torch.compiler.is_compiling():
            # no host sync to size the table: the float64 sinusoids the table holds, directly
            e = sinusoid_embedding(_times(x, positions, offset).double(), self.d_model, self.base)
            return x + e.to(x.dtype)
        # explicit integer positions size the table with one host sync (evaluating them
        # directly would need float64 sinusoids to match the table at large positions)
        if positions is None:
            need = offset + x.shape[1]
        else:
            hi = _value_range(positions)[1]
            need = 1 if hi is None else hi + 1
        cache = self._cache
        if cache is None or cache.shape[0] < need or (cache.device, cache.dtype) != (
                x.device, x.dtype):
            n = max(need, self.max_len, 0 if cache is None else 2 * cache.shape[0])
            t = torch.arange(n, dtype=torch.float64, device=x.device)
            self._cache = sinusoid_embedding(t, self.d_model, self.base).to(x.dtype)
        table = self._cache
        assert table is not None
        if positions is None:
            return x + table[offset : offset + x.shape[1]]
        return x + table[_times(x, positions, offset).long()]


@register("learned")
class LearnedAPE(AdditivePE):
    """Learned APE: a table of ``max_len`` embeddings; positions outside it raise an error.

    Args:
        d_model: embedding size.
        max_len: number of table entries (positions ``0 … max_len−1``).
    """

    def __init__(self, d_model: int, max_len: int = 2048):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.table.weight, std=0.02)

    def forward(self, x: Tensor, positions: Tensor | None = None, offset: int = 0) -> Tensor:
        if positions is None:  # the range is known without looking at a tensor
            lo, hi = offset, offset + x.shape[1] - 1
            idx = torch.arange(offset, hi + 1, device=x.device)[None]
        else:
            idx = _times(x, positions, offset).long()
            lo, hi = _value_range(idx)
        if lo is not None and (lo < 0 or hi >= self.max_len):
            raise ValueError(
                f"learned APE has a table of {self.max_len} positions (0..{self.max_len - 1}); "
                f"got positions {lo}..{hi}: use a longer max_len or a "
                "PE that extrapolates (sinusoidal, RoPE, SPE, F-StrIPE)"
            )
        return x + self.table(idx).to(x.dtype)


@register("structure_ape")
class StructureAPE(AdditivePE):
    """StructureAPE ([S24]): the sum over L structure levels of an embedding of each label.

    ``positions`` are integer labels ``[B, T, L]`` (or ``[B, T]`` for L = 1), e.g. tempo bucket,
    section, chord id, melody pitch. ``mode="learned"``: one ``nn.Embedding(vocab_sizes[l])`` per
    level (labels outside a vocabulary raise an error). ``mode="sinusoidal"``: the sinusoid of
    each label value with a per-structure base (``bases``, default [S24]'s 7920, 9919, 10001,
    11339, then ``10000·1.1^l``).

    Args:
        d_model: embedding size.
        vocab_sizes: per-level vocabulary sizes (learned mode).
        mode: ``learned`` or ``sinusoidal``.
        bases: per-level bases (sinusoidal mode).
        position_dim: L (defaults to ``len(vocab_sizes)`` when given).
    """

    def __init__(
        self,
        d_model: int,
        vocab_sizes: Sequence[int] | None = None,
        mode: str = "learned",
        bases: Sequence[float] | None = None,
        position_dim: int = 1,
    ):
        super().__init__()
        if mode not in ("learned", "sinusoidal") or (mode == "learned" and not vocab_sizes):
            raise ValueError(f"mode 'learned' (with vocab_sizes) or 'sinusoidal'; got {mode!r}")
        self.levels = len(vocab_sizes) if vocab_sizes else position_dim
        self.d_model, self.mode = d_model, mode
        self.vocab_sizes = list(vocab_sizes or [])
        default = [SINE_BASES[i] if i < 4 else 10000.0 * 1.1**i for i in range(self.levels)]
        self.bases = list(bases or default)
        if mode == "learned":
            tables = [nn.Embedding(v, d_model) for v in self.vocab_sizes]
            for t in tables:
                nn.init.normal_(t.weight, std=0.02)
            self.tables = nn.ModuleList(tables)

    def forward(self, x: Tensor, positions: Tensor | None = None, offset: int = 0) -> Tensor:
        """``positions``: labels ``[B or 1, T, L]`` (required)."""
        labels = self._labels(x, positions)
        if self.mode == "learned":
            return x + self._embed_learned(labels).to(x.dtype)
        e = sinusoid_embedding(labels[..., 0], self.d_model, self.bases[0])
        for lvl in range(1, self.levels):
            e = e + sinusoid_embedding(labels[..., lvl], self.d_model, self.bases[lvl])
        return x + e.to(x.dtype)

    def _labels(self, x: Tensor, positions: Tensor | None) -> Tensor:
        if positions is None:
            raise ValueError("StructureAPE needs structure labels: positions [B, T, L]")
        labels = positions[..., None] if positions.dim() == 2 else positions
        if labels.shape[1] != x.shape[1] or labels.shape[-1] != self.levels:
            raise ValueError(f"labels must be [B, T={x.shape[1]}, L={self.levels}]; "
                             f"got {tuple(positions.shape)}")
        return labels

    def _embed_learned(self, labels: Tensor) -> Tensor:
        """``Σ_l E_l[labels[..., l]]`` ``[B, T, d_model]`` in one gather-and-sum (an embedding
        bag over the concatenated tables: no per-level ``[B, T, d_model]`` temporaries)."""
        idx = labels.long()
        lo, hi = _value_range(idx.flatten(0, -2), dim=0)
        for lvl, size in enumerate(self.vocab_sizes if lo is not None else ()):
            if lo[lvl] < 0 or hi[lvl] >= size:
                raise ValueError(f"level {lvl} labels must lie in 0..{size - 1} (vocab_sizes"
                                 f"[{lvl}]={size}); got {lo[lvl]}..{hi[lvl]}")
        starts = torch.tensor([0, *self.vocab_sizes[:-1]], device=idx.device).cumsum(0)
        weight = torch.cat([cast(nn.Embedding, t).weight for t in self.tables])
        bags = F.embedding_bag((idx + starts).reshape(-1, self.levels), weight, mode="sum")
        return bags.view(*idx.shape[:-1], self.d_model)


__all__ = ["LearnedAPE", "NoPE", "SinusoidalAPE", "StructureAPE", "sinusoid_embedding"]
