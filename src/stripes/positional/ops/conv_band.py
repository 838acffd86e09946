"""Direct convSPE filtering and pooling ([SPE] Eq. 16-17, 22) as banded batched matmuls over
counter-based noise blocks, with a hand-written recomputing backward (the op behind
:class:`stripes.positional.conv_spe.ConvSPE`, ``method="direct"``; see its module docstring for
the block layout).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from stripes.positional.ops.spe_noise import ConvCode, counter_seed, draw_noise, noise_generator

# Full chunks are filtered G at a time, one head at a time: each bmm then has G·R columns (R
# alone is too narrow to run near the matmul peak) and the head's codes stay in cache.
GROUP_CHUNKS = 4


class NoiseBlocks:
    """Noise blocks ``[H·D, C, R]`` of one code; ``__call__`` caches a few in the code (decoding
    re-reads them), :meth:`draw` does not (a long forward would hold them for the backward)."""

    def __init__(
        self, code: ConvCode, channels: int, block: int, kind: str, like: Tensor, keep: int = 8
    ):
        self.code, self.kind, self.like, self.keep = code, kind, like, keep
        self.key = (channels, block, code.n_realizations, like.dtype, like.device)
        self.shape = (channels, block, code.n_realizations)

    def draw(self, index: int) -> Tensor:
        """Block ``index``, float32, drawn on the device of ``like`` (no host copies)."""
        device = self.like.device
        gen = noise_generator(counter_seed(self.code.seed, index), device)
        return draw_noise(self.kind, self.shape, gen, device)

    def __call__(self, index: int) -> Tensor:
        key = (index, *self.key)
        if key not in self.code.cache:
            self.code.cache[key] = self.draw(index).to(self.like)
            while len(self.code.cache) > self.keep:
                self.code.cache.pop(next(iter(self.code.cache)))
        return self.code.cache[key]


class _Window:
    """Noise blocks ``b0 … b0+m−1`` in one buffer ``[H·D, C, m, R]``: with the block axis before
    R, the blocks ``j … j+G−1`` of G consecutive chunks are the view ``[:, :, j:j+G]``, whose
    last two axes merge into ``G·R`` matmul columns without a copy. The blocks that consecutive
    windows share are moved, not redrawn."""

    def __init__(self, blocks: NoiseBlocks, capacity: int):
        hd, c_len, r = blocks.shape
        self.blocks, self.first, self.count = blocks, 0, 0
        self.buf = blocks.like.new_empty(hd, c_len, capacity, r)

    def load(self, b0: int, m: int) -> Tensor:
        shift = b0 - self.first
        kept = max(0, min(self.count - shift, m)) if shift >= 0 else 0
        for i in range(kept):  # increasing i: each source slot is read before it is overwritten
            self.buf[:, :, i].copy_(self.buf[:, :, i + shift])
        for i in range(kept, m):
            self.buf[:, :, i].copy_(self.blocks.draw(b0 + i))
        self.first, self.count = b0, m
        return self.buf[:, :, :m]


def band_matrix(f: Tensor, c_len: int, nb: int, rows: range | None = None) -> Tensor:
    """``Band [H·D, 2n, nb·C]`` for chunk rows ``rows`` (default all C): row i, column j of the
    chunk's noise window holds ``φ(i + P − 1 − j)`` (zero outside the filter); the n φ^Q rows
    first, then the n φ^K rows. ``f``: filters ``[2, H·D, P]``. Toeplitz: row i is the window
    ``w[C−i : C−i+nb·C]`` of the zero-padded reversed filter ``w[C+u] = φ(P−1−u)``."""
    rows = range(c_len) if rows is None else rows
    width = nb * c_len
    w = F.pad(f.flip(-1), (c_len, width - f.shape[-1]))  # [2, HD, C + nb·C]
    win = w.unfold(-1, width, 1)[:, :, c_len - rows[-1] : c_len - rows[0] + 1].flip(-2)
    return win.transpose(0, 1).reshape(f.shape[1], 2 * len(rows), width)


def pool_codes(x: Tensor, bar: Tensor, h: int) -> Tensor:
    """``x [B, n, H, D]``, codes ``[H·D, n, R]`` -> ``Σ_d x_d Q̄_d`` ``[B, n, H, R]``."""
    bar = bar.reshape(h, -1, *bar.shape[1:]).transpose(1, 2)  # [H, n, D, R]
    return torch.matmul(x.permute(2, 1, 0, 3), bar).permute(2, 1, 0, 3)


def _group_codes(band: Tensor, win: Tensor, g: int, nb: int) -> Tensor:
    """``[Q̄; K̄]`` of g consecutive chunks, ``Σ_j Band_j @ Z_{c+j … c+j+g−1}``, as one ``[D, R]``
    per (q|k, row, chunk): ``[2·n·g, D, R]``, a view (batch stride R) of ``[D, 2n, g·R]``.
    ``band [D, 2n, nb·C]``, ``win`` (noise) ``[D, C, g+nb−1, R]``."""
    d, two_n, c_len = band.shape[0], band.shape[1], win.shape[1]
    parts = band.view(d, two_n, nb, c_len).unbind(2)
    out = torch.bmm(parts[0], win[:, :, :g].flatten(2))
    for j in range(1, nb):  # accumulate in place: one buffer per group
        out.baddbmm_(parts[j], win[:, :, j : j + g].flatten(2))
    return out.view(d, 2, two_n // 2, g, -1).permute(1, 2, 3, 0, 4).flatten(0, 2)


def _rows(x: Tensor, g: int) -> Tensor:
    """``[2, B, g·n, F]`` (q and k of one head) -> ``[2·n·g, B, F]``, the order of
    :func:`_group_codes`."""
    s, b, n, f = x.shape
    return x.view(s, b, g, n // g, f).permute(0, 3, 2, 1, 4).reshape(-1, b, f)


def _unrows(y: Tensor, g: int) -> Tensor:
    """Inverse of :func:`_rows`: ``[2·n·g, B, F]`` -> ``[2, B, g·n, F]``."""
    n, b, f = y.shape
    return y.view(2, n // (2 * g), g, b, f).permute(0, 3, 2, 1, 4).reshape(2, b, -1, f)


class ConvPlan:
    """The chunks ``(c, i0, i1)`` (rows i0 … i1 of chunk c) of one convSPE call, in units
    ``(c0, g, i0, n, sl, z)``: g chunks from c0, rows ``i0 … i0+n`` of each, input positions
    ``sl``, noise window ``z [H·D, C, g+nb−1, R]``. Full chunks come G at a time, partial ones
    (the first and last) alone."""

    def __init__(self, chunks, start, c_len, nb, blocks, n_heads, r, memo=None):
        self.chunks, self.start, self.c_len, self.nb = chunks, start, c_len, nb
        self.blocks, self.n_heads, self.r = blocks, n_heads, r
        self.full = [c for c, i0, i1 in chunks if i1 - i0 == c_len]
        self.memo = memo  # (store, key, tag): whole-chunk codes kept for decoding, else None

    def units(self, partial: bool = True):
        runs = [(c, 1, i0, i1 - i0) for c, i0, i1 in self.chunks if i1 - i0 < self.c_len]
        for c0 in range(self.full[0], self.full[-1] + 1, GROUP_CHUNKS) if self.full else ():
            runs.append((c0, min(GROUP_CHUNKS, self.full[-1] + 1 - c0), 0, self.c_len))
        runs = sorted(r for r in runs if partial or r[3] == self.c_len)
        win = _Window(self.blocks, max(g for _, g, _, _ in runs) + self.nb - 1) if runs else None
        for c0, g, i0, n in runs:
            first = c0 * self.c_len + i0 - self.start
            sl = slice(first, first + (n if g == 1 else g * self.c_len))
            assert win is not None  # runs is not empty here
            yield c0, g, i0, n, sl, win.load(c0, g + self.nb - 1)

    def chunk_codes(self, f: Tensor, c: int, i0: int, n: int) -> Tensor:
        """``[Q̄; K̄]`` of rows ``i0 … i0+n`` of one chunk, all heads, from the cached noise
        blocks: ``[H·D, 2n, R]``. When decoding (``memo``), the whole chunk's codes are computed
        at its first step and kept: a step then costs a slice, and one ``[2C, C]`` band matmul
        per C steps runs far nearer the peak than C matmuls of 2 rows."""
        if self.memo is not None:  # the band too: it depends on the filters only
            store, key, tag = self.memo
            entry = store.get(key, (None, None, None, None))
            if entry[:2] != (tag, c):
                band = entry[3] if entry[0] == tag else band_matrix(f, self.c_len, self.nb)
                store[key] = entry = (tag, c, self._codes(f, c, 0, self.c_len, band), band)
            full = entry[2]
            return torch.cat([full[:, i0 : i0 + n], full[:, self.c_len + i0 : self.c_len + i0 + n]],
                             1)
        return self._codes(f, c, i0, n)

    def _codes(self, f: Tensor, c: int, i0: int, n: int, band: Tensor | None = None) -> Tensor:
        if band is None:
            band = band_matrix(f, self.c_len, self.nb, range(i0, i0 + n))
        parts = band.view(band.shape[0], 2 * n, self.nb, self.c_len).unbind(2)
        out = torch.bmm(parts[0], self.blocks(c))
        for j in range(1, self.nb):
            out.baddbmm_(parts[j], self.blocks(c + j))
        return out


class BandedConvPool(torch.autograd.Function):
    """Direct convSPE pooling with a recomputing backward: the noise is re-read from its
    counter, the filter gradient accumulates in one band-sized buffer, the input gradients are
    written group by group (no full-size temporaries)."""

    @staticmethod
    def forward(ctx, q, k, f, plan):
        ctx.save_for_backward(q, k, f)
        ctx.plan = plan
        out = [x.new_empty(*x.shape[:3], plan.r) for x in (q, k)]
        band = band_matrix(f, plan.c_len, plan.nb) if plan.full else None  # not to decode
        d = q.shape[-1]
        for _, g, _, _, sl, z in plan.units(partial=False):
            x = torch.stack([q[:, sl], k[:, sl]])  # [2, B, gC, H, D]
            for h in range(plan.n_heads):
                ch = slice(h * d, (h + 1) * d)
                assert band is not None  # full chunks exist when units yields any
                codes = _group_codes(band[ch], z[ch], g, plan.nb)
                y = _unrows(torch.bmm(_rows(x[:, :, :, h], g), codes), g)  # [2, B, gC, R]
                out[0][:, sl, h], out[1][:, sl, h] = y[0], y[1]
        for c, i0, i1 in plan.chunks:
            if i1 - i0 < plan.c_len:  # partial chunk (a decoding step): all heads at once
                sl = slice(c * plan.c_len + i0 - plan.start, c * plan.c_len + i1 - plan.start)
                codes = plan.chunk_codes(f, c, i0, i1 - i0)
                out[0][:, sl] = pool_codes(q[:, sl], codes[:, : i1 - i0], plan.n_heads)
                out[1][:, sl] = pool_codes(k[:, sl], codes[:, i1 - i0 :], plan.n_heads)
        return out[0], out[1]

    @staticmethod
    def backward(ctx, g_q, g_k):
        """Per unit and head: recompute the codes, ``g_x = g_y · Q̄ᵀ``, ``g_Q̄ = Σ_b x ⊗ g_y``,
        ``g_Band_jᵀ += Z_j @ g_Q̄ᵀ``. The band is rebuilt per head (cheap) rather than held
        beside its gradient, stored as ``[nb, H·D, C, 2C]`` (block j transposed: contiguous
        outputs for the accumulating matmuls)."""
        q, k, f = ctx.saved_tensors
        plan, d, c_len = ctx.plan, q.shape[-1], ctx.plan.c_len
        grads = [torch.empty_like(q), torch.empty_like(k)]  # every position is written
        g_band = f.new_zeros(plan.nb, f.shape[1], c_len, 2 * c_len)
        for _, g, i0, n, sl, z in plan.units():
            x = torch.stack([q[:, sl], k[:, sl]])  # [2, B, gn, H, D]
            gy = torch.stack([g_q[:, sl], g_k[:, sl]])  # [2, B, gn, H, R]
            g_codes = q.new_empty(d, 2, n, g, plan.r)  # reused by every head
            for h in range(plan.n_heads):
                ch = slice(h * d, (h + 1) * d)
                band = band_matrix(f[:, ch], c_len, plan.nb, range(i0, i0 + n))
                codes = _group_codes(band, z[ch], g, plan.nb)
                gx = _unrows(torch.bmm(_rows(gy[:, :, :, h], g), codes.mT), g)
                grads[0][:, sl, h], grads[1][:, sl, h] = gx[0], gx[1]
                _outer_sum(x[:, :, :, h], gy[:, :, :, h], g_codes)
                g_flat = g_codes.flatten(3).flatten(1, 2).mT  # [D, g·R, 2n]
                for j in range(plan.nb):
                    zj = z[ch, :, j : j + g].flatten(2)
                    if n == c_len:
                        g_band[j, ch].baddbmm_(zj, g_flat)
                    else:
                        rows = g_band[j, ch].unflatten(-1, (2, c_len))[..., i0 : i0 + n]
                        rows += torch.bmm(zj, g_flat).unflatten(-1, (2, n))
        return grads[0], grads[1], _band_to_filters(g_band, f.shape[-1]), None


def _outer_sum(x: Tensor, gy: Tensor, out: Tensor) -> None:
    """``out[d, s, i, γ, r] = Σ_b x[s, b, γn+i, d] · gy[s, b, γn+i, r]`` into ``out [D, 2, n, g,
    R]`` (the codes' layout). For a small batch, broadcast products in place: a batched matmul
    with inner size B is slow and its result would need a copy."""
    d, _, n, g, r = out.shape
    if x.shape[1] > 2:
        prod = torch.bmm(_rows(x, g).mT, _rows(gy, g))  # [2ng, D, R], order (s, i, γ)
        out.copy_(prod.view(2, n, g, d, r).permute(3, 0, 1, 2, 4))
        return
    xs = x.unflatten(2, (g, n)).permute(1, 4, 0, 3, 2)[..., None]  # [B, D, 2, n, g, 1]
    gys = gy.unflatten(2, (g, n)).permute(1, 0, 3, 2, 4)[:, None]  # [B, 1, 2, n, g, R]
    torch.mul(xs[0], gys[0], out=out)
    for b in range(1, x.shape[1]):
        out.addcmul_(xs[b], gys[b])


def _band_to_filters(g_band: Tensor, p_len: int) -> Tensor:
    """Adjoint of :func:`band_matrix` for ``g_band [nb, H·D, C, 2C]`` (block j transposed):
    filter gradient ``[2, H·D, P]``. Entries outside the filter go to a dropped slot."""
    nb, _, c_len, _ = g_band.shape
    col = torch.arange(nb * c_len, device=g_band.device).view(nb, c_len, 1)  # j·C + i'
    tap = torch.arange(c_len, device=g_band.device) + p_len - 1 - col  # [nb, C, C(row i)]
    tap = torch.where((tap >= 0) & (tap < p_len), tap, 2 * p_len)
    idx = torch.cat([tap, torch.where(tap < p_len, tap + p_len, tap)], 2)  # φ^Q, φ^K taps
    out = g_band.new_zeros(g_band.shape[1], 2 * p_len + 1)
    for j in range(nb):
        out.index_add_(1, idx[j].reshape(-1), g_band[j].flatten(1))
    return out[:, :-1].view(-1, 2, p_len).transpose(0, 1)
