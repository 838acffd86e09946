"""Chunked causal linear attention with a hand-written backward, segment by segment.

Math (docs/math.md §1, [SPE] Eq. 10): per head, with ``v' = [v, 1]`` and chunks of C tokens,
``o'_i = tril(Q_i K_iᵀ) V'_i + Q_i S_i`` where ``S_i = S_0 + Σ_{j<i} K_jᵀ V'_j`` is the state
entering chunk i; ``o = o'[:E] / (o'[E] + ε)``. The backward, with ``dO'`` from the division,
``dA_i = tril(dO'_i V'_iᵀ)`` and ``G_i = dS_final + Σ_{j>i} Q_jᵀ dO'_j`` (what flows back into
chunk i's contribution to later states):
``dQ_i = dA_i K_i + dO'_i S_iᵀ``, ``dK_i = dA_iᵀ Q_i + V'_i G_iᵀ``,
``dV'_i = A_iᵀ dO'_i + K_i G_i``,
``dS_0 = G_0 + Q_0ᵀ dO'_0``.

Why by hand and by segment (docs/performance.md): autograd's version of the same products keeps
the ``C×C`` scores and all chunk states alive and makes a fresh large temporary for every
intermediate; fresh pages cost ~0.5 s/GiB to touch, which made time grow super-linearly in T
under the default allocator. Here the sequence runs in *segments* of a few chunks whose
temporaries (a few MiB, reused) stay in the heap and the caches: per segment a handful of batched
matmuls over all heads and chunks at once, a Python loop over ``T / segment`` (not over chunks).
Each segment's tokens are copied heads-first (in fp32) into the reused buffers, so the only
T-sized allocations are the outputs (and the gradients), and the inputs are saved as given. The
backward reloads a segment, and recomputes its scores and chunk states from its entry state.
:func:`stripes.attention.reference.naive_linear_attention` is the slow reference it is tested
against (forward and backward).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

#: Target bytes of one segment's ``[B·H, chunks, C, C]`` score buffer: small enough to stay in
#: the heap and L2 across segments, large enough that each batched matmul has work.
SEGMENT_BYTES = 2 << 20


def segment_layout(batch_heads: int, t: int, chunk: int,
                   segment_bytes: int = SEGMENT_BYTES) -> tuple[int, int]:
    """``(n_segments, chunks per segment)`` covering ``t`` tokens with little padding."""
    n_chunks = -(-t // chunk)
    target = max(1, segment_bytes // (4 * batch_heads * chunk * chunk))
    n_seg = -(-n_chunks // target)
    return n_seg, -(-n_chunks // n_seg)


class ChunkedCausalLinearAttention(torch.autograd.Function):
    """``(o [B, T, H, E], S'_final [B, H, M, E+1])`` from ``φ(q), φ(k) [B, T, H, M]``,
    ``v [B, T, H, E]``, ``S'_0 [B, H, M, E+1]`` or None (module docstring for the math).

    The inputs are saved as they are (no fp32 copies): each segment is loaded, in the
    accumulation dtype and heads-first, into reused buffers, forward and backward alike."""

    @staticmethod
    def forward(ctx, phi_q, phi_k, v, s0, chunk: int, eps: float, segment_bytes: int):
        b, t, h, m = phi_q.shape
        e = v.shape[-1]
        acc = torch.promote_types(v.dtype, torch.float32)
        n_seg, per_seg = segment_layout(b * h, t, chunk, segment_bytes)
        seg_len = per_seg * chunk
        bufs = _Buffers(b, h, per_seg, chunk, m, e, acc, phi_q.device)
        state = (s0.to(acc).reshape(b * h, m, e + 1).clone() if s0 is not None
                 else bufs.a.new_zeros(b * h, m, e + 1))
        entry = bufs.a.new_empty(n_seg, b * h, m, e + 1)
        out = bufs.a.new_empty(b, t, h, e)
        den = bufs.a.new_empty(n_seg, b, h, seg_len)
        for s in range(n_seg):
            entry[s] = state
            t0, t1 = s * seg_len, min(t, (s + 1) * seg_len)
            bufs.load(phi_q, phi_k, v, t0, t1)
            o1 = bufs.forward(state).view(b, h, seg_len, e + 1)  # state moves past the segment
            torch.add(o1[..., e], eps, out=den[s])
            torch.div(o1[:, :, : t1 - t0, :e], den[s, :, :, : t1 - t0, None],
                      out=out[:, t0:t1].permute(0, 2, 1, 3))
        ctx.save_for_backward(phi_q, phi_k, v, entry, out, den)
        ctx.chunk, ctx.has_s0 = chunk, s0 is not None
        return out, state.view(b, h, m, e + 1)

    @staticmethod
    def backward(ctx, d_out, d_state):
        phi_q, phi_k, v, entry, out, den = ctx.saved_tensors
        b, t, h, m = phi_q.shape
        e = v.shape[-1]
        n_seg, seg_len = den.shape[0], den.shape[-1]
        bufs = _Buffers(b, h, seg_len // ctx.chunk, ctx.chunk, m, e, out.dtype, out.device)
        g = (d_state.to(out.dtype).reshape(b * h, m, e + 1).clone() if d_state is not None
             else out.new_zeros(b * h, m, e + 1))
        d_out = d_out.to(out.dtype)
        dq, dk = phi_q.new_empty(phi_q.shape), phi_k.new_empty(phi_k.shape)
        dv = v.new_empty(v.shape)
        for s in reversed(range(n_seg)):
            t0, t1 = s * seg_len, min(t, (s + 1) * seg_len)
            bufs.load(phi_q, phi_k, v, t0, t1)
            bufs.d_out1(d_out[:, t0:t1], out[:, t0:t1], den[s])
            gq, gk, gv = bufs.backward(entry[s], g)  # g: dL/d state leaving -> entering
            for grad, full in ((gq, dq), (gk, dk), (gv[..., :e], dv)):
                full[:, t0:t1].copy_(grad.view(b, h, seg_len, -1)[:, :, : t1 - t0]
                                     .permute(0, 2, 1, 3))
        d_s0 = g.view(b, h, m, e + 1) if ctx.has_s0 else None
        return dq, dk, dv, d_s0, None, None, None


class _Buffers:
    """One segment's inputs and temporaries, reused segment after segment, and its products."""

    def __init__(self, b, h, n, c, m, e, dtype, device):
        self.b, self.h, self.n, self.c = b, h, n, c
        bh, e1 = b * h, e + 1
        new = partial(torch.empty, dtype=dtype, device=device)
        self.q, self.k, self.v1 = new(bh, n * c, m), new(bh, n * c, m), new(bh, n * c, e1)
        self.a, self.da = new(bh * n, c, c), new(bh * n, c, c)
        self.o1, self.do1 = new(bh * n, c, e1), new(bh * n, c, e1)
        self.kv, self.carried = new(bh, n, m, e1), new(bh, n, m, e1)
        self.gq, self.gk, self.gv = new(bh * n, c, m), new(bh * n, c, m), new(bh * n, c, e1)
        self.upper = torch.ones(c, c, dtype=torch.bool, device=device).triu_(1)

    def load(self, phi_q: Tensor, phi_k: Tensor, v: Tensor, t0: int, t1: int) -> None:
        """Tokens ``t0:t1`` of ``[B, T, H, ·]`` heads-first (``v' = [v, 1]``); rows past them
        zero (zero keys and values add nothing; their query rows are never written out)."""
        b, h, n = self.b, self.h, t1 - t0
        e = v.shape[-1]
        for src, dst in ((phi_q, self.q), (phi_k, self.k), (v, self.v1[..., :e])):
            dst.view(b, h, -1, dst.shape[-1])[:, :, :n].copy_(src[:, t0:t1].permute(0, 2, 1, 3))
        self.v1[:, :n, e] = 1.0
        if n < self.q.shape[1]:
            for buf in (self.q, self.k, self.v1):
                buf[:, n:] = 0.0

    def _chunks(self) -> tuple[Tensor, Tensor, Tensor]:
        c = self.c
        q, k, v1 = (x.view(-1, c, x.shape[-1]) for x in (self.q, self.k, self.v1))
        return q, k, v1

    def _scores(self, qc: Tensor, kc: Tensor) -> Tensor:
        torch.bmm(qc, kc.transpose(1, 2), out=self.a)
        return self.a.masked_fill_(self.upper, 0.0)

    def _carried(self, kc: Tensor, vc: Tensor, state: Tensor) -> Tensor:
        """States entering each chunk ``[BH·n, M, E+1]``; ``kv`` holds each chunk's own."""
        bh, n = self.b * self.h, self.n
        kv = torch.bmm(kc.transpose(1, 2), vc, out=self.kv.view(bh * n, *self.kv.shape[2:]))
        kv = kv.view(self.kv.shape)
        self.carried[:, 0] = state
        if n > 1:  # exclusive prefix sum: chunk i never sees (even as rounding) a later chunk
            torch.cumsum(kv[:, :-1], dim=1, out=self.carried[:, 1:])
            self.carried[:, 1:] += state[:, None]
        return self.carried.view(bh * n, *self.carried.shape[2:])

    def forward(self, state: Tensor) -> Tensor:
        """``o' [BH·n, C, E+1]`` of the loaded segment; ``state`` moves past the segment."""
        qc, kc, vc = self._chunks()
        torch.bmm(self._scores(qc, kc), vc, out=self.o1)
        self.o1.baddbmm_(qc, self._carried(kc, vc, state))
        state.copy_(self.carried[:, -1]).add_(self.kv[:, -1])
        return self.o1

    def d_out1(self, d_out: Tensor, out: Tensor, den: Tensor) -> None:
        """``dO'`` of the loaded segment from ``do, o [B, n, H, E]`` (n <= its length) and
        ``o'[E] + ε [B, H, length]``: ``d num = do / den``, ``d den = −Σ_e do·o / den``."""
        b, h, length = den.shape
        n, e = out.shape[1], out.shape[-1]
        do1 = self.do1.view(b, h, length, e + 1)
        d_out, out = d_out.permute(0, 2, 1, 3), out.permute(0, 2, 1, 3)
        torch.div(d_out, den[:, :, :n, None], out=do1[:, :, :n, :e])
        torch.sum(do1[:, :, :n, :e] * out, dim=-1, out=do1[:, :, :n, e])
        do1[:, :, :n, e].neg_()
        if n < length:
            do1[:, :, n:] = 0.0

    def backward(self, entry: Tensor, g: Tensor):
        """``(dq, dk, dv')`` of the loaded segment; ``g`` (dL/d state leaving it) becomes
        dL/d state entering it."""
        bh, n = self.b * self.h, self.n
        qc, kc, vc = self._chunks()
        do1 = self.do1
        a = self._scores(qc, kc)
        carried = self._carried(kc, vc, entry)
        da = torch.bmm(do1, vc.transpose(1, 2), out=self.da).masked_fill_(self.upper, 0.0)
        torch.bmm(da, kc, out=self.gq).baddbmm_(do1, carried.transpose(1, 2))
        # G_i = g + Σ_{j>i} Q_jᵀ dO'_j: per-chunk products, a suffix sum, then g.
        qdo = torch.bmm(qc.transpose(1, 2), do1, out=self.kv.view(bh * n, *self.kv.shape[2:]))
        qdo = qdo.view(self.kv.shape)
        suffix = self.carried
        suffix[:, -1] = g
        if n > 1:
            torch.cumsum(qdo[:, 1:].flip(1), dim=1, out=suffix[:, :-1]).add_(g[:, None])
            suffix[:, :-1] = suffix[:, :-1].flip(1)
        gc = suffix.view(bh * n, *suffix.shape[2:])
        torch.bmm(da.transpose(1, 2), qc, out=self.gk).baddbmm_(vc, gc.transpose(1, 2))
        torch.bmm(a.transpose(1, 2), do1, out=self.gv).baddbmm_(kc, gc)
        g.copy_(suffix[:, 0]).add_(qdo[:, 0])
        return self.gq, self.gk, self.gv


def chunked_causal_linear_attention_traced(phi_q: Tensor, phi_k: Tensor, v: Tensor,
                                           s0: Tensor | None, chunk: int, eps: float
                                           ) -> tuple[Tensor, Tensor]:
    """The same ``(o [B, T, H, E], S'_final [B, H, M, E+1])`` as
    :class:`ChunkedCausalLinearAttention` (same math, module docstring), written as plain
    tensor ops so that ``torch.compile`` traces it whole and autograd derives its backward:
    the form the model takes under compilation, where the hand-written one's reused buffers
    and strided ``out=`` writes cannot be traced. It keeps every chunk's state ``[B·H, T/C, M,
    E+1]`` for the backward (the memory the hand-written form saves); the compiler fuses the
    rest. Inputs ``[B, T, H, ·]``; ``s0`` ``[B, H, M, E+1]`` or None."""
    b, t, h, m = phi_q.shape
    e = v.shape[-1]
    acc = torch.promote_types(v.dtype, torch.float32)
    n = -(-t // chunk)
    pad = n * chunk - t  # zero keys and values past T add nothing; those query rows are dropped

    def chunks(x: Tensor) -> Tensor:  # [B, T, H, F] -> [B·H, n, C, F], zero-padded, heads first
        x = torch.nn.functional.pad(x.to(acc), (0, 0, 0, 0, 0, pad))
        return x.permute(0, 2, 1, 3).reshape(b * h, n, chunk, x.shape[-1])

    v1 = torch.cat([v.to(acc), v.new_ones(b, t, h, 1, dtype=acc)], -1)  # v' = [v, 1]
    q, k, vc = chunks(phi_q), chunks(phi_k), chunks(v1)
    visible = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril()
    scores = (q @ k.transpose(-1, -2)).masked_fill(~visible, 0.0)  # tril(Q_i K_iᵀ)
    kv = k.transpose(-1, -2) @ vc  # each chunk's own K_iᵀ V'_i  [B·H, n, M, E+1]
    start = kv.new_zeros(b * h, 1, m, e + 1) if s0 is None else \
        s0.to(acc).reshape(b * h, 1, m, e + 1)
    # S_i = S_0 + Σ_{j<i} K_jᵀ V'_j: an exclusive prefix sum (chunk i never sees a later one)
    carried = torch.cat([start, start + kv[:, :-1].cumsum(1)], 1)
    o1 = scores @ vc + q @ carried  # [B·H, n, C, E+1]
    o1 = o1.reshape(b, h, n * chunk, e + 1)[:, :, :t].transpose(1, 2)
    final = (carried[:, -1] + kv[:, -1]).view(b, h, m, e + 1)
    return o1[..., :e] / (o1[..., e:] + eps), final
