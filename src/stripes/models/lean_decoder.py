"""Lean one-token decoding: the model's step, with static buffers and fused projections.

``StripesTransformer.forward(x_t, state=s)`` is the readable reference: about 45 small ops per
layer, fresh tensors for every intermediate, and weights in ``nn.Linear``'s ``[out, in]`` layout.
Decoding one token at a time on the CPU is bound by exactly that (docs/performance.md), so
:class:`LeanDecoder` computes the same function with

- weights copied once as ``[in, out]`` (a ``1×in`` times ``in×out`` product streams them ~20 %
  faster than ``nn.Linear``'s transposed layout) and every product written into a preallocated
  buffer (``addmm(out=)``, residuals through ``addmm_``);
- for linear attention, a column of ones appended to every head's value by the q/k/v product
  itself (zero weights, bias one), so one rank-1 update and one batched product give the state
  ``[S, z]``, the numerator and the normalizer (:func:`recurrent_linear_attention_step_`); the
  MLP's second bias rides the same way on a ones column of the hidden buffer;
- for softmax attention, a preallocated KV cache (:class:`~stripes.attention.kv_cache.KVCache`)
  instead of the model's concatenation;
- RoPE and RoPEPool as one complex product with a row of a table read off the module
  (:mod:`stripes.models.rotary_step`); sineSPE and F-StrIPE through their one-token pooling
  (:mod:`stripes.positional.ops.token_pool`: weights of the frozen code laid out once); every
  other positional encoding called exactly as the model calls it (its own decoding caches
  apply), with the frozen code kept in the state.

Tests compare it with the reference step for every decodable PE (tests/models/test_lean_decoder.py;
the kernels in tests/attention/test_decoding_steps.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stripes.attention.feature_maps import PointwiseFeatureMap
from stripes.attention.kv_cache import KVCache
from stripes.attention.recurrent import (
    augment_state,
    recurrent_linear_attention_step_,
    split_state,
)
from stripes.models.rotary_step import RotaryTable, is_rotary, pool_, rotate_
from stripes.models.transformer import StripesTransformer


def unsupported(model: nn.Module) -> str | None:
    """Why :class:`LeanDecoder` cannot decode ``model`` (None when it can); the reference step
    (``model.forward``) serves those cases."""
    if not isinstance(model, StripesTransformer):
        return f"not a StripesTransformer ({type(model).__name__})"
    ref = model.head.weight
    if model.training:
        return "the model is in training mode (dropout would be skipped)"
    if ref.dtype not in (torch.float32, torch.float64):
        return f"parameters in {ref.dtype} (the lean step computes in float32 or float64)"
    if _autocast_on(ref.device):
        return "autocast is on (the lean step computes in the parameters' dtype)"
    for block in model.blocks:
        attn = block.attn
        if not attn.causal:
            return "non-causal attention cannot decode one token at a time"
        if getattr(attn.qk_pe, "adds_bias", False):
            return "a logit-bias PE (quadratic baselines) needs the reference step"
    return None


class LeanDecoder:
    """Continue a sequence one token per :meth:`step`, from the model's own state.

    Args:
        model: an eval-mode ``StripesTransformer`` (:func:`unsupported` says which are not).
        state: from ``model(prompt, output_state=True, code=...)``; its code is kept.
        capacity: longest sequence expected (softmax KV cache; default ``model.config.max_len``).

    The weights are copied when the decoder is built: build a new one after they change.
    """

    def __init__(self, model: nn.Module, state: dict, capacity: int | None = None):
        reason = unsupported(model)
        if reason is not None:
            raise ValueError(f"LeanDecoder cannot decode this model: {reason}")
        self.model, self.offset, self.code = model, state["offset"], state["code"]
        self.capacity = max(capacity or model.config.max_len, self.offset + 1)
        c, ref = model.config, model.head.weight
        batch = _batch(state)
        self.h = ref.new_empty(batch, c.d_model)
        self.logits = ref.new_empty(batch, c.output_dim)
        self.w_head, self.b_head = _in_out(model.head), model.head.bias
        self.norm = _norm_args(model.norm)
        tables = {}  # one rotary table per PE module (one for all layers with share_pe)
        self.blocks = [
            _BlockStep(block, state["layers"][i], batch, self.capacity,
                       self._pe_step(block.attn, i, batch, tables))
            for i, block in enumerate(model.blocks)
        ]

    def _pe_step(self, attn: nn.Module, layer: int, batch: int, tables: dict) -> _PEStep:
        pe, kwargs = attn.qk_pe, {"layer": layer}
        if self.code is not None:
            kwargs["code"] = self.code[0 if self.model.config.share_pe else layer]
        ref = attn.qkv.weight
        if is_rotary(pe) and id(pe) not in tables:
            tables[id(pe)] = RotaryTable(pe, attn.n_heads, attn.head_dim, ref.dtype,
                                         self.capacity, ref.device)
        return _PEStep(pe, kwargs, tables.get(id(pe)), batch, attn.n_heads, attn.head_dim, ref)

    @torch.no_grad()
    def step(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        """Logits ``[B, output_dim]`` after one more token.

        Args:
            x: ``[B]`` or ``[B, 1]`` token ids (or ``[B, input_dim]`` pianoroll frames).
            positions: ``[B or 1, 1]`` time or ``[B, 1, L]`` structure vector of this token;
                None means ``offset``.

        Returns:
            ``self.logits``, overwritten by the next call (clone to keep it).
        """
        h = self._embed(x)
        if self.model.add_pe is not None:
            h.copy_(self.model.add_pe(h[:, None], positions=positions, offset=self.offset)[:, 0])
        for block in self.blocks:
            block(h, self.offset, positions)
        x = F.layer_norm(h, *self.norm)
        if self.b_head is None:
            torch.mm(x, self.w_head, out=self.logits)
        else:
            torch.addmm(self.b_head, x, self.w_head, out=self.logits)
        self.offset += 1
        return self.logits

    def _embed(self, x: Tensor) -> Tensor:
        embed = self.model.embed
        if isinstance(embed, nn.Embedding):
            return torch.index_select(embed.weight, 0, x.reshape(-1), out=self.h)
        frames = x.reshape(x.shape[0], -1).to(self.h.dtype)
        return torch.addmm(_bias(embed), frames, embed.weight.t(), out=self.h)

    def state(self) -> dict:
        """The model's state format (copies), to continue with the reference step."""
        layers = [{"attn": b.attn.state(), "offset": self.offset} for b in self.blocks]
        return {"offset": self.offset, "layers": layers, "code": self.code}


