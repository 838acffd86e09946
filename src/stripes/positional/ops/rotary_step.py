"""RoPE and RoPEPool for one decoding step: one complex multiply (in real arithmetic) by a row
read off a table.

The modules' own one-token call (``RoPE.forward`` on ``[B, 1, H, D]``) costs about 25 small ops
for q and k (table lookup, casts, views, two products, a copy): ~40 µs per layer, a quarter of a
lean decoding step. Both PEs multiply each pair ``(a_2i + i a_2i+1)`` of q and k by a complex
number ``w_i(t)`` that depends on the time alone (``e^{iθ}`` for RoPE; RoPEPool keeps the real part
of the product with ``e^{iθ}(1 − i)``; ``stripes.positional.rope``). :class:`RotaryTable` reads
``w(t)`` for every time off the module itself, by applying it to two basis patterns
(``[1, 0, 1, 0, …]`` gives ``w``'s real part, ``[0, 1, 0, 1, …]`` its imaginary part or, pooled,
minus it), so the values are exactly the module's and no formula is duplicated here. A step is
then one product for q and k together, in real arithmetic over ``w``'s real pairs, which a
compiled step fuses (complex products it cannot): :func:`rotate_` in place, :func:`pool_` the real
part of the product.
Integer times only (``positions=None``); explicit positions take the module's own call.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from stripes.positional.base import ForwardTokenStep, QKTransformPE

CHUNK = 512  # times per call while reading the table (RoPE C changes method above 512)


class RotaryTable:
    """``w(t)`` ``[N, H, D/2]`` complex for times ``0 … N−1`` (grows by doubling on demand).

    Args:
        pe: a :class:`~stripes.positional.rope.RoPE` or ``RoPEPool``.
        pool: whether ``pe`` pools pairs (RoPEPool) rather than rotating them (RoPE).
        heads, head_dim: H, D of the queries and keys it transforms.
        dtype: the real dtype of q and k (float32 or float64).
        length: times to read up front.
    """

    def __init__(self, pe: QKTransformPE, pool: bool, heads: int, head_dim: int,
                 dtype: torch.dtype, length: int, device: torch.device | None = None):
        self.pe, self.pool = pe, pool
        self.heads, self.head_dim, self.dtype, self.device = heads, head_dim, dtype, device
        self._store(self._read(0, length))

    def at(self, t: int) -> Tensor:
        """``w(t)`` ``[H, D/2]`` complex."""
        if t >= self.table.shape[0]:
            n = self.table.shape[0]
            self._store(torch.cat([self.table, self._read(n, max(2 * n, t + 1))]))
        return self.table[t]

    def _store(self, table: Tensor) -> None:
        """Keep ``table`` ``[N, H, D/2]`` complex and its real pairs ``[N, H, D/2, 2]``."""
        self.table, self.pairs = table, torch.view_as_real(table).contiguous()

    def at_pairs(self, t: int) -> Tensor:
        """``w(t)`` as real pairs ``[H, D/2, 2]`` (real, imaginary): the same numbers as
        :meth:`at`, for real arithmetic."""
        self.at(t)
        return self.pairs[t]

    @torch.no_grad()
    def _read(self, start: int, stop: int) -> Tensor:
        rows = []
        for a in range(start, stop, CHUNK):
            n = min(CHUNK, stop - a)
            basis = torch.zeros(2, n, self.heads, self.head_dim, dtype=self.dtype,
                                device=self.device)
            basis[0, ..., 0::2] = 1
            basis[1, ..., 1::2] = 1
            out, _ = self.pe(basis, basis, offset=a)  # the module's own arithmetic
            if self.pool:  # Re((1)·w) = Re w, Re((i)·w) = −Im w
                rows.append(torch.complex(out[0], -out[1]))
            else:  # (1)·w = w
                rows.append(torch.view_as_complex(out[0].reshape(n, self.heads, -1, 2)))
        return torch.cat(rows)


def rotate_(qk: Tensor, w: Tensor, work: Tensor) -> Tensor:
    """RoPE in place: each pair ``(a, b)`` of ``qk [B, 2, H, D]`` times ``w = c + i·s`` given as
    real pairs ``[H, D/2, 2]`` (:meth:`RotaryTable.at_pairs`): ``(a·c − b·s, a·s + b·c)``, in real
    arithmetic (as :func:`pool_`, so a compiled step fuses it); ``work [B, 2, H, D/2]`` holds the
    new ``b`` while ``a`` is overwritten. Returns ``qk``."""
    pairs = qk.unflatten(-1, (-1, 2))
    a, b, c, s = pairs[..., 0], pairs[..., 1], w[..., 0], w[..., 1]
    torch.mul(a, s, out=work).addcmul_(b, c)
    a.mul_(c).addcmul_(b, s, value=-1.0)
    b.copy_(work)
    return qk


def pool_(qk: Tensor, w: Tensor, out: Tensor) -> Tensor:
    """RoPEPool: ``out <- Re(qk_c · w)`` ``[B, 2, H, D/2]`` for ``qk [B, 2, H, D]`` and ``w`` as
    real pairs ``[H, D/2, 2]`` (:meth:`RotaryTable.at_pairs`): ``a·Re w − b·Im w`` per pair
    ``(a, b)``, in real arithmetic, which a compiled step fuses (complex products it cannot:
    they run as separate calls, about 0.1 ms per layer here)."""
    pairs = qk.unflatten(-1, (-1, 2))
    torch.mul(pairs[..., 0], w[..., 0], out=out)
    return out.addcmul_(pairs[..., 1], w[..., 1], value=-1.0)


class RotaryTokenStep:
    """RoPE or RoPEPool on one token (:meth:`~stripes.positional.base.QKTransformPE.token_step`):
    at integer times (``positions=None``) one product with a row of a
    :class:`RotaryTable`, in place on ``qk [B, 2, H, D]`` (RoPE) or into a preallocated buffer
    (RoPEPool); explicit positions take the module's own call."""

    def __init__(self, pe: QKTransformPE, pool: bool, heads: int, head_dim: int, code: Any,
                 layer: int, batch: int, like: Tensor, capacity: int):
        self.table = RotaryTable(pe, pool, heads, head_dim, like.dtype, capacity, like.device)
        self.forward = ForwardTokenStep(pe, code, layer)
        self.work = like.new_empty(batch, 2, heads, head_dim // 2)  # pool_'s out, rotate_'s b

    def __call__(self, qk: Tensor, offset: int, positions: Tensor | None) -> Tensor:
        if positions is not None:
            return self.forward(qk, offset, positions)
        w = self.table.at_pairs(offset)
        return pool_(qk, w, self.work) if self.table.pool else rotate_(qk, w, self.work)
