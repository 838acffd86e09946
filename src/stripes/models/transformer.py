"""The stripes Transformer: one readable model for harmonization and language modelling.

Pre-norm blocks of (attention + MLP); attention is softmax or kernelized (``stripes.attention``);
the positional encoding is any registered kind (``stripes.positional``): additive PEs act on the
embeddings, query/key PEs inside every attention layer. A stochastic PE (SPE) draws one code per
forward, shared by the batch and, with ``share_pe``, by every layer ([SPE] App. A.2, Fig. 2).

Decoding: ``forward(x_new, state=s, output_state=True)`` continues a sequence; the state carries
each layer's attention state (constant-size for linear attention), the offset, and the frozen PE
code, so step-by-step decoding equals the parallel forward on the same sequence. That step is the
readable reference; :class:`~stripes.models.lean_decoder.LeanDecoder` computes the same function
from the same state with static buffers (what ``generate`` uses).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stripes.models.config import ModelConfig
from stripes.positional import AdditivePE, QKTransformPE


def check_finite(name: str, tensor: Tensor | None) -> None:
    """Raise a ``ValueError`` naming ``tensor`` and its first NaN/Inf entry, if it has one.

    Floating tensors only (token ids cannot hold NaN); one host sync per call; skipped on the
    meta device, whose tensors hold no values.
    """
    if tensor is None or not tensor.is_floating_point() or tensor.device.type == "meta":
        return
    finite = torch.isfinite(tensor)
    if bool(finite.all()):
        return
    first = tuple((~finite).nonzero()[0].tolist())
    raise ValueError(f"{name} {list(tensor.shape)} holds NaN or Inf ({int((~finite).sum())} "
                     f"entries, the first at index {first}): clean the input before the model")


class MLP(nn.Module):
    """``[B, T, d_model] -> [B, T, d_model]``: Linear, GELU, Linear."""

    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.up, self.down = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    """Pre-norm residual block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, config: ModelConfig, layer: int, qk_pe: nn.Module | None):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(config.d_model), nn.LayerNorm(config.d_model)
        self.attn = config.layer_attention(layer).build(config.d_model, config.n_heads, qk_pe)
        self.mlp = MLP(config.d_model, config.d_ff or 4 * config.d_model, config.dropout)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, **attn_kwargs: Any) -> tuple[Tensor, dict | None]:
        y, state = self.attn(self.norm1(x), **attn_kwargs)
        x = x + self.dropout(y)
        return x + self.mlp(self.norm2(x)), state


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
        pes = [self._build_pe()]
        self.add_pe = pes[0] if isinstance(pes[0], AdditivePE) else None
        if self.add_pe is None and not c.share_pe:
            pes += [self._build_pe() for _ in range(c.n_layers - 1)]
        qk = [p if isinstance(p, QKTransformPE) else None for p in pes]
        self.qk_pes = nn.ModuleList([p for p in qk if p is not None])
        self.blocks = nn.ModuleList(
            Block(c, i, qk[0] if c.share_pe else qk[i]) for i in range(c.n_layers)
        )
        self.norm = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.output_dim)

    def _build_pe(self) -> nn.Module | None:
        c = self.config
        if c.pe.kind == "none":
            return None
        return c.pe.build(
            d_model=c.d_model,
            n_heads=c.n_heads,
            head_dim=c.head_dim,
            position_dim=c.position_dim,
            max_len=c.max_len,
            n_layers=c.n_layers,
        )

    def draw_pe_code(
        self, length: int, positions: Tensor | None = None, generator: torch.Generator | None = None
    ) -> list[Any] | None:
        """One realization per distinct query/key PE module (one when ``share_pe``), or None.

        Pass it as ``code=`` to evaluate or decode with a frozen realization.
        """
        if not any(getattr(p, "stochastic", False) for p in self.qk_pes):
            return None
        return [p.draw_code(length, positions, generator) for p in self.qk_pes]

    def forward(
        self,
        x: Tensor,
        positions: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        state: dict | None = None,
        output_state: bool = False,
        code: list[Any] | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, dict | None]:
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
        offset = 0 if state is None else state["offset"]
        if code is None and state is not None:
            code = state["code"]
        if code is None:
            code = self.draw_pe_code(t, positions, generator)
        h = self.embed(x)
        if self.add_pe is not None:
            h = self.add_pe(h, positions=positions, offset=offset)
        layer_states = []
        for i, block in enumerate(self.blocks):
            pe_kwargs = {"layer": i}
            if code is not None:
                pe_kwargs["code"] = code[0 if self.config.share_pe else i]
            h, s = block(
                h,
                positions=positions,
                pe_kwargs=pe_kwargs,
                key_padding_mask=key_padding_mask,
                state=None if state is None else state["layers"][i],
                output_state=output_state,
            )
            layer_states.append(s)
        logits = self.head(self.norm(h))
        if not output_state:
            return logits, None
        return logits, {"offset": offset + t, "layers": layer_states, "code": code}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
