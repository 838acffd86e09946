"""convSPE ([SPE] Eq. 22, App. A.1): codes are white noise filtered by learned filters.

``Q̄_d(m) = Σ_{p<P} φ^Q_d(p) Z_d(m − p)`` (likewise K̄ with φ^K and the *same* Z), so
``E[Q̄_d(m)·K̄_d(n)]/R = Σ_p φ^Q_d(p + m − n) φ^K_d(p)``: zero for ``|m − n| ≥ P`` (vanishing).

1-D, counter-based noise: padded position ``u = m − p + P − 1 ≥ 0`` lives in block ``u // C``,
drawn from ``counter_seed(seed, block)`` (:class:`~stripes.positional.ops.spe_noise.ConvCode`).
The noise at a position is thus a deterministic function of ``(seed, position)``: the parallel
forward and step-by-step decoding (any offset, one token at a time) read identical samples, and no
``T·H·D·R`` noise tensor ever exists: a chunk of C positions reads ``nb = ⌈(C+P−1)/C⌉`` blocks.

- ``method="direct"``: ``[Q̄; K̄]`` of a chunk is ``Σ_j Band_j @ Z_{c+j}``, a batched matmul over
  the ``H·D`` channels with the banded (Toeplitz) filter matrix ``Band [H·D, 2C, nb·C]``, O(T·P·R);
  G consecutive chunks share each matmul (same band, G·R noise columns), one head at a time.
- ``method="fft"``: the same samples, filtered by FFT over each chunk's window, O(T·R·log(C+P)).

Either way the pooled ``q̂ = Σ_d q_d Q̄_d / (DR)^{1/4}`` is formed chunk by chunk and the noise is
never stored for the backward: it is re-read from its counter, by a hand-written chunked backward
(direct: the filter gradient accumulates in one band-sized buffer) or by checkpointed chunks
(FFT).

2-D (``ndim=2``, images, ``grid=(rows, cols)``, tokens in row-major order): 2-D filters
``P1×P2``, noise per head drawn from ``counter_seed(seed, 2**40 + h)``, direct (``conv2d``) or
FFT; no decoding.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from stripes.positional.base import register
from stripes.positional.ops.conv_band import BandedConvPool, ConvPlan, NoiseBlocks, pool_codes
from stripes.positional.ops.spe_noise import ConvCode, counter_seed, draw_noise, noise_generator
from stripes.positional.ops.table_pool import time_start
from stripes.positional.spe import SPE

CONV_METHODS = ("direct", "fft")


@register("conv_spe")
class ConvSPE(SPE):
    """convSPE with learned filters ``φ^Q, φ^K [H, D, P]`` (or ``[H, D, P1, P2]`` for 2-D).

    Args:
        n_heads, head_dim: H, D.
        kernel_size: P (int, or ``(P1, P2)`` for 2-D).
        n_realizations: R.
        ndim: 1 (sequences) or 2 (images, needs ``grid``).
        grid: ``(rows, cols)`` of the 2-D token grid.
        gated, n_layers: gating ([SPE] Eq. 23-25; see :mod:`stripes.positional.spe`).
        method: ``direct`` (banded matmul; faster than ``fft`` at every P and R measured,
            benchmarks/results/conv_methods.md) or ``fft``.
        noise: ``rademacher`` (default: fastest white noise) or ``gaussian``.
        block_size: C, positions per noise block and per chunk.
    """

    def __init__(
        self,
        n_heads: int,
        head_dim: int,
        kernel_size: int | tuple[int, int] = 128,
        n_realizations: int = 64,
        ndim: int = 1,
        grid: tuple[int, int] | None = None,
        gated: bool = False,
        n_layers: int = 1,
        method: str = "direct",
        noise: str = "rademacher",
        block_size: int = 32,
    ):
        super().__init__(n_heads, head_dim, n_realizations, gated, n_layers)
        if ndim not in (1, 2) or (ndim == 2 and grid is None):
            raise ValueError(f"ndim must be 1, or 2 with grid=(rows, cols); got {ndim}, {grid}")
        if method not in CONV_METHODS or noise not in ("gaussian", "rademacher"):
            raise ValueError(f"method in {CONV_METHODS}, noise in (gaussian, rademacher); "
                             f"got {method!r}, {noise!r}")
        ks = (kernel_size,) * ndim if isinstance(kernel_size, int) else tuple(kernel_size)
        self.kernel_size, self.ndim, self.grid = ks, ndim, grid
        self.method, self.noise, self.block_size = method, noise, block_size
        # [SPE]'s init: uniform filters scaled so that P_d(0) is about 1/2.
        init = torch.rand(2, n_heads, head_dim, *ks) / math.sqrt(math.prod(ks) / 2)
        self.filters = nn.Parameter(init)  # [0]: φ^Q, [1]: φ^K

    def draw_code(self, length=None, positions=None, generator=None, n_realizations=None):
        """A :class:`ConvCode` (a seed from ``generator``): valid for any length and offset.

        Under ``torch.compile`` (1-D) the graph draws the noise of positions ``0 … length−1``
        itself, from the global generator (a seed would need a host sync): a fresh
        realization of the same white noise, as training needs, not the counter's samples."""
        r = n_realizations or self.n_realizations
        if torch.compiler.is_compiling() and self.ndim == 1 and length is not None:
            shape = (self.n_heads * self.head_dim, length + self.kernel_size[0] - 1, r)
            noise = (torch.randn(shape, device=self.filters.device) if self.noise == "gaussian"
                     else torch.randint(0, 2, shape, device=self.filters.device) * 2.0 - 1.0)
            return ConvCode(-1, r, self._gate_noise(r, None, self.filters.device), noise=noise)
        gen_device = None if generator is None else generator.device
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=gen_device))
        eps = self._gate_noise(r, generator, self.filters.device)
        return ConvCode(seed, r, None if eps is None else eps.to(self.filters.device))

    def traceable_code(self, code: ConvCode, length: int) -> ConvCode:
        """``code`` with its counter-based noise drawn ahead for positions ``0 … length−1``
        (``noise [H·D, length+P−1, R]``, the samples the blocks hold): a compiled graph reads
        it, as does this module's eager forward (same values, 1-D only)."""
        if self.ndim != 1:
            raise ValueError("a traceable convSPE code is 1-D only (2-D draws its noise per "
                             "head); compile a 1-D convSPE or run the 2-D one eagerly")
        c_len, p_len = self.block_size, self.kernel_size[0]
        blocks = NoiseBlocks(code, self.n_heads * self.head_dim, c_len, self.noise,
                             self.filters.detach())
        window = length + p_len - 1
        noise = torch.cat([blocks.draw(b) for b in range(-(-window // c_len))], 1)
        return ConvCode(code.seed, code.n_realizations, code.gate_noise,
                        noise=noise[:, :window])

    def _filters(self, layer: int, r: int, like: Tensor) -> Tensor:
        """``[2, H, D, *P]`` times ``√(1−δ)`` and the ``(DR)^{-1/4}`` of Eq. 16-17."""
        dry = self._dry(layer, like) * (self.head_dim * r) ** -0.25
        return self.filters.to(like) * dry.view(1, *dry.shape, *(1,) * self.ndim)

    def forward(self, q, k, positions=None, offset=0, code=None, layer=0):
        """``q, k [B, T, H, D]`` -> ``q̂, k̂ [B, T, H, R]`` (Eq. 16-17, 22)."""
        code = self._resolve(code, q.shape[1], positions)
        filters = self._filters(layer, code.n_realizations, q)
        if self.ndim == 2:
            qh, kh = self._forward_2d(q, k, code, filters)
        else:
            start = self._start(positions, offset, q)
            if code.noise is not None:
                qh, kh = self._forward_drawn(q, k, code.noise, filters, start)
            else:
                qh, kh = self._forward_1d(q, k, code, filters, start, layer)
        if self.gated:
            qh, kh = qh + self._gate_term(q, code, layer), kh + self._gate_term(k, code, layer)
        return qh, kh

    def _start(self, positions: Tensor | None, offset: int, q: Tensor) -> int:
        """First position of a run of consecutive integer positions (convSPE's grid)."""
        start = time_start(positions, q.shape[1], offset)  # one host sync for explicit ones
        if start is None or start < 0:
            raise ValueError("convSPE needs consecutive non-negative integer positions "
                             "(use SineSPE/FStrIPE for structure positions)")
        return start

    def _forward_1d(self, q, k, code, filters, start, layer=0):
        c_len, p_len, t = self.block_size, self.kernel_size[0], q.shape[1]
        nb = -(-(c_len + p_len - 1) // c_len)
        hd = self.n_heads * self.head_dim
        blocks = NoiseBlocks(code, hd, c_len, self.noise, q, keep=nb + 1)
        f = filters.reshape(2, hd, p_len)
        chunks = [(c, max(start - c * c_len, 0), min(start + t - c * c_len, c_len))
                  for c in range(start // c_len, (start + t - 1) // c_len + 1)]
        grad = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or
                                            f.requires_grad)
        plan = ConvPlan(chunks, start, c_len, nb, blocks, self.n_heads, code.n_realizations,
                     None if grad or t >= c_len else self._memo(code, layer, q))
        if self.method == "direct":
            return BandedConvPool.apply(q, k, f, plan)
        spectra = torch.fft.rfft(f, n=nb * c_len)
        sizes = [i1 - i0 for _, i0, i1 in chunks]
        outs = []  # split once and concatenate once (per-chunk slices cost full-size gradients)
        for (c, i0, i1), q_c, k_c in zip(chunks, q.split(sizes, 1), k.split(sizes, 1),
                                        strict=True):
            fn = partial(self._chunk_fft, c=c, i0=i0, i1=i1, blocks=blocks, nb=nb)
            outs.append(checkpoint(fn, q_c, k_c, spectra, use_reentrant=False) if grad
                        else fn(q_c, k_c, spectra))
        return torch.cat([o[0] for o in outs], 1), torch.cat([o[1] for o in outs], 1)

    def _forward_drawn(self, q, k, noise, filters, start):
        """Eq. 22 on noise drawn ahead (``[H·D, U, R]``): the codes ``[2, H·D, T, R]`` of
        positions ``start …`` explicitly, then pooled (plain ops: what ``torch.compile``
        traces; the codes cost ``T·H·D·R`` memory, which the banded path avoids)."""
        t, p_len = q.shape[1], self.kernel_size[0]
        if start + t + p_len - 1 > noise.shape[1]:
            raise ValueError(f"this convSPE code holds noise for {noise.shape[1] - p_len + 1} "
                             f"positions, positions {start}..{start + t - 1} asked: draw it "
                             "for a longer length")
        f = filters.reshape(2, -1, p_len).flip(-1)
        # the window copied before its unfold view: Inductor (torch 2.13) sized the product's
        # operand by the whole noise when the view was of a slice (the compiled step failed)
        win = noise[:, start : start + t + p_len - 1].to(q).clone()
        win = win.unfold(1, p_len, 1)  # [HD, T, R, P]
        bars = torch.einsum("xtrp,sxp->sxtr", win, f)
        return pool_codes(q, bars[0], self.n_heads), pool_codes(k, bars[1], self.n_heads)

    def _memo(self, code: ConvCode, layer: int, like: Tensor):
        """Where decoding keeps one chunk's codes per layer: in the code, under this module and
        layer, tagged with the parameters' versions (an optimizer step invalidates it)."""
        tag = self._cache_tag(like)
        return code.chunk_codes, (id(self), layer), tag

    def _chunk_fft(self, q_c, k_c, spectra, *, c, i0, i1, blocks, nb):
        window = torch.cat([blocks(c + j) for j in range(nb)], dim=1)  # [HD, nbC, R]
        zf = torch.fft.rfft(window, dim=1)
        bars = torch.fft.irfft(zf * spectra[..., None], n=window.shape[1], dim=2)
        p_len = self.kernel_size[0]
        bars = bars[:, :, p_len - 1 + i0 : p_len - 1 + i1]  # [2, HD, n, R]
        return pool_codes(q_c, bars[0], self.n_heads), pool_codes(k_c, bars[1], self.n_heads)

    def _grid(self) -> tuple[int, int]:
        if self.grid is None:
            raise ValueError("a 2-D convSPE needs grid=(rows, cols)")
        return self.grid

    def _noise_2d(self, code: ConvCode, head: int, like: Tensor) -> Tensor:
        """Padded noise field ``[R, D, rows+P1−1, cols+P2−1]`` of one head."""
        (rows, cols), (p1, p2) = self._grid(), self.kernel_size
        gen = noise_generator(counter_seed(code.seed, 2**40 + head), like.device)
        shape = (code.n_realizations, self.head_dim, rows + p1 - 1, cols + p2 - 1)
        return draw_noise(self.noise, shape, gen, like.device).to(like)

    def _bars_2d(self, code: ConvCode, filters: Tensor, head: int, like: Tensor) -> Tensor:
        """``[2, R, D, rows, cols]`` codes of one head (direct ``conv2d`` or FFT)."""
        z = self._noise_2d(code, head, like)
        (rows, cols), (p1, p2) = self._grid(), self.kernel_size
        f = filters[:, head]  # [2, D, P1, P2]
        if self.method == "direct":
            w = f.flip(-1, -2).transpose(0, 1).reshape(2 * self.head_dim, 1, p1, p2)
            out = F.conv2d(z.repeat_interleave(2, dim=1), w, groups=2 * self.head_dim)
            out = out.view(code.n_realizations, self.head_dim, 2, rows, cols)
            return out.permute(2, 0, 1, 3, 4)
        spec = torch.fft.rfft2(f, s=z.shape[-2:])[:, None]
        out = torch.fft.irfft2(torch.fft.rfft2(z)[None] * spec, s=z.shape[-2:])
        return out[..., p1 - 1 : p1 - 1 + rows, p2 - 1 : p2 - 1 + cols]

    def _forward_2d(self, q, k, code, filters):
        b, t, h, d = q.shape
        rows, cols = self._grid()
        if t != rows * cols:
            raise ValueError(f"2-D convSPE expects T = rows·cols = {self.grid}, got T={t}")
        outs: tuple[list[Tensor], list[Tensor]] = ([], [])
        for head in range(h):
            bars = self._bars_2d(code, filters, head, q).reshape(2, code.n_realizations, d, t)
            for x, bar, out in ((q, bars[0], outs[0]), (k, bars[1], outs[1])):
                out.append(torch.einsum("btd,rdt->btr", x[:, :, head], bar))
        return torch.stack(outs[0], 2), torch.stack(outs[1], 2)

    def codes(self, code: ConvCode, length: int, start: int = 0, layer: int = 0):
        """Explicit ``(Q̄, K̄) [1, T, H, D, R]`` (gated, without ``(DR)^{-1/4}``); tests only."""
        like = torch.empty((), dtype=torch.float64, device=self.filters.device)
        filters = self._filters(layer, code.n_realizations, like) * (
            self.head_dim * code.n_realizations) ** 0.25
        if self.ndim == 2:
            bars = torch.stack([self._bars_2d(code, filters, h, like) for h in range(self.n_heads)])
            bars = bars.flatten(-2).permute(1, 4, 0, 3, 2)  # [2, T, H, D, R]
        else:
            bars = self._bars_1d(code, filters, length, start, like)
        if self.gated:
            delta = self.gate_weight(layer).double()[..., None]
            eps = code.gate_noise
            assert eps is not None  # a gated SPE draws gate noise
            bars = bars + delta.sqrt() * eps.double()
        return bars[0][None], bars[1][None]

    def _bars_1d(self, code, filters, length, start, like):
        c_len, p_len = self.block_size, self.kernel_size[0]
        hd = self.n_heads * self.head_dim
        blocks = NoiseBlocks(code, hd, c_len, self.noise, like)
        first, last = start // c_len, (start + length + p_len - 2) // c_len
        z = torch.cat([blocks(b) for b in range(first, last + 1)], 1)[:, start - first * c_len :]
        win = z[:, : length + p_len - 1].unfold(1, p_len, 1)  # [HD, T, R, P]
        f = filters.reshape(2, hd, p_len).flip(-1)
        bars = torch.einsum("xtrp,sxp->sxtr", win, f)
        return bars.reshape(2, self.n_heads, self.head_dim, length, -1).permute(0, 3, 1, 2, 4)

    def context_kernel(self, positions_q, positions_k=None, layer=0) -> Tensor:
        """Analytic ``P'_d(p_m, p_n)`` ``[Bp, H, D, T, S]``: ``Σ_p φ^Q(p + Δ) φ^K(p)``, Δ = p_m−p_n
        (a lag vector on the grid for 2-D: positions ``[Bp, T, 2]`` = (row, col))."""
        positions_k = positions_q if positions_k is None else positions_k
        f = self.filters.double()
        hd, ks = self.n_heads * self.head_dim, self.kernel_size
        pad = [p - 1 for p in ks]
        conv = F.conv1d if self.ndim == 1 else F.conv2d
        flat_pad = [x for p in reversed(pad) for x in (p, p)]
        corr = conv(F.pad(f[0].reshape(1, hd, *ks), flat_pad), f[1].reshape(hd, 1, *ks), groups=hd)
        corr = corr.reshape(self.n_heads, self.head_dim, *corr.shape[2:])  # lag + (P−1) index
        pq = positions_q.reshape(*positions_q.shape[:2], -1).long()
        pk = positions_k.reshape(*positions_k.shape[:2], -1).long()
        lag = pq[:, :, None, :] - pk[:, None, :, :]  # [Bp, T, S, ndim]
        inside = ((lag.abs() < torch.tensor(ks, device=lag.device)).all(-1))
        idx = [(lag[..., i] + pad[i]).clamp(0, 2 * pad[i]) for i in range(self.ndim)]
        kern = corr[tuple([slice(None), slice(None), *idx])]  # [H, D, Bp, T, S]
        kern = (kern * inside).permute(2, 0, 1, 3, 4)
        if self.gated:
            delta = self.gate_weight(layer).double()[None, ..., None, None]
            kern = delta + (1 - delta) * kern
        return kern
