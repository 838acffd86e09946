"""SPE ([SPE] Sec. 2): Monte-Carlo kernels, 1/R variance, orthogonal noise, gating, Eq. 15,
fast paths against explicit codes, counter-based noise."""

import math

import pytest
import torch

from stripes.positional import ConvSPE, SineSPE
from stripes.positional.kernel_view import expected_logits
from stripes.positional.ops.pooling import sinusoid_pool, sinusoid_pool_reference
from stripes.positional.ops.spe_noise import draw_noise

T = 12


def _sine(**kw):
    torch.manual_seed(0)
    return SineSPE(2, 3, n_sines=3, **kw).double()


def _conv(**kw):
    torch.manual_seed(0)
    return ConvSPE(2, 3, kernel_size=4, block_size=4, **kw).double()


def _estimates(pe, r, draws, seed=0):
    """``Q̄_d K̄_dᵀ / R`` for ``draws`` independent codes: ``[draws, H, D, T, T]``."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(draws):
        code = pe.draw_code(generator=gen, n_realizations=r)
        if isinstance(pe, SineSPE):
            qb, kb = pe.codes(code, torch.arange(T)[None] * 1.0)
        else:
            qb, kb = pe.codes(code, T)
        out.append(torch.einsum("bthdr,bshdr->hdts", qb, kb) / r)
    return torch.stack(out)


def _kernel(pe):
    return pe.context_kernel(torch.arange(T)[None])[0]


@pytest.mark.parametrize("make", [_sine, _conv], ids=["sine", "conv"])
def test_monte_carlo_kernel_matches_analytic_and_variance_falls_like_one_over_r(make):
    pe = make(gated=True)
    kern = _kernel(pe)
    small, large = _estimates(pe, 4, 150), _estimates(pe, 64, 150, seed=1)
    mean_err = (large.mean(0) - kern).abs().max()
    assert mean_err < 0.05 * kern.abs().max()
    ratio = small.var(0).mean() / large.var(0).mean()
    assert 10 < ratio < 26, f"variance ratio {ratio:.1f}, expected about 64/4 = 16"


def test_conv_spe_kernel_vanishes_beyond_the_filter_length():
    pe = _conv()
    kern = _kernel(pe)
    lag = (torch.arange(T)[:, None] - torch.arange(T)[None]).abs()
    assert (kern[..., lag >= 4] == 0).all()
    assert (kern[..., lag < 4].abs() > 0).all()
    est = _estimates(pe, 32, 200).mean(0)
    assert est[..., lag >= 4].abs().max() < 0.1 * kern.abs().max()


def test_orthogonal_noise_gives_the_sine_kernel_exactly_in_one_draw():
    pe = _sine(n_realizations=6, noise="orthogonal")
    est = _estimates(pe, 6, 1)[0]
    torch.testing.assert_close(est, _kernel(pe), rtol=0, atol=1e-6)  # float32 noise, R·I rows
    with pytest.raises(ValueError, match="R >= 2K"):
        draw_noise("orthogonal", (2, 6, 4), None)


@pytest.mark.parametrize("make", [_sine, _conv], ids=["sine", "conv"])
def test_gating_adds_the_documented_constant(make):
    pe = make(gated=True, n_layers=2)
    torch.nn.init.normal_(pe.gate, std=2.0)
    pos = torch.arange(T)[None]
    for layer in (0, 1):
        delta = pe.gate_weight(layer).double()[None, :, :, None, None]
        gated = pe.context_kernel(pos, layer=layer)
        pe.gated = False
        plain = pe.context_kernel(pos)
        pe.gated = True
        torch.testing.assert_close(gated, delta + (1 - delta) * plain)
    mc = _estimates(pe, 64, 150).mean(0)  # codes use layer 0
    assert (mc - _kernel(pe)).abs().max() < 0.06


@pytest.mark.parametrize("make", [_sine, _conv], ids=["sine", "conv"])
def test_pooled_products_average_to_eq15(make):
    """``E[q̂·k̂]/√R = Σ_d q_d k_d P_d / √D``: the (DR)^{1/4} scaling and the attention's √R."""
    pe = make(gated=True)
    gen = torch.Generator().manual_seed(3)
    q, k = torch.randn(2, 2, T, 2, 3, dtype=torch.float64, generator=gen)
    acc = 0.0
    draws = 300
    for _ in range(draws):
        code = pe.draw_code(generator=gen, n_realizations=64)
        qh, kh = pe(q, k, code=code)
        acc = acc + torch.einsum("bthr,bshr->bhts", qh, kh) / math.sqrt(64)
    expected = expected_logits(pe, q, k)
    assert (acc / draws - expected).abs().max() < 0.05 * expected.abs().max()


