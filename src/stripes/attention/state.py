"""What an attention layer carries between calls, typed: the states of its parallel form and the
buffers of its one-token step, and the hooks through which positional encodings reach it.

- :class:`LinearState` / :class:`SoftmaxState`: what ``Attention.forward(..., output_state=True)``
  returns and takes back as ``state=`` to continue a sequence (the parallel form).
- :class:`LinearStep` / :class:`SoftmaxStep`: what ``Attention.start_step`` prepares for
  ``Attention.step``, the one-token form: the projection weights laid out once as ``[in, out]``
  (a ``1×in`` times ``in×out`` product streams them ~20 % faster than ``nn.Linear``'s layout on
  the CPU), preallocated buffers, the recurrent state updated in place, the PE's one-token form.
  ``state()`` gives the parallel form's state back.
- :class:`QKHook` / :class:`BiasHook`: what the layer needs of a query/key transform and of a
  logit-bias PE (``stripes.positional`` implements them; this package cannot import it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from torch import Tensor

from stripes.attention.kv_cache import KVCache
from stripes.attention.recurrent import split_state
from stripes.types import TokenStep


class QKHook(Protocol):
    """A query/key transform (:class:`stripes.positional.QKTransformPE`)."""

    def output_dim(self, head_dim: int) -> int: ...

    def __call__(self, q: Tensor, k: Tensor, positions: Tensor | None = None, offset: int = 0,
                 code: Any = None, layer: int = 0) -> tuple[Tensor, Tensor]: ...

    def token_step(self, code: Any, layer: int, batch: int, like: Tensor) -> TokenStep: ...


class BiasHook(Protocol):
    """A logit-bias PE (:class:`stripes.positional.RelativeBiasPE`)."""

    @property
    def factored(self) -> bool: ...

    def bias(self, positions: Tensor, key_positions: Tensor | None = None,
             q: Tensor | None = None) -> Tensor: ...

    def bias_factors(self, positions: Tensor, key_positions: Tensor | None = None,
                     q: Tensor | None = None) -> tuple[Tensor, Tensor] | None: ...


@dataclass
class LinearState:
    """Kernelized attention's summary of a prefix of ``offset`` tokens ([SPE] Eq. 10):
    ``s [B, H, M, E]``, ``z [B, H, M]`` (float32 or wider)."""

    offset: int
    s: Tensor
    z: Tensor


@dataclass
class SoftmaxState:
    """Exact attention's cache of a prefix of ``offset`` tokens: ``keys [B, S, H, D']``,
    ``values [B, S, H, E]``, and the keys' positions ``[B or 1, S(, L)]`` when a logit-bias PE
    needs them (else None)."""

    offset: int
    keys: Tensor
    values: Tensor
    key_positions: Tensor | None = None


AttentionState = LinearState | SoftmaxState


@dataclass
class StepWeights:
    """The layer's projections for one token, ``[in, out]`` and contiguous (detached copies:
    build a new step after the weights change). Linear attention's ``qkv`` carries, after q and
    k, each head's value and a one (weights 0, bias 1), so one product gives ``[v, 1]``."""

    qkv: Tensor  # [d_model, N]
    qkv_bias: Tensor  # [N]
    out: Tensor  # [d_model, d_model]
    out_bias: Tensor | None  # [d_model]


@dataclass
class LinearStep:
    """One-token kernelized attention: the augmented state ``[S, z]`` ``[B, H, M, E+1]`` updated
    in place, buffers for the projection ``qkv [B, N]``, the output ``out [B, H, E]`` and the
    numerator/normalizer ``work [B·H, 1, E+1]``."""

    weights: StepWeights
    pe: TokenStep | None
    qkv: Tensor
    augmented: Tensor
    out: Tensor
    work: Tensor

    def state(self, offset: int) -> LinearState:
        """The parallel form's state (copies: the step keeps updating its own)."""
        return LinearState(offset, *split_state(self.augmented))


@dataclass
class SoftmaxStep:
    """One-token exact attention over a preallocated :class:`KVCache`; the keys' positions grow
    with it when a logit-bias PE needs them."""

    weights: StepWeights
    pe: TokenStep | None
    qkv: Tensor
    cache: KVCache
    key_positions: Tensor | None

    def state(self, offset: int) -> SoftmaxState:
        """The parallel form's state (copies)."""
        keys, values = self.cache.as_state()
        return SoftmaxState(offset, keys, values, self.key_positions)


AttentionStep = LinearStep | SoftmaxStep
