"""The positional-encoding contracts, and the ``register`` decorator each family uses.

Every family declares its kind by the contract it subclasses, and what it supports by typed class
attributes and methods of that contract (never discovered by probing):

1. :class:`AdditivePE` — added to the input embeddings: ``forward(x, positions, offset) -> x'``
   on ``[B, T, d_model]`` (NoPE, sinusoidal/learned APE, StructureAPE).
2. :class:`QKTransformPE` — transforms queries and keys inside each attention layer:
   ``forward(q, k, positions, offset, code=None, layer=0) -> (q', k')`` on ``[B, T, H, D]``, where
   ``q', k'`` are ``[B, T, H, D']`` with ``D' = output_dim(D)`` (R for SPE, 2K for F-StrIPE,
   D/2 for RoPEPool, D for RoPE). ``stochastic`` says whether it needs a drawn code;
   ``token_step(...)`` gives its one-token form for decoding (every family has one: the
   default applies ``forward`` to the token, faster families override it).
3. :class:`RelativeBiasPE` — the quadratic baselines ([S24]): leaves q and k alone and adds
   ``bias(positions, key_positions, q) -> [B or 1, H, T, S]`` to the logits of exact softmax
   attention; ``factored`` says whether ``bias_factors`` can write it in low rank.

Positions are explicit: integer times ``[B or 1, T]`` or structure vectors ``[B, T, L]``
(``L = position_dim``). When ``positions`` is ``None`` a PE uses ``offset + arange(T)``, which
is what one-token decoding passes (``offset`` = number of tokens already seen).

Stochastic PEs (SPE) split *drawing* a code from *applying* it ([SPE] App. A.2): a model calls
``draw_code(...)`` once per forward and passes the result to every layer as ``code=``, so one
realization serves the whole batch, every layer, and every decoding step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from stripes.types import TokenStep


class AdditivePE(nn.Module):
    """Contract 1: a PE added to the token embeddings."""

    kind: ClassVar[str] = ""  # the registry name, set by :func:`register`

    def forward(self, x: Tensor, positions: Tensor | None = None, offset: int = 0) -> Tensor:
        """``x [B, T, d_model]`` -> ``x + pe(positions)``, same shape."""
        raise NotImplementedError


class QKTransformPE(nn.Module):
    """Contract 2: a PE that transforms queries and keys inside attention."""

    kind: ClassVar[str] = ""  # the registry name, set by :func:`register`
    stochastic: ClassVar[bool] = False  # True when forward needs a drawn ``code``

    def output_dim(self, head_dim: int) -> int:
        """D', the size of the transformed queries and keys per head."""
        raise NotImplementedError

    def draw_code(
        self, length: int | None = None, positions: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Any:
        """Draw one realization shared by the batch and (optionally) the layers; None if none
        (``length``: the longest sequence it must serve, for families whose code depends on it)."""
        return None

    def traceable_code(self, code: Any, length: int) -> Any:
        """``code`` in a form a ``torch.compile``'d graph can read for positions ``0 …
        length−1`` (the same realization); the code itself for every family but convSPE, whose
        counter-based noise is drawn ahead (a graph cannot create random generators)."""
        return code

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        positions: Tensor | None = None,
        offset: int = 0,
        code: Any = None,
        layer: int = 0,
    ) -> tuple[Tensor, Tensor]:
        """``q, k [B, T, H, D]`` -> ``q', k' [B, T, H, D']``.

        ``layer`` selects per-layer parameters (e.g. SPE gates) when one PE module, and one code,
        are shared by every layer ([SPE] Fig. 2).
        """
        raise NotImplementedError

    def token_step(self, code: Any, layer: int, batch: int, like: Tensor) -> TokenStep:
        """This PE on one token per call, for decoding with ``code`` frozen: a callable
        ``(qk [B, 2, H, D], offset, positions) -> [B, 2, H, D']`` (queries then keys of the
        token; ``positions`` ``[B or 1, 1(, L)]`` or None for ``offset``). The default calls
        :meth:`forward`; families with a faster one-token form override it (``like``: a tensor
        of the dtype and device the decoder computes in; ``batch``: B)."""
        return ForwardTokenStep(self, code, layer)


class ForwardTokenStep:
    """The default one-token form: the PE's own ``forward`` on the token (its decoding caches,
    if it has any, apply). Returns a fresh tensor the caller may overwrite (a PE's outputs could
    alias its caches)."""

    def __init__(self, pe: QKTransformPE, code: Any, layer: int):
        self.pe, self.code, self.layer = pe, code, layer

    def __call__(self, qk: Tensor, offset: int, positions: Tensor | None) -> Tensor:
        q, k = self.pe(qk[:, :1], qk[:, 1:], positions=positions, offset=offset, code=self.code,
                       layer=self.layer)
        return torch.cat([q, k], 1)