@pytest.mark.parametrize("make", [_sine, _conv], ids=["sine", "conv"])
def test_fast_pooling_equals_explicit_codes(make):
    pe = make(gated=True)
    pe.pool_rows = 5  # several chunks for sineSPE
    gen = torch.Generator().manual_seed(4)
    code = pe.draw_code(generator=gen, n_realizations=7)
    q, k = torch.randn(2, 3, T, 2, 3, dtype=torch.float64, generator=gen)
    qh, kh = pe(q, k, code=code)
    qb, kb = pe.codes(code, torch.arange(T)[None] * 1.0) if isinstance(pe, SineSPE) else \
        pe.codes(code, T)
    scale = (3 * 7) ** -0.25
    torch.testing.assert_close(qh, torch.einsum("bthd,othdr->bthr", q, qb) * scale)
    torch.testing.assert_close(kh, torch.einsum("bthd,othdr->bthr", k, kb) * scale)
    assert qh.shape[-1] == 7  # R chosen at call time


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("times", [False, True])
def test_sinusoid_pool_backward_matches_autograd_of_the_reference(dense, times):
    """Arbitrary structure vectors, and times far from the origin (whose forward rotates one
    table of chunk offsets instead of evaluating every sinusoid)."""
    gen = torch.Generator().manual_seed(5)
    h, d, kk, r, t, b, l_dim = 2, 3, 2, 4, 9, 2, 1 if times else 2
    rnd = lambda *s: torch.randn(*s, dtype=torch.float64, generator=gen).requires_grad_()
    pos = torch.randn(b, t, l_dim, dtype=torch.float64, generator=gen)
    if times:
        pos = (5000.0 + torch.arange(t, dtype=torch.float64))[None, :, None]
    f, q, k = rnd(h, d, kk, l_dim), rnd(b, t, h, d), rnd(b, t, h, d)
    shape = (h, d * 2 * kk, r) if dense else (h, d, 2 * kk)
    wq, wk, pq = rnd(*shape), rnd(*shape), rnd(h, d, kk)
    pk = None if dense else rnd(h, d, kk)
    fast = sinusoid_pool(pos, f, q, k, wq, wk, pq, pk, dense=dense, chunk_tokens=8)
    slow = (sinusoid_pool_reference(pos, f, q, wq, pq, dense=dense),
            sinusoid_pool_reference(pos, f, k, wk, pk, dense=dense))
    inputs = [x for x in (f, q, k, wq, wk, pq, pk) if x is not None]
    g = torch.randn_like(fast[0]), torch.randn_like(fast[1])
    grads_fast = torch.autograd.grad(fast, inputs, g)
    grads_slow = torch.autograd.grad(slow, inputs, g)
    for a, c in zip(grads_fast, grads_slow, strict=True):
        torch.testing.assert_close(a, c)
    torch.testing.assert_close(fast, slow)


def test_conv_spe_direct_and_fft_read_the_same_counter_based_noise():
    pe = _conv(n_realizations=5)
    code = pe.draw_code(generator=torch.Generator().manual_seed(6))
    q, k = torch.randn(2, 1, 15, 2, 3, dtype=torch.float64)
    direct = pe(q, k, code=code, offset=3)
    pe.method = "fft"
    fft = pe(q, k, code=code, offset=3)
    for a, b in zip(direct, fft, strict=True):
        torch.testing.assert_close(a, b)
    shifted = pe(q[:, 5:], k[:, 5:], code=code, offset=8)  # the noise of a position is fixed
    torch.testing.assert_close(shifted[0], fft[0][:, 5:])


def test_conv_spe_2d_kernel_and_fft_agree_with_direct():
    torch.manual_seed(0)
    pe = ConvSPE(1, 2, kernel_size=(2, 3), n_realizations=64, ndim=2, grid=(3, 4)).double()
    rows, cols = torch.meshgrid(torch.arange(3), torch.arange(4), indexing="ij")
    grid = torch.stack([rows.flatten(), cols.flatten()], -1)[None]
    kern = pe.context_kernel(grid)[0]
    gen = torch.Generator().manual_seed(0)
    est = 0.0
    for _ in range(200):
        qb, kb = pe.codes(pe.draw_code(generator=gen), 12)
        est = est + torch.einsum("bthdr,bshdr->hdts", qb, kb) / 64 / 200
    assert (est - kern).abs().max() < 0.05 * kern.abs().max()
    far = (grid[0, :, None] - grid[0, None]).abs()
    assert (kern[..., (far[..., 0] >= 2) | (far[..., 1] >= 3)] == 0).all()
    code = pe.draw_code(generator=gen)
    q, k = torch.randn(2, 2, 12, 1, 2, dtype=torch.float64)
    direct = pe(q, k, code=code)
    pe.method = "fft"
    torch.testing.assert_close(pe(q, k, code=code)[0], direct[0])


