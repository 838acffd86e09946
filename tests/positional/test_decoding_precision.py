"""Float32 PEs at large positions that are not powers of two (8191, 65535): a one-token decoding
step equals the parallel row within 1e-5 relative, and both equal a float64 evaluation of the same
float32 parameters. Angles ``2π f p`` must be reduced modulo one turn before float32 sinusoids
(``turn_angle``): unreduced, sineSPE drifted by 1e-3 at p = 8191 and RoPE C by 5e-5 at 65535."""

import pytest
import torch

from stripes.positional import build_positional

H, D = 2, 8
POSITIONS = (8191, 65535)
TOL = 1e-5

QK_CASES = {
    "sine_spe": ("sine_spe", dict(n_realizations=16)),
    "sine_spe_gated": ("sine_spe", dict(n_realizations=16, gated=True)),
    "conv_spe": ("conv_spe", dict(kernel_size=5, n_realizations=16)),
    "fstripe": ("fstripe", dict(key_phases=True)),
    "fstripe1": ("fstripe1", {}),
    **{f"{kind}_{v}": (kind, dict(variant=v)) for kind in ("rope", "rope_pool") for v in "ABC"},
}
ADDITIVE_CASES = {"sinusoidal": ("sinusoidal", {}), "learned": ("learned", {})}


def _relative(a, b):
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm())


def _build(kind, params, max_len=64):
    torch.manual_seed(0)
    kw = dict(d_model=H * D) if kind in ADDITIVE_CASES else dict(n_heads=H, head_dim=D)
    if kind == "learned":
        kw["max_len"] = max_len
    pe = build_positional(kind, **kw, **params)
    if hasattr(pe, "freq_logits"):  # frequencies of a trained model: up to 1/2 cycle per step
        with torch.no_grad():
            pe.freq_logits.normal_(0.0, 2.0, generator=torch.Generator().manual_seed(3))
    return pe


def _reference(pe, q, k, positions, code):
    """Float64 ``(q̂, k̂)`` at ``positions [1, T]`` (float64) from the PE's float32 parameters."""
    pool = lambda x, bars: torch.einsum("bthd,bthdj->bthj", x.double(), bars)
    if pe.kind in ("rope", "rope_pool"):
        theta = torch.einsum("bt,hi->bthi", positions, pe.omega[..., 0].double())
        cos, sin = theta.cos(), theta.sin()
        out = []
        for x in (q.double(), k.double()):
            a, b = x[..., 0::2], x[..., 1::2]
            out.append(a * (cos + sin) + b * (cos - sin) if pe.kind == "rope_pool" else
                       torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2))
        return tuple(out)
    if pe.kind.startswith("fstripe"):
        qb, kb = pe.codes(positions)
        return pool(q, qb), pool(k, kb)
    if pe.kind == "conv_spe":
        qb, kb = pe.codes(code, positions.shape[1], start=int(positions[0, 0]))
    else:
        qb, kb = pe.codes(code, positions)
    scale = (D * code.n_realizations) ** -0.25
    return pool(q, qb) * scale, pool(k, kb) * scale


@pytest.mark.parametrize("p", POSITIONS)
@pytest.mark.parametrize("case", sorted(QK_CASES))
def test_qk_pe_decoding_step_at_a_large_position_equals_the_parallel_row(case, p):
    pe = _build(*QK_CASES[case])
    gen = torch.Generator().manual_seed(1)
    q, k = torch.randn(2, 1, p + 1, H, D, generator=gen)
    code = pe.draw_code(p + 1, generator=torch.Generator().manual_seed(2)) if pe.stochastic \
        else None
    with torch.no_grad():
        parallel = pe(q, k, code=code)
        step = pe(q[:, -1:], k[:, -1:], offset=p, code=code)
        exact = _reference(pe, q[:, -1:], k[:, -1:], torch.tensor([[float(p)]]).double(), code)
    for s, par, ref in zip(step, parallel, exact, strict=True):
        assert _relative(s[0, 0], par[0, -1]) < TOL
        assert _relative(s[0, 0], ref[0, 0]) < TOL
        assert _relative(par[0, -1], ref[0, 0]) < TOL


@pytest.mark.parametrize("case", sorted(QK_CASES))
def test_explicit_time_positions_at_large_times_equal_the_default_ones(case):
    """Times given as a tensor (one row per sequence, several chunks) take the reduced paths too."""
    pe = _build(*QK_CASES[case])
    if hasattr(pe, "pool_rows"):
        pe.pool_rows = 8
    t, start = 11, 65531
    q, k = torch.randn(2, 3, t, H, D, generator=torch.Generator().manual_seed(1))
    code = pe.draw_code(t, generator=torch.Generator().manual_seed(2)) if pe.stochastic else None
    times = (start + torch.arange(t))[None].expand(3, t)
    exact = _reference(pe, q, k, times[:1].double(), code)
    with torch.no_grad():
        for positions in (times, times.double(), times[:1, :, None]):
            got = pe(q, k, positions=positions, code=code)
            for a, b in zip(got, exact, strict=True):
                assert _relative(a, b) < TOL


@pytest.mark.parametrize("p", POSITIONS)
@pytest.mark.parametrize("case", sorted(ADDITIVE_CASES))
def test_additive_pe_decoding_step_at_a_large_position_equals_the_parallel_row(case, p):
    pe = _build(*ADDITIVE_CASES[case], max_len=p + 1)
    x = torch.randn(1, p + 1, H * D, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        parallel = pe(x)
        step = pe(x[:, -1:], offset=p)
        explicit = pe(x[:, -1:], positions=torch.tensor([[p]]))
    assert _relative(step[0, 0], parallel[0, -1]) < TOL
    assert _relative(explicit[0, 0], parallel[0, -1]) < TOL


@pytest.mark.parametrize("case", ["sine_spe", "fstripe", "fstripe1", "rope_C", "rope_pool_C"])
def test_float32_gradients_at_large_times_equal_a_float64_evaluation(case):
    """Forward and backward through the fast paths (several chunks, times near 65535) against
    the float64 reference built from the same float32 leaves: gradients reach the same tensors."""
    pe = _build(*QK_CASES[case])
    if hasattr(pe, "pool_rows"):
        pe.pool_rows = 4
    t, start = 9, 65527
    gen = torch.Generator().manual_seed(1)
    q, k = (torch.randn(1, t, H, D, generator=gen).requires_grad_() for _ in range(2))
    code = pe.draw_code(t, generator=torch.Generator().manual_seed(2)) if pe.stochastic else None
    fast = pe(q, k, offset=start, code=code)
    exact = _reference(pe, q, k, (start + torch.arange(t, dtype=torch.float64))[None], code)
    leaves = [q, k, *[p for p in pe.parameters() if p.requires_grad]]
    g = [torch.randn(x.shape, generator=gen) for x in fast]
    g_fast = torch.autograd.grad(fast, leaves, g)
    g_exact = torch.autograd.grad(exact, leaves, [x.double() for x in g])
    for a, b in zip((*fast, *g_fast), (*exact, *g_exact), strict=True):
        assert _relative(a, b) < 1e-5
