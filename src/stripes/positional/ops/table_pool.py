"""F-StrIPE's pooling through small sinusoid tables: no trigonometry at the scale of ``T·H·D·K``.

F-StrIPE pools ``x̂_t = Σ_d x_td (Ω(a_t + θ)_d ⊙ w_d)`` with ``a_tdk = 2π f_dkᵀ p_t`` ([FS] Eq. 6-9).
Evaluating the sinusoids for every ``(t, h, d, k)`` costs two transcendental calls per element,
each several times dearer than an elementwise product on a CPU. Both position kinds that matter
repeat:

- **times** ``p_t = s + t`` (``L = 1``): with chunks of C positions, ``a_t = A_c + a_r`` (chunk base
  ``A_c = 2π f (s + cC)``, offset ``a_r = 2π f r``, ``r < C``), and the angle-addition formula
  moves the chunk's rotation by ``A_c`` (and the phase θ) into per-chunk *coefficients*: one
  ``[C]``-row table serves every chunk;
- **structure vectors** take few distinct values (equal labels, equal positions): one table row
  per distinct position ``u``, gathered per token.

Either way ``x̂_tj = Σ_{τ,d} x_td tab_τ(row_t)_kd coef_g[τ, d, j]`` for the table rows ``τ ∈ {cos,
sin}`` and outputs ``j ∈ {cos_k, sin_k}``: one elementwise product per chunk, then a batched matmul
over ``(h, k)`` with the coefficients (from ``cos(a + φ) = cos a cos φ − sin a sin φ``,
``sin(a + φ) = sin a cos φ + cos a sin φ``, ``φ = A_c + θ``). Tables and coefficients are small and
built with ordinary autograd; :class:`_TablePool` does the ``T``-sized part chunk by chunk with a
recomputing backward (it stores nothing of size ``T·H·D·K``). Positions that take too many distinct
values fall back to :func:`stripes.positional.ops.pooling.sinusoid_pool` (``plan_tables`` returns
None).
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import Tensor

from stripes.positional.base import turn_angle
from stripes.tracing import call_into

# Largest table (elements, H·K·U·2D) built for distinct structure positions: 32 MB in float32.
TABLE_BUDGET = 8 * 2**20


class _TablePool(torch.autograd.Function):
    """``x [B, T, H, D]``, ``table [H, K, 2, U, D]``, ``coef [G, H·K, 2, 2, D]`` (output j, table
    row τ, feature d) -> ``y [B, T, H, K, 2]``.

    ``plan``: ``(sl, rows, g)`` per chunk: positions ``sl``, table rows (a slice, or indices
    ``[Bp, n]``) and coefficient group g. Layouts keep (k, τ) outermost so every product
    broadcasts x over outer axes only, with long contiguous inner runs.
    """

    @staticmethod
    def forward(ctx, x, table, coef, plan):
        ctx.save_for_backward(x, table, coef)
        ctx.plan = plan
        b, _, h, _ = x.shape
        y = x.new_empty(b, x.shape[1], h, table.shape[1], 2)
        for sl, rows, g in plan:
            xs, tab = _chunk_inputs(x, table, sl, rows)
            prod = _product(tab, xs)  # [H·K, 2, B·n, D]
            # outputs as rows ([H·K, 2, B·n]): ~8x faster in MKL than as two columns
            yc = torch.bmm(coef[g][:, :, 0], prod[:, 0].transpose(1, 2))
            yc.baddbmm_(coef[g][:, :, 1], prod[:, 1].transpose(1, 2))
            y[:, sl] = yc.view(h, -1, 2, b, xs.shape[2]).permute(3, 4, 0, 1, 2)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, table, coef = ctx.saved_tensors
        gy = gy.contiguous()  # a compiled graph may hand it strided (the views below need rows)
        b, _, h, d = x.shape
        gx, g_table, g_coef = torch.empty_like(x), torch.zeros_like(table), torch.zeros_like(coef)
        for sl, rows, g in ctx.plan:
            xs, tab = _chunk_inputs(x, table, sl, rows)
            n = xs.shape[2]
            # a copy, not a reshape: a compiled backward may view a grad whose runtime strides
            # differ from the traced ones
            gyc = gy[:, sl].permute(2, 3, 4, 0, 1).contiguous().view(coef.shape[1], 2, b * n)
            # ∂y/∂prod = Σ_j gy_j coef_j: two rank-one updates (a bmm with inner size 2 is slow),
            # into an explicit contiguous buffer: with one head or D = 1 the size-1 axes let
            # broadcasting pick a permuted layout, which the views below cannot take
            big = x.new_empty(coef.shape[1], 2, b * n, d)
            call_into(torch.mul, gyc[:, 0, None, :, None], coef[g][:, 0, :, None], out=big)
            big.addcmul_(gyc[:, 1, None, :, None], coef[g][:, 1, :, None])
            big = big.view(h, -1, 2, b, n, d)
            gx[:, sl] = _contract_rows(big, tab).permute(1, 2, 0, 3)
            _accumulate_rows(g_table, big, xs, rows)
            prod = _product(tab, xs)
            for tau in range(2):
                g_coef[g][:, :, tau] += torch.bmm(gyc, prod[:, tau])
        return gx, g_table, g_coef, None


def _chunk_inputs(x: Tensor, table: Tensor, sl: slice, rows) -> tuple[Tensor, Tensor]:
    """``xs [H, B, n, D]`` of the chunk and its table rows ``[H, K, 2, Bp, n, D]``."""
    xs = x[:, sl].permute(2, 0, 1, 3).contiguous()  # small: keeps the products contiguous
    if isinstance(rows, slice):
        return xs, table[:, :, :, rows][:, :, :, None]
    tab = table.index_select(3, rows.reshape(-1))
    return xs, tab.view(*table.shape[:3], *rows.shape, table.shape[-1])


def _product(tab: Tensor, xs: Tensor) -> Tensor:
    """``tab ⊙ x``: ``[H, K, 2, Bp, n, D]`` times ``xs [H, B, n, D]`` -> ``[H·K, 2, B·n, D]``
    (an explicit, contiguous output: broadcasting alone may pick a permuted layout)."""
    h, k, _, _, n, d = tab.shape
    out = tab.new_empty(h, k, 2, xs.shape[1], n, d)
    return call_into(torch.mul, tab, xs[:, None, None], out=out).view(h * k, 2, -1, d)


def _contract_rows(big: Tensor, tab: Tensor) -> Tensor:
    """``Σ_{k,τ} big ⊙ tab`` ``[H, B, n, D]``: one multiply-add per (k, τ) slice into a small
    accumulator (twice as fast as a product followed by a sum over the 2K slices)."""
    h, k, _, b, n, d = big.shape
    big, tab = big.view(h, 2 * k, b, n, d), tab.reshape(h, 2 * k, -1, n, d)
    out = torch.mul(big[:, 0], tab[:, 0])
    for m in range(1, 2 * k):
        out.addcmul_(big[:, m], tab[:, m])
    return out


def _accumulate_rows(g_table: Tensor, big: Tensor, xs: Tensor, rows) -> None:
    """``g_table [H, K, 2, U, D] += ∂y/∂tab = big ⊙ x`` over the chunk's rows (big
    ``[H, K, 2, B, n, D]``); overwrites ``big``."""
    if isinstance(rows, slice) and big.shape[3] == 1:  # times, B = 1: one fused pass
        g_table[:, :, :, rows].addcmul_(big[:, :, :, 0], xs[:, None, None, 0])
        return
    g_tab = big.mul_(xs[:, None, None])
    if isinstance(rows, slice):
        g_table[:, :, :, rows] += g_tab.sum(3)
        return
    if rows.shape[0] == 1:
        g_tab = g_tab.sum(3, keepdim=True)
    g_table.index_add_(3, rows.reshape(-1), g_tab.flatten(3, 4))


def _tables(pos: Tensor, freqs: Tensor) -> Tensor:
    """Distinct positions ``[U, L]``, ``f [H, D, K, L]`` -> ``[H, K, 2, U, D]`` (cos, sin).

    Angles are reduced modulo one turn in float64 (:func:`turn_angle`) before the sinusoids:
    the table is small, and a float32 ``2π f·p`` would be off by ``~|2π f p|·6e-8`` rad (5e-5 at
    the last row of a 256-row chunk), so a one-token step and the parallel row would differ."""
    f, p = freqs.double(), pos.double()
    if pos.shape[-1] == 1:  # an outer product (einsum would go through a slow matmul)
        turns = f[..., 0].transpose(1, 2)[:, :, None] * p[:, 0, None]
    else:
        turns = torch.einsum("ul,hdkl->hkud", p, f)
    a = turn_angle(turns).to(freqs.dtype)
    return torch.stack([a.cos(), a.sin()], dim=2)


def _coefficients(w: Tensor, phase: Tensor) -> Tensor:
    """``w [H, D, 2K]`` (cos gains, then sin gains), phases ``φ [G, H, D, K]`` ->
    ``coef [G, H·K, 2, 2, D]``: output ``j ∈ (cos_k, sin_k)``, table row ``τ``, feature d (module
    docstring)."""
    k = phase.shape[-1]
    wc, ws = w[..., :k], w[..., k:]
    c, s = phase.cos(), phase.sin()
    to_cos = torch.stack([wc * c, -wc * s], dim=1)  # [G, τ, H, D, K]
    to_sin = torch.stack([ws * s, ws * c], dim=1)
    coef = torch.stack([to_cos, to_sin], dim=1)  # [G, j, τ, H, D, K]
    g, h, d = phase.shape[0], phase.shape[1], phase.shape[2]
    return coef.permute(0, 3, 5, 1, 2, 4).reshape(g, h * k, 2, 2, d)


def time_start(positions: Tensor | None, length: int, offset: int) -> int | None:
    """First time of ``positions`` when they are ``s + arange(T)`` (integer s) for every row (else
    None). ``None`` positions give ``offset`` without looking at any tensor; explicit positions
    cost one host sync (the answer picks a code path), not one per check."""
    if positions is None:
        return offset
    if torch.compiler.is_compiling():  # no host sync in a graph: the general path serves
        return None
    p = positions[..., 0] if positions.dim() == 3 and positions.shape[-1] == 1 else positions
    if p.dim() != 2:
        return None
    first = p[:1, :1]
    ok = (p == first + torch.arange(length, device=p.device, dtype=p.dtype)).all()
    if p.is_floating_point():
        ok = ok & (first == first.round()).all()
    is_times, start = torch.stack([ok.to(p.dtype), first[0, 0]]).tolist()  # the one sync
    return int(start) if is_times else None


def plan_tables(positions, length, offset, freqs, batch, chunk_tokens):
    """``(table_pos [U, L], base [G], plan)`` for :class:`_TablePool`, or None (too many distinct
    positions: use the direct pooling). ``base``: each chunk's first time (times) or zeros."""
    h, d, k, dim = freqs.shape
    start = time_start(positions, length, offset) if dim == 1 else None
    if start is not None:
        c = max(1, min(length, chunk_tokens // batch))
        plan = [(slice(i, min(i + c, length)), slice(0, min(c, length - i)), i // c)
                for i in range(0, length, c)]
        base = start + torch.arange(0, length, c, dtype=torch.float64, device=freqs.device)
        return torch.arange(c, device=freqs.device, dtype=freqs.dtype)[:, None], base, plan
    if torch.compiler.is_compiling():  # U distinct positions: a data-dependent size
        return None
    vec = positions if positions.dim() == 3 else positions[..., None]
    uniq, inv = torch.unique(vec.reshape(-1, vec.shape[-1]), dim=0, return_inverse=True)
    if h * k * uniq.shape[0] * 2 * d > TABLE_BUDGET:
        return None
    inv = inv.view(vec.shape[0], length)
    c = max(1, chunk_tokens // batch)
    plan = [(slice(i, i + c), inv[:, i : i + c], 0) for i in range(0, length, c)]
    return uniq.to(freqs.dtype), torch.zeros(1, dtype=torch.float64, device=freqs.device), plan


def table_pool(x: Tensor, table: Tensor, w: Tensor, phase: Tensor, plan) -> Tensor:
    """One side: ``x [B, T, H, D]`` -> ``x̂ [B, T, H, 2K]`` (K cosines, then K sines).

    Args:
        table: ``[H, K, 2, U, D]`` from :func:`_tables`.
        w: gains ``[H, D, 2K]``.
        phase: ``φ [G, H, D, K]``: per chunk group, chunk base angle plus θ.
        plan: from :func:`plan_tables`.
    """
    coef = _coefficients(w, phase)
    if _use_compiled(x, plan):
        y = _compiled_time_pool(x, table, coef, plan)
    else:
        y = _TablePool.apply(x, table, coef, plan)  # [B, T, H, K, 2]
    return y.transpose(-1, -2).flatten(-2)


# --- compiled kernels (times on the CPU) --------------------------------------------------------
# Eager PyTorch must write each chunk's product to memory between ops, which makes this
# elementwise work memory-bound; torch.compile (Inductor) fuses product and reduction into one
# C++ loop (benchmarks/results/positional.md has F-StrIPE's cost). Used for times on the CPU when
# B·T >= COMPILE_MIN_ROWS and STRIPES_COMPILE is not "0"; if compiling fails (no C++ compiler),
# a warning is given once and the eager path serves. Shapes: x [B, G, C, H, D], table
# [H, K, 2, C, D], coef [G, H, K, 2, 2, D] (groups g = chunks), gy [B, G, C, H, K, 2].
COMPILE_MIN_ROWS = 4096
_COMPILED: dict = {}


def _k_y(x, table, coef):
    prod = table.permute(3, 0, 1, 2, 4) * x[..., None, None, :]  # [B, G, C, H, K, τ, D]
    return (prod[..., None, :, :] * coef[None, :, None]).sum((-2, -1))


def _k_gx(gy, table, coef):
    tab = table.permute(3, 0, 1, 2, 4)[:, :, :, None]  # [C, H, K, 1, τ, D]
    return (gy[..., None, None] * coef[None, :, None] * tab).sum((4, 5, 6))


def _k_gcoef(gy, table, x):
    prod = table.permute(3, 0, 1, 2, 4) * x[..., None, None, :]
    return (gy[..., None, None] * prod[..., None, :, :]).sum((0, 2))


def _k_gtable(gy, coef, x):
    big = (gy[..., None, None] * coef[None, :, None]).sum(5)  # [B, G, C, H, K, τ, D]
    return (big * x[..., None, None, :]).sum((0, 1)).permute(1, 2, 3, 0, 4)


def _kernel(fn):
    if fn not in _COMPILED:
        _COMPILED[fn] = torch.compile(fn)
    return _COMPILED[fn]


class _CompiledTimePool(torch.autograd.Function):
    """:class:`_TablePool` for whole chunks of times, as fused compiled kernels (above)."""

    @staticmethod
    def forward(ctx, x, table, coef):
        ctx.save_for_backward(x, table, coef)
        return _kernel(_k_y)(x, table, coef)

    @staticmethod
    def backward(ctx, gy):
        x, table, coef = ctx.saved_tensors
        gy, need = gy.contiguous(), ctx.needs_input_grad
        return (_kernel(_k_gx)(gy, table, coef) if need[0] else None,
                _kernel(_k_gtable)(gy, coef, x) if need[1] else None,
                _kernel(_k_gcoef)(gy, table, x) if need[2] else None)


def _use_compiled(x: Tensor, plan) -> bool:
    return (not torch.compiler.is_compiling()  # an enclosing compiled graph fuses it anyway
            and isinstance(plan[0][1], slice) and x.device.type == "cpu"
            and x.shape[0] * x.shape[1] >= COMPILE_MIN_ROWS and not _COMPILED.get("failed")
            and os.environ.get("STRIPES_COMPILE", "1") != "0")


def _compiled_time_pool(x: Tensor, table: Tensor, coef: Tensor, plan) -> Tensor:
    """Whole chunks through :class:`_CompiledTimePool`, a ragged last chunk eagerly."""
    b, t, h, d = x.shape
    c = plan[0][1].stop
    g = t // c
    try:
        groups = coef[:g].view(g, h, -1, 2, 2, d)
        y = _CompiledTimePool.apply(x[:, : g * c].reshape(b, g, c, h, d), table, groups)
    except Exception as err:  # noqa: BLE001 (any compiler failure: fall back, once)
        _COMPILED["failed"] = True
        warnings.warn(f"torch.compile failed ({type(err).__name__}); F-StrIPE uses its eager "
                      "path (set STRIPES_COMPILE=0 to skip compiling)", stacklevel=3)
        return _TablePool.apply(x, table, coef, plan)
    y = y.reshape(b, g * c, h, -1, 2)
    if g * c == t:
        return y
    n = t - g * c
    tail = _TablePool.apply(x[:, g * c :], table, coef[g : g + 1], [(slice(0, n), slice(0, n), 0)])
    return torch.cat([y, tail], 1)


def structure_pool(positions, offset, freqs, q, k, w, theta_q, theta_k, chunk_tokens):
    """F-StrIPE's ``(q̂, k̂)`` through tables, or None when positions are too varied.

    ``freqs [H, D, K, L]``, ``w [H, D, 2K]``, ``θ [H, D, K]`` or None; q, k ``[B, T, H, D]``.
    """
    planned = plan_tables(positions, q.shape[1], offset, freqs, q.shape[0], chunk_tokens)
    if planned is None:
        return None
    table_pos, base, plan = planned
    table = _tables(table_pos.to(q), freqs)
    base_angle = turn_angle(base[:, None, None, None] * freqs[None, ..., 0].double()).to(q)
    out = []
    for x, theta in ((q, theta_q), (k, theta_k)):
        phase = base_angle if theta is None else base_angle + theta
        out.append(table_pool(x, table, w, phase, plan))
    return out[0], out[1]