def test_codes_are_reproducible_from_a_generator_and_shared_by_the_batch():
    pe = _sine()
    a = pe.draw_code(generator=torch.Generator().manual_seed(9))
    b = pe.draw_code(generator=torch.Generator().manual_seed(9))
    assert torch.equal(a.noise, b.noise)
    q = torch.randn(1, T, 2, 3, dtype=torch.float64).expand(3, -1, -1, -1)
    qh, _ = pe(q, q, code=a)
    assert torch.equal(qh[0], qh[2])
    frozen = pe.freeze(generator=torch.Generator().manual_seed(9))
    assert torch.equal(pe(q, q)[0], qh) and frozen is pe.frozen_code
    with pytest.raises(IndexError, match="gates"):
        _sine(gated=True).gate_weight(3)


@pytest.mark.parametrize(("method", "batch", "length"), [
    ("direct", 2, 10),
    ("fft", 1, 5),  # still partial first and last chunks; finite differences of FFT are slow
    pytest.param("fft", 2, 10, marks=pytest.mark.slow),
])
def test_conv_spe_backward_passes_gradcheck_for_inputs_and_filters(method, batch, length):
    from torch.func import functional_call

    pe = _conv(n_realizations=3, gated=True, method=method)
    code = pe.draw_code(generator=torch.Generator().manual_seed(2))
    q, k = torch.randn(2, batch, length, 2, 3, dtype=torch.float64).requires_grad_()
    call = lambda q, k: pe(q, k, code=code, offset=2)  # partial first and last chunks
    assert torch.autograd.gradcheck(call, (q, k))
    filters = pe.filters.detach().clone().requires_grad_()
    by_filters = lambda w: functional_call(pe, {"filters": w}, (q.detach(), k.detach()),
                                           {"code": code, "offset": 2})
    assert torch.autograd.gradcheck(by_filters, (filters,))


@pytest.mark.parametrize(("kernel", "batch"), [(4, 1), (24, 3)])  # nb−1 below / above G
def test_conv_spe_grouped_direct_matches_fft_forward_and_backward(kernel, batch):
    """Many full chunks (several groups of chunks, a short last group) between partial ones."""
    from torch.func import functional_call

    torch.manual_seed(0)
    pe = ConvSPE(2, 3, kernel_size=kernel, block_size=4, n_realizations=5).double()
    code = pe.draw_code(generator=torch.Generator().manual_seed(7))
    q, k = torch.randn(2, batch, 47, 2, 3, dtype=torch.float64).requires_grad_()
    g = torch.randn(2, batch, 47, 2, 5, dtype=torch.float64)
    results = []
    for method in ("direct", "fft"):
        pe.method = method
        filters = pe.filters.detach().clone().requires_grad_()
        out = functional_call(pe, {"filters": filters}, (q, k), {"code": code, "offset": 3})
        grads = torch.autograd.grad(out, (q, k, filters), tuple(g))
        results.append((*out, *grads))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


def test_conv_spe_decoding_keeps_one_chunk_of_codes_and_invalidates_it_on_updates():
    """No-grad decoding computes each chunk's codes once (kept in the code, one per layer) and
    still equals the parallel forward; an in-place parameter update drops the kept codes."""
    torch.manual_seed(0)
    pe = ConvSPE(2, 3, kernel_size=5, n_realizations=4, block_size=4)
    q, k = torch.randn(2, 1, 11, 2, 3)
    code = pe.draw_code(generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = pe(q, k, code=code)
        steps = [pe(q[:, t : t + 1], k[:, t : t + 1], offset=t, code=code) for t in range(11)]
        assert len(code.chunk_codes) == 1
        (_, stored_chunk, _, _), = code.chunk_codes.values()
        assert stored_chunk == 10 // 4
        pe.filters.mul_(2.0)  # a new version: the kept codes must not be reused
        moved = pe(q[:, 10:], k[:, 10:], offset=10, code=code)
    for i in range(2):
        torch.testing.assert_close(torch.cat([s[i] for s in steps], 1), want[i])
    torch.testing.assert_close(moved[0], 2 * steps[-1][0])
    assert len(code.chunk_codes) == 1  # replaced, not accumulated


def test_sine_spe_decoding_keeps_its_pooling_weights_until_parameters_change():
    torch.manual_seed(0)
    pe = SineSPE(2, 3, n_sines=2, n_realizations=4)
    q, k = torch.randn(2, 1, 6, 2, 3)
    code = pe.draw_code(generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = pe(q, k, code=code)
        steps = [pe(q[:, t : t + 1], k[:, t : t + 1], offset=t, code=code) for t in range(6)]
        assert len(code.prepared) == 1
        pe.gain_logits.add_(1.0)  # a new version: the kept weights must be rebuilt
        moved = pe(q[:, :1], k[:, :1], code=code)
        fresh = pe(q, k, code=code)
    for i in range(2):
        torch.testing.assert_close(torch.cat([s[i] for s in steps], 1), want[i])
        torch.testing.assert_close(moved[i], fresh[i][:, :1])
    assert not torch.allclose(moved[0], steps[0][0])
