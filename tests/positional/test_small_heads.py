"""One head, head size 1 (or 2 for the rotary PEs): every q/k PE's fast path equals its explicit
float64 reference, forward and backward. Size-1 axes let broadcasting pick permuted layouts
(F-StrIPE's backward once crashed on them with "view size is not compatible")."""

import math

import pytest
import torch

from stripes.positional import build_positional

B, T, OFFSET = 2, 23, 5  # 23 rows: ragged last chunks
SHAPES = [(1, 6), (3, 1), (1, 1)]
ROTARY_SHAPES = [(1, 6), (3, 2), (1, 2)]


def _times(length=T, offset=OFFSET):
    return (torch.arange(length, dtype=torch.float64) + offset)[None]


def _vectors(seed=3):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 3, (B, T, 2), generator=gen).cumsum(1) // 2).double()


def _pool(x, bars):
    return torch.einsum("bthd,bthdj->bthj", x, bars.expand(x.shape[0], *bars.shape[1:]))


def _fstripe_reference(pe, q, k, positions):
    pq, pk = pe.codes(_times() if positions is None else positions)
    return _pool(q, pq), _pool(k, pk)


def _spe_reference(pe, q, k, positions, code):
    if pe.kind == "conv_spe":
        qb, kb = pe.codes(code, T, start=OFFSET)
    else:
        qb, kb = pe.codes(code, _times() if positions is None else positions)
    scale = (pe.head_dim * code.n_realizations) ** -0.25
    return _pool(q, qb) * scale, _pool(k, kb) * scale


def _rotary_reference(pe, q, k, positions):
    """Pairs (2i, 2i+1) rotated by θ = ωᵀp ([ST] Eq. 8-10), or pooled to one number (Eq. 23)."""
    pos = (_times() if positions is None else positions)[..., None]
    theta = torch.einsum("btl,hil->bthi", pos, pe.omega.double())
    cos, sin = theta.cos(), theta.sin()
    out = []
    for x in (q, k):
        a, b = x[..., 0::2], x[..., 1::2]
        if pe.kind == "rope_pool":
            out.append(a * (cos + sin) + b * (cos - sin))
        else:
            out.append(torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2))
    return tuple(out)


CASES = {
    "fstripe_times": ("fstripe", dict(n_sines=2, key_phases=True, pool_rows=12), 1, False),
    "fstripe_vectors": ("fstripe", dict(n_sines=2, pool_rows=12), 2, True),
    "fstripe1_times": ("fstripe1", dict(pool_rows=12), 1, False),
    "sine_spe": ("sine_spe", dict(n_sines=2, n_realizations=5, pool_rows=12, gated=True), 1,
                 False),
    "sine_spe_vectors": ("sine_spe", dict(n_sines=2, n_realizations=5, pool_rows=12), 2, True),
    "conv_spe": ("conv_spe", dict(kernel_size=5, n_realizations=5, block_size=4), 1, False),
    "conv_spe_fft": ("conv_spe", dict(kernel_size=6, n_realizations=5, block_size=4,
                                      method="fft", gated=True), 1, False),
}
ROTARY = {f"{kind}_{v}": (kind, dict(variant=v), 1, False)
          for kind in ("rope", "rope_pool") for v in "ABC"}


def _run(case, heads, head_dim):
    kind, params, pdim, vectors = case
    torch.manual_seed(0)
    kw = dict(n_heads=heads, head_dim=head_dim, **params)
    if kind != "conv_spe":
        kw["position_dim"] = pdim
    pe = build_positional(kind, **kw).double()
    gen = torch.Generator().manual_seed(1)
    q, k = (torch.randn(B, T, heads, head_dim, dtype=torch.float64, generator=gen)
            .requires_grad_() for _ in range(2))
    positions = _vectors() if vectors else None
    code = pe.draw_code(T, generator=torch.Generator().manual_seed(2)) if pe.stochastic else None
    fast = pe(q, k, positions=positions, offset=0 if vectors else OFFSET, code=code)
    if kind.startswith("rope"):
        slow = _rotary_reference(pe, q, k, positions)
    elif kind.startswith("fstripe"):
        slow = _fstripe_reference(pe, q, k, positions)
    else:
        slow = _spe_reference(pe, q, k, positions, code)
    inputs = [q, k, *[p for p in pe.parameters() if p.requires_grad]]
    g = [torch.randn(x.shape, dtype=x.dtype, generator=gen) for x in fast]
    grads_fast = torch.autograd.grad(fast, inputs, g)
    grads_slow = torch.autograd.grad(slow, inputs, g)
    for a, c in zip((*fast, *grads_fast), (*slow, *grads_slow), strict=True):
        torch.testing.assert_close(a, c)


@pytest.mark.parametrize("heads, head_dim", SHAPES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_one_head_or_head_size_one_matches_the_reference_forward_and_backward(
        case, heads, head_dim):
    _run(CASES[case], heads, head_dim)


@pytest.mark.parametrize("heads, head_dim", ROTARY_SHAPES)
@pytest.mark.parametrize("case", sorted(ROTARY))
def test_rotary_pes_with_one_head_or_one_pair_match_the_reference(case, heads, head_dim):
    _run(ROTARY[case], heads, head_dim)


def test_fstripe_backward_with_one_head_batch_one_takes_the_table_path():
    """The reported crash: one head, one sequence, times (the chunk-rotation table path)."""
    pe = build_positional("fstripe", n_heads=1, head_dim=8)
    q, k = (torch.randn(1, 40, 1, 8, requires_grad=True) for _ in range(2))
    qh, kh = pe(q, k)
    (qh.square().sum() + kh.sum()).backward()
    assert q.grad.shape == q.shape and all(math.isfinite(float(p.grad.abs().sum()))
                                           for p in pe.parameters() if p.requires_grad)