class _BlockStep:
    """One pre-norm block on ``h [B, d_model]`` in place: attention, then the MLP."""

    def __init__(self, block: nn.Module, state: dict | None, batch: int, capacity: int,
                 pe: _PEStep):
        attn = block.attn
        step = _LinearStep if attn.kind == "linear" else _SoftmaxStep
        self.attn = step(attn, state, batch, capacity, pe)
        self.norm1, self.norm2 = _norm_args(block.norm1), _norm_args(block.norm2)
        self.w_qkv, self.b_qkv = self.attn.projection()
        self.qkv = self.w_qkv.new_empty(batch, self.w_qkv.shape[1])
        self.w_out, self.b_out = _in_out(attn.out), attn.out.bias
        up, down = block.mlp.up, block.mlp.down
        self.w_up, self.b_up = _in_out(up), up.bias
        # the hidden buffer's last column stays 1 and carries the down-projection's bias
        self.w_down = torch.cat([_in_out(down), _bias(down)[None]])
        self.hidden1 = self.w_down.new_ones(batch, up.out_features + 1)
        self.hidden = self.hidden1[:, :-1]

    def __call__(self, h: Tensor, offset: int, positions: Tensor | None) -> None:
        x = F.layer_norm(h, *self.norm1)
        torch.addmm(self.b_qkv, x, self.w_qkv, out=self.qkv)
        h.addmm_(self.attn(self.qkv, offset, positions), self.w_out)
        if self.b_out is not None:
            h.add_(self.b_out)
        x = F.layer_norm(h, *self.norm2)
        if self.b_up is None:
            torch.mm(x, self.w_up, out=self.hidden)
        else:
            torch.addmm(self.b_up, x, self.w_up, out=self.hidden)
        torch._C._nn.gelu_(self.hidden)  # in place: F.gelu has no inplace flag
        h.addmm_(self.hidden1, self.w_down)


