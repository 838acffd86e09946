"""The Transformer's block: pre-norm attention and MLP, each with its parallel form and its
one-token step declared together (the step works in place on buffers prepared once).

- :class:`MLP`: ``forward`` on ``[B, T, d_model]``; ``step`` adds ``mlp(x)`` for one token into
  the residual through :class:`MLPStep` (weights ``[in, out]``, the second bias riding on a
  column of ones of the hidden buffer, GELU in place).
- :class:`Block`: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``; ``step`` does the same on
  ``h [B, d_model]`` in place, through the attention layer's own
  :meth:`~stripes.attention.Attention.step`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stripes.attention import Attention, AttentionConfig
from stripes.attention.state import AttentionState, AttentionStep, BiasHook, QKHook
from stripes.tracing import call_into


@dataclass
class MLPStep:
    """:meth:`MLP.step`'s weights and buffer: ``up [d_model, F]``, ``up_bias [F]`` or None,
    ``down [F+1, d_model]`` (its last row the down bias), ``hidden [B, F+1]`` (last column 1)."""

    up: Tensor
    up_bias: Tensor | None
    down: Tensor
    hidden: Tensor


class MLP(nn.Module):
    """``[B, T, d_model] -> [B, T, d_model]``: Linear, GELU, Linear."""

    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.up, self.down = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))

    @torch.no_grad()
    def start_step(self, batch: int) -> MLPStep:
        """Buffers and ``[in, out]`` weight copies for :meth:`step` (eval mode: no dropout)."""
        down = self.down.weight.detach().t()
        down_bias = (self.down.bias.detach() if self.down.bias is not None
                     else down.new_zeros(down.shape[1]))
        up_bias = None if self.up.bias is None else self.up.bias.detach()
        return MLPStep(self.up.weight.detach().t().contiguous(), up_bias,
                       torch.cat([down, down_bias[None]]).contiguous(),
                       down.new_ones(batch, self.up.out_features + 1))

    def step(self, x: Tensor, st: MLPStep, residual: Tensor) -> None:
        """``residual [B, d_model] += mlp(x [B, d_model])`` in place."""
        hidden = st.hidden[:, :-1]
        if st.up_bias is None:
            call_into(torch.mm, x, st.up, out=hidden)
        else:
            call_into(torch.addmm, st.up_bias, x, st.up, out=hidden)
        if torch.compiler.is_compiling():  # the private in-place GELU is not traced
            hidden.copy_(F.gelu(hidden))
        else:
            torch._C._nn.gelu_(hidden)  # type: ignore[attr-defined]  # in place; not in stubs
        residual.addmm_(st.hidden, st.down)


@dataclass
class BlockStep:
    """:meth:`Block.step`'s state: the attention's and the MLP's, and the two layer norms'
    arguments (read once: a step is bound by per-op overhead)."""

    attn: AttentionStep
    mlp: MLPStep
    norm1: tuple
    norm2: tuple


class Block(nn.Module):
    """Pre-norm residual block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``.

    Args:
        d_model, n_heads, d_ff, dropout: widths, heads and dropout of the block.
        attention: its attention layer's configuration.
        qk_pe, bias_pe: the layer's positional hooks (shared between blocks or not).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float,
                 attention: AttentionConfig, qk_pe: QKHook | None = None,
                 bias_pe: BiasHook | None = None):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn: Attention = attention.build(d_model, n_heads, qk_pe, bias_pe)
        self.mlp = MLP(d_model, d_ff, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, **attn_kwargs: Any) -> tuple[Tensor, AttentionState | None]:
        """``x [B, T, d_model]`` -> ``(x', attention state or None)``; ``attn_kwargs`` go to
        :meth:`~stripes.attention.Attention.forward`."""
        y, state = self.attn(self.norm1(x), **attn_kwargs)
        x = x + self.dropout(y)
        return x + self.mlp(self.norm2(x)), state

    def start_step(self, state: AttentionState | None, batch: int, capacity: int, code: Any,
                   layer: int) -> BlockStep:
        """The buffers of :meth:`step`, continuing the attention ``state``."""
        return BlockStep(self.attn.start_step(state, batch, capacity, code, layer),
                         self.mlp.start_step(batch), norm_args(self.norm1),
                         norm_args(self.norm2))

    def step(self, h: Tensor, st: BlockStep, offset: int, positions: Tensor | None) -> None:
        """One token, in place on ``h [B, d_model]``; equals :meth:`forward` on it in eval mode."""
        self.attn.step(F.layer_norm(h, *st.norm1), st.attn, offset, positions, residual=h)
        self.mlp.step(F.layer_norm(h, *st.norm2), st.mlp, residual=h)


def norm_args(norm: nn.LayerNorm) -> tuple:
    """``F.layer_norm``'s arguments after the input: shape, weight, bias, eps (detached)."""
    bias = None if norm.bias is None else norm.bias.detach()
    return norm.normalized_shape, norm.weight.detach(), bias, norm.eps
