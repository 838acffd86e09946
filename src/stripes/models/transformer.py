"""The stripes Transformer: one readable model for harmonization and language modelling.

Pre-norm blocks of (attention + MLP); attention is softmax or kernelized (``stripes.attention``);
the positional encoding is any registered kind (``stripes.positional``): additive PEs act on the
embeddings, query/key PEs inside every attention layer. A stochastic PE (SPE) draws one code per
forward, shared by the batch and, with ``share_pe``, by every layer ([SPE] App. A.2, Fig. 2).

Two forms of one computation, declared by each block (``stripes.models.blocks``):

- ``forward(x, state=s, output_state=True)``, the parallel form: continues a sequence from a
  :class:`ModelState` (each layer's attention state, the offset, the frozen PE code);
- ``step(x_t, decoder)``, the one-token form: a loop over the blocks' ``step`` on buffers that
  :meth:`StripesTransformer.start_decoding` prepares once (what ``generate`` uses). Step-by-step
  decoding equals the parallel forward on the same sequence (tests, for every PE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stripes.attention.state import AttentionState, LinearState
from stripes.config import ConfigError
from stripes.models.blocks import Block, BlockStep, norm_args
from stripes.models.config import ModelConfig
from stripes.positional import AdditivePE, QKTransformPE, RelativeBiasPE
from stripes.positional.base import PE

#: Inductor options of :meth:`StripesTransformer.compile_step`. The C++ wrapper calls the
#: generated kernels and the matrix products from C++ rather than from a generated Python
#: function: a one-token step is a chain of ~50 tiny calls, where the Python wrapper cost
#: 0.05-0.25 of the paired ratio against fast-transformers (docs/performance.md). Costs a longer
#: first compilation.
STEP_COMPILE_OPTIONS: dict[str, str | int | bool | Callable[..., Any]] = {"cpp_wrapper": True}


def check_finite(name: str, tensor: Tensor | None) -> None:
    """Raise a ``ValueError`` naming ``tensor`` and its first NaN/Inf entry, if it has one.

    Floating tensors only (token ids cannot hold NaN); one host sync per call; skipped on the
    meta device, whose tensors hold no values, and inside ``torch.compile`` (no host sync).
    """
    if tensor is None or not tensor.is_floating_point() or tensor.device.type == "meta" or \
            torch.compiler.is_compiling():  # a compiled graph takes no host sync
        return
    finite = torch.isfinite(tensor)
    if bool(finite.all()):
        return
    first = tuple((~finite).nonzero()[0].tolist())
    raise ValueError(f"{name} {list(tensor.shape)} holds NaN or Inf ({int((~finite).sum())} "
                     f"entries, the first at index {first}): clean the input before the model")


@dataclass
class ModelState:
    """Where a sequence stands (the parallel form's state): ``offset`` tokens seen, each layer's
    attention state, the frozen PE code (``draw_pe_code``; None for deterministic PEs)."""

    offset: int
    layers: list[AttentionState]
    code: list[Any] | None


@dataclass
class Decoder:
    """:meth:`StripesTransformer.step`'s state: the offset, the frozen code, each block's step
    buffers, and the model's own (``h [B, d_model]``, ``logits [B, output_dim]``, the head as an
    ``[in, out]`` copy)."""

    offset: int
    code: list[Any] | None
    blocks: list[BlockStep]
    h: Tensor
    logits: Tensor
    head: Tensor
    head_bias: Tensor | None
    norm: tuple

    def state(self) -> ModelState:
        """The parallel form's state (copies), to continue with ``forward``."""
        layers = [b.attn.state(self.offset) for b in self.blocks]
        return ModelState(self.offset, layers, self.code)


