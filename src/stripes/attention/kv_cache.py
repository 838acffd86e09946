"""A preallocated KV cache for softmax decoding: the fair baseline of linear decoding.

The model's own softmax state (``Attention._softmax``) concatenates the new key and value onto
the cache at every token, copying the whole prefix: O(p) extra traffic and a fresh allocation per
token (25-58 ms per token at p = 8192 for the benchmark model on a loaded machine, 3.6x this
cache's time, paired). Here keys and values live in ``[B, H, capacity, D]`` buffers written one
slot per token, and a query attends over the filled prefix through two batched products and a
softmax between preallocated rows (at p = 8192 about half the time of
``F.scaled_dot_product_attention`` on these one-query shapes, on the CPU). Capacity doubles when
full (rare; amortized O(1) per token).
"""

from __future__ import annotations

import torch
from torch import Tensor


class KVCache:
    """Keys ``[B, H, capacity, D]`` and values ``[B, H, capacity, E]``, the first ``length``
    slots filled.

    Args:
        batch, heads, key_dim, value_dim: B, H, D (after the q/k PE), E.
        capacity: slots allocated up front (the longest sequence expected).
        dtype, device: of the buffers.
    """

    def __init__(self, batch: int, heads: int, key_dim: int, value_dim: int, capacity: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | None = None):
        self.length = 0
        self.keys = torch.empty(batch, heads, capacity, key_dim, dtype=dtype, device=device)
        self.values = torch.empty(batch, heads, capacity, value_dim, dtype=dtype, device=device)
        # flat: the first B·H·n entries viewed as [B·H, 1, n] are contiguous for any n
        self.scores = torch.empty(batch * heads * capacity, dtype=dtype, device=device)
        self.probs = torch.empty_like(self.scores)
        self.out = torch.empty(batch, heads, value_dim, dtype=dtype, device=device)

    @classmethod
    def from_state(cls, k: Tensor, v: Tensor, capacity: int) -> KVCache:
        """A cache holding the model's concatenated state ``(k [B, S, H, D], v [B, S, H, E])``."""
        b, s, h, d = k.shape
        cache = cls(b, h, d, v.shape[-1], max(capacity, s + 1), k.dtype, k.device)
        cache.keys[:, :, :s].copy_(k.transpose(1, 2))
        cache.values[:, :, :s].copy_(v.transpose(1, 2))
        cache.length = s
        return cache

    @property
    def capacity(self) -> int:
        return self.keys.shape[2]

    def append(self, k_t: Tensor, v_t: Tensor) -> None:
        """Write one token's ``k_t [B, H, D]`` and ``v_t [B, H, E]`` into the next slot."""
        if self.length == self.capacity:
            self._grow(2 * self.capacity)
        # narrow, not an index: a compiled step keeps the length symbolic through it
        self.keys.narrow(2, self.length, 1).copy_(k_t[:, :, None])
        self.values.narrow(2, self.length, 1).copy_(v_t[:, :, None])
        self.length += 1

    def attend(self, q_t: Tensor, scale: float, bias: Tensor | None = None) -> Tensor:
        """``softmax(q_t·Kᵀ·scale + bias) V`` over the filled slots: ``q_t [B, H, D]``, optional
        logits ``bias [B or 1, H, 1, length]`` -> ``[B, H, E]`` (the buffer ``self.out``,
        overwritten by the next call)."""
        b, h, d = q_t.shape
        n = self.length
        keys = self.keys[:, :, :n].reshape(b * h, n, d)  # a view: slots are contiguous per head
        values = self.values[:, :, :n].reshape(b * h, n, -1)
        if torch.compiler.is_compiling():  # out-of-place: no out= into views of a symbolic n
            logits = torch.bmm(q_t.reshape(b * h, 1, d), keys.transpose(1, 2)) * scale
            if bias is not None:
                logits = logits + bias.to(logits.dtype).reshape(b * h, 1, n)
            return self.out.copy_(torch.bmm(logits.softmax(-1), values).view(b, h, -1))
        scores = self.scores[: b * h * n].view(b * h, 1, n)
        probs = self.probs[: b * h * n].view(b * h, 1, n)
        torch.baddbmm(scores, q_t.reshape(b * h, 1, d), keys.transpose(1, 2), beta=0.0,
                      alpha=scale, out=scores)
        if bias is not None:
            scores.view(b, h, 1, n).add_(bias.to(scores.dtype))
        torch.ops.aten._softmax.out(scores, -1, False, out=probs)  # softmax into a buffer
        torch.bmm(probs, values, out=self.out.view(b * h, 1, -1))
        return self.out

    def as_state(self) -> tuple[Tensor, Tensor]:
        """The model's state format ``(k [B, S, H, D], v [B, S, H, E])`` (copies)."""
        n = self.length
        return (self.keys[:, :, :n].transpose(1, 2).contiguous(),
                self.values[:, :, :n].transpose(1, 2).contiguous())

    def _grow(self, capacity: int) -> None:
        self.keys, self.values = (self._grown(self.keys, capacity),
                                  self._grown(self.values, capacity))
        self.scores = self.scores.new_empty(self.keys.shape[0] * self.keys.shape[1] * capacity)
        self.probs = torch.empty_like(self.scores)

    def _grown(self, old: Tensor, capacity: int) -> Tensor:
        new = old.new_empty(*old.shape[:2], capacity, old.shape[-1])
        new[:, :, : self.length].copy_(old[:, :, : self.length])
        return new
