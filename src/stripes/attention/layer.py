"""The attention layer: projections, heads, a positional-encoding hook, softmax or kernelized.

``Attention`` maps ``[B, T, d_model] -> [B, T, d_model]``. Between the projections and the
attention op it calls an optional *query/key transform* (``qk_pe``), the hook where relative and
structural positional encodings act (SPE, F-StrIPE, RoPE, RoPEPool; see ``stripes.positional``).
Its contract: ``qk_pe(q, k, positions=..., **pe_kwargs) -> (q', k')`` on ``[B, T, H, D]`` tensors,
with ``qk_pe.output_dim(D)`` giving the size D' of ``q'`` and ``k'`` (R for SPE, 2K for F-StrIPE,
D/2 for RoPEPool). Kernelized attention then applies its feature map, built for D'.

Decoding: ``forward(..., state=s, output_state=True)`` continues from a previous call. For
kernelized attention the state is ``(S, z)`` (constant size); for softmax it is a KV cache.

Exact softmax attention also takes an additive logit ``bias`` ``[B or 1, H, T, S]`` (``S`` counts
cached keys too), and a ``qk_pe`` with ``adds_bias`` (the quadratic relative baselines of
``stripes.positional.relative``) supplies one from ``qk_pe.bias(positions, key_positions, q)``;
the state then also keeps the key positions. A bias with a low-rank form
(``qk_pe.bias_factors``) is folded into q and k instead, so the fused kernel runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stripes.attention.feature_maps import FEATURE_MAPS, build_feature_map
from stripes.attention.linear import linear_attention
from stripes.attention.precision import autocast_off
from stripes.attention.recurrent import recurrent_linear_attention_step

ATTENTION_KINDS = ("softmax", "linear")


@dataclass
class AttentionConfig:
    """An attention layer as configuration: its fields equal :class:`Attention`'s constructor
    arguments, less the sizes and the PE module, which the model gives to :meth:`build`.

    Attributes:
        kind: ``"softmax"`` (quadratic) or ``"linear"`` (kernelized, O(T)).
        feature_map: φ of linear attention: ``elu1p``, ``relu``, ``favor``, ``favor_hyperbolic``.
        n_features: M for FAVOR (default ``D' log D'``).
        causal: mask the future. chunk_size: C of the chunked causal linear path.
        bias: biases in the projections. feature_seed: seed of FAVOR's projection (a model adds
            the layer index; ``None`` counts as 0 there).
    """

    kind: str = "linear"
    feature_map: str = "elu1p"
    n_features: int | None = None
    causal: bool = True
    chunk_size: int = 64
    bias: bool = False
    feature_seed: int | None = None

    def __post_init__(self):
        if self.kind not in ATTENTION_KINDS:
            raise ValueError(f"kind: unknown attention kind {self.kind!r}; choose from "
                             f"{ATTENTION_KINDS}")
        if self.feature_map not in FEATURE_MAPS:
            raise ValueError(f"feature_map: unknown feature map {self.feature_map!r}; choose "
                             f"from {FEATURE_MAPS}")
        if self.chunk_size < 1 or (self.n_features is not None and self.n_features < 1):
            raise ValueError(f"chunk_size and n_features must be >= 1, got {self.chunk_size} "
                             f"and {self.n_features}")

    def build(self, d_model: int, n_heads: int, qk_pe: nn.Module | None = None) -> Attention:
        """The layer for a model of width ``d_model`` with ``n_heads`` heads."""
        return Attention(d_model, n_heads, **asdict(self), qk_pe=qk_pe)


class Attention(nn.Module):
    """Multi-head attention, exact softmax or kernelized (linear), with a q/k PE hook.

    Args:
        d_model: model width; ``head_dim = d_model // n_heads``.
        n_heads: H.
        kind: ``"softmax"`` (quadratic) or ``"linear"`` (kernelized, O(T)).
        feature_map: for ``kind="linear"``: ``elu1p``, ``relu``, ``favor``, ``favor_hyperbolic``.
        n_features: M for FAVOR (default ``D' log D'``).
        causal: mask the future.
        chunk_size: C of the chunked causal linear path.
        bias: biases in the projections.
        feature_seed: seed of FAVOR's projection.
        qk_pe: optional query/key positional transform (see module docstring).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        kind: str = "linear",
        feature_map: str = "elu1p",
        n_features: int | None = None,
        causal: bool = True,
        chunk_size: int = 64,
        bias: bool = False,
        feature_seed: int | None = None,
        qk_pe: nn.Module | None = None,
    ):
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention kind {kind!r}; choose from {ATTENTION_KINDS}")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.kind, self.causal, self.chunk_size = kind, causal, chunk_size
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.qk_pe = qk_pe
        self.qk_dim = qk_pe.output_dim(self.head_dim) if qk_pe is not None else self.head_dim
        self.phi = (
            build_feature_map(feature_map, self.qk_dim, n_features, feature_seed)
            if kind == "linear"
            else None
        )

    def forward(
        self,
        x: Tensor,
        *,
        positions: Tensor | None = None,
        pe_kwargs: dict | None = None,
        key_padding_mask: Tensor | None = None,
        state: dict | None = None,
        output_state: bool = False,
        bias: Tensor | None = None,
    ) -> tuple[Tensor, dict | None]:
        """Attend over ``x`` (``[B, T, d_model]``), optionally continuing from ``state``.

        Args:
            positions: passed to ``qk_pe``: integer times ``[B or 1, T]`` or structure vectors
                ``[B, T, L]``; ``None`` lets the PE use ``offset + arange(T)``.
            pe_kwargs: extra keyword arguments for ``qk_pe`` (e.g. a shared SPE code).
            key_padding_mask: ``[B, T]`` boolean, ``True`` at padding (training only).
            state: the dict returned by a previous call with ``output_state=True``.
            bias: additive logits ``[B or 1, H, T, S]`` (``kind="softmax"`` only).

        Returns:
            ``(y [B, T, d_model], state or None)``.
        """
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim).unbind(2)
        offset = 0 if state is None else state["offset"]
        if self.qk_pe is not None:
            with autocast_off(q.device):  # PE arithmetic stays float32 (attention.precision)
                wide = torch.promote_types(q.dtype, torch.float32)
                q, k = self.qk_pe(q.to(wide), k.to(wide), positions=positions, offset=offset,
                                  **(pe_kwargs or {}))
        prev = None if state is None else state["attn"]
        extra, factors = {}, None
        if getattr(self.qk_pe, "adds_bias", False):
            bias, factors, extra = self._pe_bias(q, positions, offset, state, bias,
                                                 key_padding_mask)
        if (bias is not None or factors is not None) and self.kind != "softmax":
            raise ValueError(
                "an additive logit bias needs kind='softmax': linear attention never "
                "forms the T×S logits"
            )
        if factors is not None:
            o, new = self._softmax_factored(q, k, v, factors, output_state)
        elif self.kind == "softmax":
            o, new = self._softmax(q, k, v, key_padding_mask, prev, output_state, bias)
        else:
            o, new = self._linear(q, k, v, key_padding_mask, prev, output_state)
        y = self.out(o.reshape(b, t, self.d_model))
        return y, ({"attn": new, "offset": offset + t, **extra} if output_state else None)

    def _pe_bias(self, q, positions, offset, state, bias, key_padding_mask):
        """``(bias, factors, state extras)`` of a bias-producing ``qk_pe``: its low-rank factors
        when it has them and nothing else shapes the logits (no cache, bias or padding), else
        its dense bias (positions of cached keys kept in the state)."""
        b, t = q.shape[:2]
        pos = positions
        if pos is None:
            pos = torch.arange(offset, offset + t, device=q.device)[None]
        if state is None and bias is None and key_padding_mask is None:
            factors = self.qk_pe.bias_factors(pos, pos, q)
            if factors is not None:
                return None, factors, {"positions": pos}
        keys = pos
        if state is not None and "positions" in state:
            past = state["positions"]
            n = max(past.shape[0], pos.shape[0])
            keys = torch.cat([past.expand(n, *past.shape[1:]), pos.expand(n, *pos.shape[1:])], 1)
        extra = self.qk_pe.bias(pos, keys, q)
        return (extra if bias is None else bias + extra), None, {"positions": keys}

    def _linear(self, q, k, v, key_padding_mask, prev, want_state):
        phi_q, phi_k = self.phi(q, is_query=True), self.phi(k, is_query=False)
        if q.shape[1] == 1 and prev is not None and key_padding_mask is None:
            o, new = recurrent_linear_attention_step(phi_q[:, 0], phi_k[:, 0], v[:, 0], prev)
            return o[:, None], new
        return linear_attention(
            phi_q,
            phi_k,
            v,
            causal=self.causal,
            initial_state=prev,
            output_final_state=want_state,
            chunk_size=self.chunk_size,
            key_padding_mask=key_padding_mask,
        )

    def _softmax_factored(self, q, k, v, factors, want_state):
        """Softmax attention with the logit bias ``left · right`` ([B, T, H, U], [B or 1, S, U])
        as U extra dimensions of q and k: ``[q, √D·left] · [k, right] = q·k + √D·bias``, so the
        fused (causal) kernel runs and no ``[T, S]`` tensor is formed; v gains U zero columns
        because the fused CPU kernel wants one head size for q, k and v."""
        left, right = factors
        b, s, h, d = k.shape
        u = left.shape[-1]
        qa = torch.cat([q, (left * math.sqrt(d)).to(q.dtype)], -1)
        ka = torch.cat([k, right[:, :, None].expand(b, s, h, u).to(k.dtype)], -1)
        va = torch.cat([v, v.new_zeros(b, s, h, u)], -1)
        o = F.scaled_dot_product_attention(
            qa.transpose(1, 2), ka.transpose(1, 2), va.transpose(1, 2),
            is_causal=self.causal, scale=1.0 / math.sqrt(d),
        ).transpose(1, 2)
        return o[..., :d], ((k, v) if want_state else None)

    def _softmax(self, q, k, v, key_padding_mask, prev, want_state, bias=None):
        if prev is not None:  # KV cache: new queries see every cached key
            k, v = torch.cat([prev[0], k], dim=1), torch.cat([prev[1], v], dim=1)
        t, s = q.shape[1], k.shape[1]
        mask = None
        if key_padding_mask is not None or (self.causal and t != s) or bias is not None:
            mask = torch.ones(t, s, dtype=torch.bool, device=q.device)
            mask = (mask.tril(s - t) if self.causal else mask)[None, None]
            if key_padding_mask is not None:
                mask = mask & ~key_padding_mask[:, None, None, :]
        if bias is not None:  # a float mask: the bias where visible, -inf elsewhere
            mask = bias.to(q.dtype).masked_fill(~mask, float("-inf"))
        o = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask,
            is_causal=self.causal and mask is None,
            scale=1.0 / math.sqrt(q.shape[-1]),
        ).transpose(1, 2)
        return o, ((k, v) if want_state else None)