class StripesTransformer(nn.Module):
    """Embedding -> (additive PE) -> N blocks (q/k PE inside) -> norm -> linear head.

    Args:
        config: the :class:`ModelConfig` (saved with every checkpoint).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        self.embed = (
            nn.Embedding(c.input_dim, c.d_model)
            if c.input_kind == "tokens"
            else nn.Linear(c.input_dim, c.d_model)
        )
        self.add_pe, qk, bias, blocks = build_stack(c)
        self.qk_pes: list[QKTransformPE] = nn.ModuleList(qk)  # type: ignore[assignment]
        self.bias_pes: list[RelativeBiasPE] = nn.ModuleList(bias)  # type: ignore[assignment]
        self.blocks: list[Block] = nn.ModuleList(blocks)  # type: ignore[assignment]
        self.norm = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.output_dim)

    def draw_pe_code(
        self, length: int, positions: Tensor | None = None,
        generator: torch.Generator | None = None, traceable: bool = False,
    ) -> list[Any] | None:
        """One realization per distinct query/key PE module (one when ``share_pe``), or None.

        Pass it as ``code=`` to evaluate or decode with a frozen realization; with
        ``traceable``, in the form a ``torch.compile``'d model reads for positions ``0 …
        length−1`` (:meth:`~stripes.positional.QKTransformPE.traceable_code`).
        """
        if not any(p.stochastic for p in self.qk_pes):
            return None
        codes = [p.draw_code(length, positions, generator) for p in self.qk_pes]
        if traceable:
            codes = [p.traceable_code(c, length) for p, c in zip(self.qk_pes, codes, strict=True)]
        return codes

    def forward(
        self,
        x: Tensor,
        positions: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        state: ModelState | None = None,
        output_state: bool = False,
        code: list[Any] | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, ModelState | None]:
        """Logits for every step.

        Args:
            x: ``[B, T, input_dim]`` float (pianoroll) or ``[B, T]`` long (tokens).
            positions: ``[B or 1, T]`` times or ``[B, T, L]`` structure vectors of these steps;
                ``None`` means ``offset + arange(T)``.
            key_padding_mask: ``[B, T]``, ``True`` at padding.
            state: from a previous call with ``output_state=True`` (decoding).
            code: a frozen PE realization (:meth:`draw_pe_code`); drawn afresh when ``None``
                (and reused from ``state`` when decoding).
            generator: the noise source of a fresh draw.

        Returns:
            ``(logits [B, T, output_dim], state or None)``.

        Raises:
            ValueError: ``x`` or ``positions`` holds NaN or Inf (chunked attention would spread
                one bad step over its whole chunk, earlier steps included, without a word).
        """
        check_finite("x", x)
        check_finite("positions", positions)
        t = x.shape[1]
        offset = 0 if state is None else state.offset
        if code is None and state is not None:
            code = state.code
        if code is None:
            code = self.draw_pe_code(t, positions, generator)
        h = self.embed(x)
        if self.add_pe is not None:
            h = self.add_pe(h, positions=positions, offset=offset)
        layer_states = []
        for i, block in enumerate(self.blocks):
            h, s = block(
                h,
                positions=positions,
                code=self._layer_code(code, i),
                layer=i,
                key_padding_mask=key_padding_mask,
                state=None if state is None else state.layers[i],
                output_state=output_state,
            )
            layer_states.append(s)
        logits = self.head(self.norm(h))
        if not output_state:
            return logits, None
        return logits, ModelState(offset + t, [s for s in layer_states if s is not None], code)

    def _layer_code(self, code: list[Any] | None, layer: int) -> Any:
        return None if code is None else code[0 if self.config.share_pe else layer]

    # --- the one-token form ---------------------------------------------------------------------

    def decoding_blocker(self) -> str | None:
        """Why :meth:`step` cannot decode this model now (None when it can); the parallel
        ``forward`` serves those cases."""
        ref = self.head.weight
        if self.training:
            return "the model is in training mode (dropout would be skipped)"
        if ref.dtype not in (torch.float32, torch.float64):
            return f"parameters in {ref.dtype} (the step computes in float32 or float64)"
        if _autocast_on(ref.device):
            return "autocast is on (the step computes in the parameters' dtype)"
        if not self.config.attention.causal:
            return "non-causal attention cannot decode one token at a time"
        return None

    def start_decoding(self, state: ModelState, capacity: int | None = None) -> Decoder:
        """The buffers of :meth:`step`, continuing ``state`` (from ``forward(prompt,
        output_state=True)``; its code is kept). ``capacity``: the longest sequence expected
        (softmax caches; default ``config.max_len``). Weights are copied: start again after
        they change.

        Raises:
            ValueError: :meth:`decoding_blocker` names a reason.
        """
        reason = self.decoding_blocker()
        if reason is not None:
            raise ValueError(f"cannot decode this model step by step: {reason}")
        if not state.layers:
            raise ValueError("the state holds no layer: encode a prompt with "
                             "forward(..., output_state=True) first")
        batch = _batch(state.layers[0])
        capacity = max(capacity or self.config.max_len, state.offset + 1)
        ref = self.head.weight
        with torch.no_grad():
            blocks = [b.start_step(state.layers[i], batch, capacity,
                                   self._layer_code(state.code, i), i)
                      for i, b in enumerate(self.blocks)]
            head_bias = None if self.head.bias is None else self.head.bias.detach()
            return Decoder(state.offset, state.code, blocks,
                           ref.new_empty(batch, self.config.d_model),
                           ref.new_empty(batch, self.config.output_dim),
                           ref.detach().t().contiguous(), head_bias, norm_args(self.norm))

    def compile_step(self) -> Callable[..., Tensor]:
        """:meth:`step` through ``torch.compile(fullgraph=True)`` (Inductor,
        :data:`STEP_COMPILE_OPTIONS`): the same function with its elementwise work fused; its
        first two calls compile (the second makes the offset symbolic)."""
        return torch.compile(self.step, fullgraph=True, options=STEP_COMPILE_OPTIONS)

    @torch.no_grad()
    def step(self, x: Tensor, decoder: Decoder, positions: Tensor | None = None) -> Tensor:
        """Logits ``[B, output_dim]`` after one more token: a loop over the blocks' ``step``.

        Args:
            x: ``[B]`` or ``[B, 1]`` token ids (or ``[B, input_dim]`` pianoroll frames).
            decoder: from :meth:`start_decoding`, advanced in place.
            positions: ``[B or 1, 1]`` time or ``[B, 1, L]`` structure vector of this token;
                None means ``decoder.offset``.

        Returns:
            ``decoder.logits``, overwritten by the next call (clone to keep it).
        """
        h = self._embed_token(x, decoder.h)
        if self.add_pe is not None:
            h.copy_(self.add_pe(h[:, None], positions=positions, offset=decoder.offset)[:, 0])
        for block, st in zip(self.blocks, decoder.blocks, strict=True):
            block.step(h, st, decoder.offset, positions)
        x = F.layer_norm(h, *decoder.norm)
        if decoder.head_bias is None:
            torch.mm(x, decoder.head, out=decoder.logits)
        else:
            torch.addmm(decoder.head_bias, x, decoder.head, out=decoder.logits)
        decoder.offset += 1
        return decoder.logits

    def _embed_token(self, x: Tensor, out: Tensor) -> Tensor:
        if isinstance(self.embed, nn.Embedding):
            return torch.index_select(self.embed.weight, 0, x.reshape(-1), out=out)
        frames = x.reshape(x.shape[0], -1).to(out.dtype)
        weight, bias = self.embed.weight, self.embed.bias
        if bias is None:
            return torch.mm(frames, weight.t(), out=out)
        return torch.addmm(bias, frames, weight.t(), out=out)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_pe(config: ModelConfig) -> PE | None:
    """The config's positional encoding (None for ``kind: none``), sized for the model."""
    c = config
    if c.pe.kind == "none":
        return None
    return c.pe.build(d_model=c.d_model, n_heads=c.n_heads, head_dim=c.head_dim,
                      position_dim=c.position_dim, max_len=c.max_len, n_layers=c.n_layers)


