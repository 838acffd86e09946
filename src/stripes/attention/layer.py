"""The attention layer: projections, heads, a positional-encoding hook, softmax or kernelized.

``Attention`` maps ``[B, T, d_model] -> [B, T, d_model]``. Its computation has three declared
forms, side by side in one class:

- :meth:`Attention.forward`, the parallel form (training, prompts; continues from a typed
  :class:`~stripes.attention.state.LinearState` or ``SoftmaxState``);
- :meth:`Attention.step`, the one-token form for decoding, in place on the buffers of a
  :class:`~stripes.attention.state.LinearStep` or ``SoftmaxStep`` (:meth:`start_step`);
- :meth:`Attention.scores`, the inspection view: the explicit ``[B, H, T, S]`` scores.

Positional encodings reach it through two hooks (``stripes.attention.state``): a query/key
transform ``qk_pe`` (SPE, F-StrIPE, RoPE, RoPEPool: ``q, k [B, T, H, D] -> [B, T, H, D']``,
``D' = qk_pe.output_dim(D)``; kernelized attention builds its feature map for D') and a logit
bias ``bias_pe`` (the quadratic relative baselines, exact softmax only: ``bias(positions,
key_positions, q) -> [B or 1, H, T, S]``, folded into q and k when it has a low-rank form).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stripes.attention.feature_maps import FEATURE_MAPS, build_feature_map
from stripes.attention.kv_cache import KVCache
from stripes.attention.linear import linear_attention
from stripes.attention.precision import autocast_off
from stripes.attention.recurrent import (
    augment_state,
    recurrent_linear_attention_step,
    recurrent_linear_attention_step_,
)
from stripes.attention.state import (
    AttentionState,
    AttentionStep,
    BiasHook,
    LinearState,
    LinearStep,
    QKHook,
    SoftmaxState,
    SoftmaxStep,
    StepWeights,
)

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

    def build(self, d_model: int, n_heads: int, qk_pe: QKHook | None = None,
              bias_pe: BiasHook | None = None) -> Attention:
        """The layer for a model of width ``d_model`` with ``n_heads`` heads."""
        return Attention(d_model, n_heads, **asdict(self), qk_pe=qk_pe, bias_pe=bias_pe)


class Attention(nn.Module):
    """Multi-head attention, exact softmax or kernelized (linear), with two PE hooks.

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
        qk_pe: optional query/key positional transform (module docstring).
        bias_pe: optional logit-bias PE (``kind="softmax"`` only).
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
        qk_pe: QKHook | None = None,
        bias_pe: BiasHook | None = None,
    ):
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention kind {kind!r}; choose from {ATTENTION_KINDS}")
        if n_heads < 1 or d_model < 1 or d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if bias_pe is not None and kind != "softmax":
            raise ValueError("a logit-bias PE needs kind='softmax': linear attention never "
                             "forms the T×S logits")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.kind, self.causal, self.chunk_size = kind, causal, chunk_size
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.qk_pe, self.bias_pe = qk_pe, bias_pe
        self.qk_dim = qk_pe.output_dim(self.head_dim) if qk_pe is not None else self.head_dim
        self.phi = (
            build_feature_map(feature_map, self.qk_dim, n_features, feature_seed)
            if kind == "linear"
            else None
        )

    # --- the parallel form ----------------------------------------------------------------------

    def forward(
        self,
        x: Tensor,
        *,
        positions: Tensor | None = None,
        code: Any = None,
        layer: int = 0,
        key_padding_mask: Tensor | None = None,
        state: AttentionState | None = None,
        output_state: bool = False,
        bias: Tensor | None = None,
    ) -> tuple[Tensor, AttentionState | None]:
        """Attend over ``x`` (``[B, T, d_model]``), optionally continuing from ``state``.

        Args:
            positions: for the PEs: integer times ``[B or 1, T]`` or structure vectors
                ``[B, T, L]``; ``None`` lets them use ``offset + arange(T)``.
            code, layer: the frozen PE realization and this layer's index (``qk_pe``).
            key_padding_mask: ``[B, T]`` boolean, ``True`` at padding (no ``state``).
            state: returned by a previous call with ``output_state=True``.
            bias: additive logits ``[B or 1, H, T, S]`` (``kind="softmax"`` only).

        Returns:
            ``(y [B, T, d_model], state or None)``.
        """
        b, t, _ = x.shape
        offset = 0 if state is None else state.offset
        q, k, v = self.project(x, positions, offset, code, layer)
        if bias is not None and self.kind != "softmax":
            raise ValueError("an additive logit bias needs kind='softmax': linear attention "
                             "never forms the T×S logits")
        if self.kind == "linear":
            o, linear = self._linear(q, k, v, key_padding_mask, _linear_prev(state), output_state)
            new: AttentionState | None = None if linear is None else LinearState(offset + t,
                                                                                   *linear)
        else:
            o, new = self._softmax_forward(q, k, v, positions, offset, key_padding_mask,
                                           _softmax_prev(state), output_state, bias)
        return self.out(o.reshape(b, t, self.d_model)), new

    def project(self, x: Tensor, positions: Tensor | None, offset: int, code: Any, layer: int
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """``q', k' [B, T, H, D']`` (after ``qk_pe``) and ``v [B, T, H, E]`` of ``x``."""
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim).unbind(2)
        if self.qk_pe is not None:
            with autocast_off(q.device):  # PE arithmetic stays float32 (attention.precision)
                wide = torch.promote_types(q.dtype, torch.float32)
                q, k = self.qk_pe(q.to(wide), k.to(wide), positions=positions, offset=offset,
                                  code=code, layer=layer)
        return q, k, v

    def _softmax_forward(self, q, k, v, positions, offset, key_padding_mask, prev, want_state,
                         bias) -> tuple[Tensor, SoftmaxState | None]:
        """Exact attention with the ``bias_pe`` logits folded in (low rank when possible)."""
        key_positions = None
        if self.bias_pe is not None:
            pos = _times(positions, offset, q)
            key_positions = pos if prev is None else _join(prev.key_positions, pos)
            factors = None
            if prev is None and bias is None and key_padding_mask is None and \
                    self.bias_pe.factored:
                factors = self.bias_pe.bias_factors(pos, pos, q)
            if factors is not None:
                o, kv = self._softmax_factored(q, k, v, factors, want_state)
                return o, _softmax_state(offset + q.shape[1], kv, key_positions)
            extra = self.bias_pe.bias(pos, key_positions, q)
            bias = extra if bias is None else bias + extra
        past = None if prev is None else (prev.keys, prev.values)
        o, kv = self._softmax(q, k, v, key_padding_mask, past, want_state, bias)
        return o, _softmax_state(offset + q.shape[1], kv, key_positions)

    # --- the one-token form ---------------------------------------------------------------------

    @torch.no_grad()
    def start_step(self, state: AttentionState | None, batch: int, capacity: int, code: Any,
                   layer: int) -> AttentionStep:
        """The buffers :meth:`step` works in, continuing ``state`` (None: an empty prefix).

        ``capacity``: the longest sequence expected (softmax cache; it grows when exceeded).
        The weights are copied: start again after they change."""
        ref = self.qkv.weight
        pe = None if self.qk_pe is None else self.qk_pe.token_step(code, layer, batch, ref)
        h, d = self.n_heads, self.head_dim
        if self.kind == "linear":
            assert self.phi is not None
            weights = self._step_weights(value_ones=True)
            acc = torch.promote_types(ref.dtype, torch.float32)
            prev = _linear_prev(state)
            augmented = augment_state(None if prev is None else (prev.s, prev.z), batch, h,
                                      self.phi.output_dim, d, acc, ref.device)
            return LinearStep(weights, pe, ref.new_empty(batch, weights.qkv.shape[1]),
                              augmented, ref.new_empty(batch, h, d),
                              ref.new_empty(batch * h, 1, d + 1))
        weights = self._step_weights(value_ones=False)
        soft = _softmax_prev(state)
        if soft is None:
            cache = KVCache(batch, h, self.qk_dim, d, capacity, ref.dtype, ref.device)
            key_positions = None
        else:
            cache = KVCache.from_state(soft.keys, soft.values, capacity)
            key_positions = soft.key_positions
        return SoftmaxStep(weights, pe, ref.new_empty(batch, weights.qkv.shape[1]), cache,
                           key_positions)

    def step(self, x: Tensor, st: AttentionStep, offset: int, positions: Tensor | None,
             residual: Tensor) -> None:
        """One token: ``residual [B, d_model] += attention(x [B, d_model])`` in place, the
        state in ``st`` advanced; ``offset``: tokens before this one; ``positions``
        ``[B or 1, 1(, L)]`` or None (the PEs use ``offset``). Equals :meth:`forward` on the
        token with the state :meth:`start_step` continued (tests compare them)."""
        w = st.weights
        torch.addmm(w.qkv_bias, x, w.qkv, out=st.qkv)
        b, h, d = x.shape[0], self.n_heads, self.head_dim
        qk = st.qkv[:, : 2 * h * d].view(b, 2, h, d)
        if st.pe is not None:
            qk = st.pe(qk, offset, positions)
        if isinstance(st, LinearStep):
            assert self.phi is not None
            fq, fk = self.phi.featurize_pair_(qk)
            v1 = st.qkv[:, 2 * h * d : 2 * h * d + h * (d + 1)].view(b, h, d + 1)
            o = recurrent_linear_attention_step_(fq, fk, v1, st.augmented, st.out, work=st.work)
        else:
            st.cache.append(qk[:, 1], st.qkv[:, 2 * h * d :].view(b, h, d))
            o = st.cache.attend(qk[:, 0], 1.0 / math.sqrt(self.qk_dim),
                                self._step_bias(st, qk, offset, positions))
        residual.addmm_(o.view(b, h * d), w.out)
        if w.out_bias is not None:
            residual.add_(w.out_bias)

    def _step_bias(self, st: SoftmaxStep, qk: Tensor, offset: int, positions: Tensor | None
                   ) -> Tensor | None:
        """The ``bias_pe`` logits of the token against every cached key ``[B or 1, H, 1, S]``."""
        if self.bias_pe is None:
            return None
        q = qk[:, :1]  # [B, 1, H, D] (the token as a sequence of one)
        pos = _times(positions, offset, q)
        st.key_positions = pos if st.key_positions is None else _join(st.key_positions, pos)
        return self.bias_pe.bias(pos, st.key_positions, q)

    def _step_weights(self, value_ones: bool) -> StepWeights:
        """The projections as ``[in, out]`` copies; with ``value_ones`` each head's value gains a
        one (zero weights, bias 1: linear attention's normalizer rides on it), and the width
        stays even (complex views of q and k need even strides)."""
        w, b = _in_out(self.qkv), _bias(self.qkv)
        if value_ones:
            dm, h, e = self.d_model, self.n_heads, self.head_dim
            w_v, b_v = w[:, 2 * dm :].reshape(dm, h, e), b[2 * dm :].reshape(h, e)
            w1 = torch.cat([w_v, w_v.new_zeros(dm, h, 1)], -1).reshape(dm, -1)
            b1 = torch.cat([b_v, b_v.new_ones(h, 1)], -1).reshape(-1)
            w, b = torch.cat([w[:, : 2 * dm], w1], 1), torch.cat([b[: 2 * dm], b1])
        if w.shape[1] % 2:
            w, b = torch.cat([w, w.new_zeros(w.shape[0], 1)], 1), torch.cat([b, b.new_zeros(1)])
        out_bias = None if self.out.bias is None else self.out.bias.detach()
        return StepWeights(w.contiguous(), b.contiguous(), _in_out(self.out), out_bias)

    # --- the inspection view --------------------------------------------------------------------

    @torch.no_grad()
    def scores(self, x: Tensor, *, positions: Tensor | None = None, code: Any = None,
               layer: int = 0, bias: Tensor | None = None) -> tuple[Tensor, bool]:
        """The explicit scores ``[B, H, T, T]`` (float64) of ``x [B, T, d_model]`` and whether they
        are logits: softmax gives ``q'·k'/√D'`` plus the PE's and the given bias (``-inf`` where
        masked); linear gives ``φ(q')·φ(k')`` (0 where masked). Row-normalising them (softmax:
        after ``exp``) and applying them to ``v`` gives :meth:`forward` (tests check it)."""
        q, k, _ = self.project(x, positions, 0, code, layer)
        t = q.shape[1]
        visible = torch.ones(t, t, dtype=torch.bool, device=q.device)
        visible = visible.tril() if self.causal else visible
        if self.phi is not None:
            phi_q, phi_k = self.phi(q, is_query=True), self.phi(k, is_query=False)
            scores = torch.einsum("bthm,bshm->bhts", phi_q.double(), phi_k.double())
            return scores * visible, False
        logits = torch.einsum("bthd,bshd->bhts", q.double(), k.double()) / math.sqrt(q.shape[-1])
        if self.bias_pe is not None:
            pos = _times(positions, 0, q)
            logits = logits + self.bias_pe.bias(pos, pos, q).double()
        if bias is not None:
            logits = logits + bias.double()
        return logits.masked_fill(~visible, float("-inf")), True

    # --- the attention ops ----------------------------------------------------------------------

    def _linear(self, q, k, v, key_padding_mask, prev: LinearState | None, want_state):
        assert self.phi is not None
        phi_q, phi_k = self.phi(q, is_query=True), self.phi(k, is_query=False)
        initial = None if prev is None else (prev.s, prev.z)
        if q.shape[1] == 1 and initial is not None and key_padding_mask is None:
            o, new = recurrent_linear_attention_step(phi_q[:, 0], phi_k[:, 0], v[:, 0], initial)
            return o[:, None], new
        return linear_attention(
            phi_q,
            phi_k,
            v,
            causal=self.causal,
            initial_state=initial,
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
            assert mask is not None  # built above whenever a bias is given
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


def _linear_prev(state: AttentionState | None) -> LinearState | None:
    if state is None or isinstance(state, LinearState):
        return state
    raise TypeError(f"kernelized attention continues a LinearState, got {type(state).__name__}")


def _softmax_prev(state: AttentionState | None) -> SoftmaxState | None:
    if state is None or isinstance(state, SoftmaxState):
        return state
    raise TypeError(f"softmax attention continues a SoftmaxState, got {type(state).__name__}")


def _softmax_state(offset: int, kv: tuple[Tensor, Tensor] | None, key_positions: Tensor | None
                   ) -> SoftmaxState | None:
    return None if kv is None else SoftmaxState(offset, kv[0], kv[1], key_positions)


def _times(positions: Tensor | None, offset: int, q: Tensor) -> Tensor:
    """``positions``, or the integer times ``offset + arange(T)`` ``[1, T]`` of
    ``q [B, T, ...]``."""
    if positions is not None:
        return positions
    return torch.arange(offset, offset + q.shape[1], device=q.device)[None]


def _join(past: Tensor | None, new: Tensor) -> Tensor:
    """Key positions ``[B or 1, S(, L)]`` followed by ``new`` (batch sizes broadcast)."""
    if past is None:
        return new
    n = max(past.shape[0], new.shape[0])
    return torch.cat([past.expand(n, *past.shape[1:]), new.expand(n, *new.shape[1:])], 1)


def _in_out(linear: nn.Linear) -> Tensor:
    """The weight as a contiguous ``[in, out]`` copy (detached: decoding builds no graph)."""
    return linear.weight.detach().t().contiguous()


def _bias(linear: nn.Linear) -> Tensor:
    b = linear.bias
    return linear.weight.new_zeros(linear.out_features) if b is None else b.detach()