class RelativeBiasPE(nn.Module):
    """Contract 3: an additive logit bias for exact (quadratic) softmax attention.

    The attention layer asks for ``bias(positions, key_positions, q)`` (``[B or 1, H, T, S]``,
    added to ``q·k/√D``); q and k are not transformed. Subclasses refuse sizes whose ``T×S``
    tensors exceed ``max_bytes``. With ``factored``, :meth:`bias_factors` writes the bias in low
    rank and the layer folds it into q and k (no ``T×S`` tensor).
    """

    kind: ClassVar[str] = ""  # the registry name, set by :func:`register`
    factored: ClassVar[bool] = False  # True when bias_factors can answer

    def bias(
        self, positions: Tensor, key_positions: Tensor | None = None, q: Tensor | None = None
    ) -> Tensor:
        """``positions [B or 1, T(, L)]`` of the queries, ``key_positions [B or 1, S(, L)]``
        (default: the same), queries ``q [B, T, H, D]`` -> logit bias ``[B or 1, H, T, S]``."""
        raise NotImplementedError

    def bias_factors(
        self, positions: Tensor, key_positions: Tensor | None = None, q: Tensor | None = None
    ) -> tuple[Tensor, Tensor] | None:
        """The bias in low-rank form (``factored`` families): ``(left [B, T, H, U], right [B or
        1, S, U])`` with ``bias[b, h, t, s] = Σ_u left[b, t, h, u] · right[b, s, u]``; ``None``
        when these positions have no small enough form (the layer then uses :meth:`bias`)."""
        return None


#: What a registered kind builds: one of the three contracts.
PE = AdditivePE | QKTransformPE | RelativeBiasPE


def default_positions(batch: int, length: int, offset: int,
                      device: torch.device | None = None) -> Tensor:
    """Integer times ``offset + arange(T)`` as a float ``[1, T]`` tensor (broadcast over B)."""
    return torch.arange(offset, offset + length, device=device, dtype=torch.float32)[None]


def turn_angle(turns: Tensor) -> Tensor:
    """``2π·turns`` reduced modulo one turn, ``turns`` in float64: at times ~10⁴-10⁵ an unreduced
    float32 angle would lose ~10⁻² rad. ``floor`` has zero gradient, so ``d/dturns`` stays 2π."""
    return (2 * math.pi) * (turns - turns.floor())


def frequency_logits(shape: tuple[int, ...], signed: bool) -> Tensor:
    """Initial logits ``ρ [..., L]`` of sinusoid frequencies (sineSPE, F-StrIPE): unsigned ones
    give ``sigmoid(ρ)/2`` with ``ρ ~ N(−4, 1)`` (long periods); signed ones the same magnitudes
    with random signs, through ``tanh(ρ)/2`` (:func:`frequencies_of`)."""
    logits = torch.randn(shape) - 4.0
    if signed:
        sign = torch.randint(0, 2, shape).mul(2).sub(1)
        logits = sign * torch.atanh(torch.sigmoid(logits))
    return logits


def frequencies_of(logits: Tensor, signed: bool) -> Tensor:
    """Frequencies in cycles per unit: ``sigmoid(ρ)/2 ∈ (0, ½)`` or, signed, ``tanh(ρ)/2 ∈
    (−½, ½)`` (structure vectors: both signs of each component, docs/positional.md)."""
    return torch.tanh(logits) / 2 if signed else torch.sigmoid(logits) / 2


def position_vectors(
    positions: Tensor | None,
    length: int,
    offset: int = 0,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Normalise positions to structure vectors ``[B or 1, T, L]`` in ``dtype``.

    ``None`` gives ``offset + arange(T)`` (``L = 1``); integer times ``[B or 1, T]`` get ``L = 1``;
    ``[B or 1, T, L]`` pass through. Trigonometric PEs call this with at least float32.
    """
    if positions is None:
        return default_positions(1, length, offset, device)[..., None].to(dtype)
    if positions.dim() == 2:
        positions = positions[..., None]
    if positions.dim() != 3 or positions.shape[1] != length:
        raise ValueError(
            f"positions must be [B or 1, T] or [B or 1, T, L] with T={length}; "
            f"got {tuple(positions.shape)}"
        )
    return positions.to(device=device, dtype=dtype)


_REGISTRY: dict[str, Callable[..., PE]] = {}


def register(kind: str) -> Callable[[type], type]:
    """Class decorator: make a PE buildable as ``build_positional(kind, ...)``."""

    def wrap(cls: type) -> type:
        if kind in _REGISTRY:
            raise ValueError(f"positional encoding kind {kind!r} registered twice")
        _REGISTRY[kind] = cls
        setattr(cls, "kind", kind)  # noqa: B010 (the class attribute each contract declares)
        return cls

    return wrap