def build_stack(config: ModelConfig) -> tuple[AdditivePE | None, list[QKTransformPE],
                                              list[RelativeBiasPE], list[Block]]:
    """The PE modules and the blocks of a model (for every encoder built on these blocks):
    the PE's contract decides where it acts: on the embeddings (additive), on every layer's
    queries and keys, or on every layer's logits (one module per layer unless ``share_pe``)."""
    c = config
    first = build_pe(c)
    add_pe = first if isinstance(first, AdditivePE) else None
    layer_pes = [first] if c.share_pe or add_pe is not None else \
        [first] + [build_pe(c) for _ in range(c.n_layers - 1)]
    qk = [p for p in layer_pes if isinstance(p, QKTransformPE)]
    bias = [p for p in layer_pes if isinstance(p, RelativeBiasPE)]
    blocks = [Block(c.d_model, c.n_heads, c.d_ff or 4 * c.d_model, c.dropout,
                    c.layer_attention(i), _layer_pe(qk, i), _layer_pe(bias, i))
              for i in range(c.n_layers)]
    return add_pe, qk, bias, blocks


def _layer_pe(pes: list, layer: int):
    """Block ``layer``'s PE module of a list holding one (shared) or one per layer (or none)."""
    if not pes:
        return None
    return pes[0] if len(pes) == 1 else pes[layer]


def _batch(state: AttentionState) -> int:
    return (state.s if isinstance(state, LinearState) else state.keys).shape[0]


def _autocast_on(device: torch.device) -> bool:
    try:
        return torch.is_autocast_enabled(device.type)
    except (TypeError, RuntimeError):  # older torch, or a device type without autocast
        return False


def build_model(config: ModelConfig) -> StripesTransformer:
    """The model of ``config``; a size or PE argument its parts refuse becomes a ConfigError
    (one line), raised before a caller writes anything."""
    try:
        return StripesTransformer(config)
    except (TypeError, ValueError, ZeroDivisionError, RuntimeError) as err:  # torch's size errors
        raise ConfigError(f"model: {err}") from None