class _LinearStep:
    """Kernelized attention of one token against the augmented state ``[S, z]``."""

    def __init__(self, attn: nn.Module, state: dict | None, batch: int, capacity: int,
                 pe: _PEStep):
        self.attn, self.pe = attn, pe
        h, d, e = attn.n_heads, attn.head_dim, attn.head_dim
        ref = attn.qkv.weight
        acc = torch.promote_types(ref.dtype, torch.float32)
        prev = None if state is None else state["attn"]
        self.augmented = augment_state(prev, batch, h, attn.phi.output_dim, e, acc, ref.device)
        self.out = ref.new_empty(batch, h, e)
        self.work = ref.new_empty(batch * h, 1, e + 1)
        self.shape = (batch, h, d, e)

    def projection(self) -> tuple[Tensor, Tensor]:
        """``(W [d_model, 2 d_model + H(E+1) (+1)], b)``: q, k, then each head's value and a
        one (and a zero column if the width is odd: complex views of q, k need even strides)."""
        a = self.attn
        d_model, h, e = a.d_model, a.n_heads, a.head_dim
        w, b = _in_out(a.qkv), _bias(a.qkv)
        w_v = w[:, 2 * d_model :].reshape(d_model, h, e)
        b_v = b[2 * d_model :].reshape(h, e)
        w1 = torch.cat([w_v, w_v.new_zeros(d_model, h, 1)], -1).reshape(d_model, -1)
        b1 = torch.cat([b_v, b_v.new_ones(h, 1)], -1).reshape(-1)
        w, b = torch.cat([w[:, : 2 * d_model], w1], 1), torch.cat([b[: 2 * d_model], b1])
        if w.shape[1] % 2:
            w, b = torch.cat([w, w.new_zeros(d_model, 1)], 1), torch.cat([b, b.new_zeros(1)])
        return w, b

    def __call__(self, qkv: Tensor, offset: int, positions: Tensor | None) -> Tensor:
        b, h, d, e = self.shape
        qk = self.pe(qkv[:, : 2 * h * d].view(b, 2, h, d), offset, positions)
        phi = self.attn.phi
        if isinstance(phi, PointwiseFeatureMap):  # elu+1 or relu on q and k together
            _pointwise_(phi.fn, qk)
            fq, fk = qk[:, 0], qk[:, 1]
        else:
            fq, fk = phi(qk[:, 0], is_query=True), phi(qk[:, 1], is_query=False)
        v1 = qkv[:, 2 * h * d : 2 * h * d + h * (e + 1)].view(b, h, e + 1)
        recurrent_linear_attention_step_(fq, fk, v1, self.augmented, self.out, work=self.work)
        return self.out.view(b, h * e)

    def state(self):
        return split_state(self.augmented)


class _SoftmaxStep:
    """Exact softmax attention of one token over a preallocated KV cache."""

    def __init__(self, attn: nn.Module, state: dict | None, batch: int, capacity: int,
                 pe: _PEStep):
        self.attn, self.pe = attn, pe
        h, d = attn.n_heads, attn.head_dim
        ref = attn.qkv.weight
        if state is None:
            self.cache = KVCache(batch, h, attn.qk_dim, d, capacity, ref.dtype, ref.device)
        else:
            self.cache = KVCache.from_state(*state["attn"], capacity)
        self.scale = 1.0 / math.sqrt(attn.qk_dim)
        self.shape = (batch, h, d)

    def projection(self) -> tuple[Tensor, Tensor]:
        return _in_out(self.attn.qkv), _bias(self.attn.qkv)

    def __call__(self, qkv: Tensor, offset: int, positions: Tensor | None) -> Tensor:
        b, h, d = self.shape
        qk = self.pe(qkv[:, : 2 * h * d].view(b, 2, h, d), offset, positions)
        self.cache.append(qk[:, 1], qkv[:, 2 * h * d :].view(b, h, d))
        return self.cache.attend(qk[:, 0], self.scale).view(b, h * d)

    def state(self):
        return self.cache.as_state()


class _PEStep:
    """The layer's query/key PE on one token: ``qk [B, 2, H, D]`` (q then k, in the projection
    buffer) -> ``[B, 2, H, D']`` that the caller may overwrite. RoPE and RoPEPool at integer
    times through :mod:`stripes.models.rotary_step`, sineSPE and F-StrIPE through their
    ``token_pool``; every other PE through its own call."""

    def __init__(self, pe: nn.Module | None, kwargs: dict, rotary: RotaryTable | None,
                 batch: int, heads: int, head_dim: int, like: Tensor):
        self.module, self.kwargs, self.rotary = pe, kwargs, rotary
        self.token = None  # sineSPE, F-StrIPE: their one-token pooling
        if hasattr(pe, "token_pool"):
            self.token = pe.token_pool(kwargs.get("code"), kwargs["layer"], batch, like)
        if rotary is not None and rotary.pool:
            complex_dtype = torch.promote_types(like.dtype, torch.complex64)
            self.work = torch.empty(batch, 2, heads, head_dim // 2, dtype=complex_dtype,
                                    device=like.device)
            self.pooled = like.new_empty(batch, 2, heads, head_dim // 2)

    def __call__(self, qk: Tensor, offset: int, positions: Tensor | None) -> Tensor:
        if self.module is None:
            return qk
        if self.token is not None:
            return self.token(qk, offset, positions)
        if self.rotary is not None and positions is None:
            w = self.rotary.at(offset)
            if self.rotary.pool:
                return pool_(qk, w, self.work, self.pooled)
            rotate_(qk, w)
            return qk
        q, k = self.module(qk[:, :1], qk[:, 1:], positions=positions, offset=offset,
                           **self.kwargs)
        return torch.cat([q, k], 1)  # ours to overwrite (a PE's outputs could alias its caches)


def _in_out(linear: nn.Linear) -> Tensor:
    """The weight as a contiguous ``[in, out]`` copy (detached: decoding builds no graph)."""
    return linear.weight.detach().t().contiguous()


def _bias(linear: nn.Linear) -> Tensor:
    b = linear.bias
    return linear.weight.new_zeros(linear.out_features) if b is None else b.detach()


def _norm_args(norm: nn.LayerNorm) -> tuple:
    return norm.normalized_shape, norm.weight, norm.bias, norm.eps


def _pointwise_(fn: str, x: Tensor) -> None:
    """``x <- φ(x)`` for the pointwise maps of :mod:`stripes.attention.feature_maps`."""
    if fn == "elu1p":
        F.elu(x, inplace=True).add_(1.0)
    elif fn == "relu":
        F.relu(x, inplace=True)
    else:
        raise ValueError(f"no in-place form of feature map {fn!r}")


def _autocast_on(device: torch.device) -> bool:
    try:
        return torch.is_autocast_enabled(device.type)
    except (TypeError, RuntimeError):  # older torch, or a device type without autocast
        return False


def _batch(state: dict) -> int:
    first = state["layers"][0]["attn"]
    return first[0].shape[0]
