"""Every structure dimension reaches the kernel (issue 12): RoPE and RoPEPool map the L levels of
a structure vector onto the D/2 rotation pairs so that each level drives some pair at a frequency
that tells 0 from 1; F-StrIPE's signed vector frequencies express kernels that treat the
differences (1, 1) and (1, −1) alike, as an isotropic kernel must. Kernels are read as functions
of the structure difference, and the fast paths are checked against slow references, forward and
backward."""

import math

import pytest
import torch

from stripes.positional import FStrIPE, FStrIPE1, RoPE, RoPEPool, SineSPE
from stripes.positional.base import position_vectors
from stripes.positional.kernel_view import rope_context_terms, rope_logits
from stripes.positional.ops.pooling import sinusoid_pool
from stripes.positional.rope import rope_frequencies, structure_frequencies

BITS = 12  # BIN: the chord's 12-bit chroma


def _bits(b, t, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (b, t, BITS), generator=gen).double()


def _qk(b, t, h, d, seed=1, grad=False):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(b, t, h, d, dtype=torch.float64, generator=gen).requires_grad_(grad)
            for _ in range(2)]


def _logits(pe, q, k, positions):
    qh, kh = pe(q, k, positions=positions)
    return torch.einsum("bthd,bshd->bhts", qh, kh)


# --- RoPE / RoPEPool: the map of levels onto pairs ----------------------------------------------
@pytest.mark.parametrize("variant", ["A", "B", "C"])
@pytest.mark.parametrize("head_dim,levels", [(16, 12), (32, 12), (8, 12), (6, 3), (64, 12)])
def test_every_structure_level_drives_a_pair_at_a_bit_distinguishing_frequency(
        variant, head_dim, levels):
    omega = rope_frequencies(variant, 4, head_dim, levels)  # [Hf, D/2, L]
    strongest = omega.abs().amax((0, 1))  # per level, over heads and pairs
    # the r-th level sharing a pair turns it by 3^-r rad (r = l div D/2)
    floor = 3.0 ** -(torch.arange(levels) // (head_dim // 2)).double()
    assert (strongest >= floor * (1 - 1e-12)).all()
    assert (strongest > 0.1).all()  # not the <= 0.032 rad of the global grid


def test_the_legacy_map_leaves_chroma_bits_8_to_11_without_a_pair():
    omega = rope_frequencies("A", 4, 16, BITS, structure_map="legacy")
    assert (omega[..., 8:] == 0).all()
    assert (omega.abs().amax((0, 1))[3:8] <= 0.032).all()  # the small frequencies
    new = rope_frequencies("A", 4, 16, BITS)
    assert (new.abs().amax((0, 1)) > 0.3).all()
    with pytest.raises(ValueError, match="structure_map"):
        rope_frequencies("A", 4, 16, BITS, structure_map="axial")


@pytest.mark.parametrize("variant", ["A", "B", "C"])
def test_times_keep_the_geometric_grid_of_rope(variant):
    for d in (6, 16, 64):
        torch.testing.assert_close(rope_frequencies(variant, 4, d, 1),
                                   rope_frequencies(variant, 4, d, 1, structure_map="legacy"))


@pytest.mark.parametrize("head_dim", [4, 8, 16])
def test_bit_differences_of_levels_sharing_a_pair_give_distinct_angles(head_dim):
    omega = structure_frequencies("A", 1, head_dim, BITS)[0]  # [M, L]
    for row in omega:
        w = row[row != 0]
        grid = torch.cartesian_prod(*[torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)] *
                                    len(w)).reshape(-1, len(w))
        angles = (grid @ w).sort().values
        assert angles[-1] - angles[0] < 2 * math.pi  # no wrap-around
        assert (angles.diff() > 1e-6).all()  # 3^n bit differences, 3^n angles


def test_each_level_of_a_shared_pair_is_carried_exactly_once():
    for m, levels in ((8, 12), (16, 12), (2, 5), (3, 3)):
        carried = structure_frequencies("A", 1, 2 * m, levels)[0] != 0  # [M, L]
        assert (carried.sum(0) >= 1).all()  # every level on a pair
        assert (carried.sum(1) >= 1).all()  # no idle pair
        if m < levels:
            assert (carried.sum(0) == 1).all()


@pytest.mark.parametrize("cls", [RoPE, RoPEPool])
@pytest.mark.parametrize("variant", ["A", "B", "C"])
def test_flipping_any_chroma_bit_of_a_key_changes_the_logits(cls, variant):
    h, d, t = 2, 16, 5  # 8 pairs for 12 bits: bits 8-11 share pairs with bits 0-3
    pe = cls(h, d, variant=variant, position_dim=BITS).double()
    q, k = _qk(1, t, h, d)
    pos = _bits(1, t)
    base = _logits(pe, q, k, pos)
    for level in range(BITS):
        moved = pos.clone()
        moved[0, -1, level] = 1 - moved[0, -1, level]  # the last step's bit l
        change = (_logits(pe, q, k, moved) - base)[..., -1].abs().max()
        assert change > 1e-2 * base.abs().max(), level


@pytest.mark.parametrize("cls,pooled", [(RoPE, False), (RoPEPool, True)])
@pytest.mark.parametrize("head_dim", [8, 10])
def test_rope_over_chroma_matches_eq14_and_eq23_forward_and_backward(cls, pooled, head_dim):
    h, t = 3, 7
    pe = cls(h, head_dim, variant="C", position_dim=BITS).double()
    q, k = _qk(2, t, h, head_dim, grad=True)
    pos = _bits(2, t, seed=3)
    got = _logits(pe, q, k, pos)

    def slow():  # Eq. 14 / 23 from the context terms, ω taken with gradients
        pq = position_vectors(pos, t, 0, None, torch.float64)
        tq = torch.einsum("btl,hil->bhit", pq, pe.omega)
        lag, tot = tq[..., None] - tq[..., None, :], tq[..., None] + tq[..., None, :]
        ctx = {"cos_lag": lag.cos(), "sin_lag": lag.sin(), "cos_sum": tot.cos(),
               "sin_sum": tot.sin()}
        return rope_logits(q, k, ctx, pooled)

    want = slow()
    torch.testing.assert_close(got, want)
    ref = rope_logits(q, k, rope_context_terms(pe, pos), pooled)  # the kernel view agrees
    torch.testing.assert_close(got, ref)
    w = torch.randn(got.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    params = (q, k, pe.omega)
    for a, b in zip(torch.autograd.grad((got * w).sum(), params),
                    torch.autograd.grad((want * w).sum(), params), strict=True):
        torch.testing.assert_close(a, b)


# --- F-StrIPE: signed vector frequencies --------------------------------------------------------
def test_vector_frequencies_are_signed_and_times_keep_theirs():
    torch.manual_seed(0)
    vec = FStrIPE(2, 8, n_sines=4, position_dim=BITS).frequencies()
    assert (vec.abs() < 0.5).all() and (vec < 0).any() and (vec > 0).any()
    torch.manual_seed(0)
    times = FStrIPE(2, 8, n_sines=4).frequencies()
    assert ((times > 0) & (times < 0.5)).all()
    torch.manual_seed(0)
    old = torch.sigmoid(torch.randn(2, 8, 4, 1) - 4.0) / 2  # times start as before issue 12
    torch.testing.assert_close(times, old)
    unsigned = FStrIPE(2, 8, n_sines=4, position_dim=BITS, signed_frequencies=False)
    assert (unsigned.frequencies() > 0).all()
    assert SineSPE(2, 8, position_dim=BITS).signed and FStrIPE1(2, 8, position_dim=2).signed


def _kernel_at(pe, deltas):
    """``G_d(0, Δ)`` ``[H, D, N]`` for differences ``deltas [N, L]``."""
    zero = torch.zeros(1, 1, deltas.shape[-1], dtype=torch.float64)
    return pe.context_kernel(zero, deltas[None])[0, :, :, 0]


DIAGONALS = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)


def test_unsigned_frequencies_favour_one_diagonal_for_every_feature():
    # G(1,1) − G(1,−1) = −2 sin(2πa) sin(2πb) < 0 for a, b in (0, ½): never isotropic
    torch.manual_seed(0)
    pe = FStrIPE1(3, 16, position_dim=2, signed_frequencies=False).double()
    g = _kernel_at(pe, DIAGONALS)
    assert (g[..., 0] < g[..., 1]).all()


def test_a_signed_frequency_pair_gives_equal_kernels_on_both_diagonals():
    pe = FStrIPE(1, 1, n_sines=2, position_dim=2).double()
    a = 0.13
    with torch.no_grad():  # f = (a, a) and (a, −a), θ = 0, equal gains
        pe.freq_logits.copy_(torch.atanh(2 * torch.tensor([[[[a, a], [a, -a]]]])))
        pe.phases.zero_()
    steps = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    deltas = torch.cartesian_prod(steps, steps)
    g = _kernel_at(pe, deltas)[0, 0]
    table = dict(zip(map(tuple, deltas.tolist()), g.tolist(), strict=True))
    assert table[(1.0, 1.0)] == pytest.approx(table[(1.0, -1.0)], abs=1e-12)
    for (x, y), value in table.items():  # the square's symmetries: signs and the swap
        assert table[(-x, y)] == pytest.approx(value) and table[(y, x)] == pytest.approx(value)
    assert table[(1.0, 1.0)] == pytest.approx(math.cos(4 * math.pi * a) / 2 + 0.5)


@pytest.mark.parametrize("signed", [True, False])
def test_fitting_an_isotropic_gaussian_needs_signed_frequencies(signed):
    sigma2 = 1 / math.log(1 / 0.411)  # the target: G(1, ±1) = 0.411
    steps = torch.arange(-2.0, 3.0, dtype=torch.float64)
    deltas = torch.cartesian_prod(steps, steps)
    target = torch.exp(-(deltas**2).sum(-1) / (2 * sigma2))
    torch.manual_seed(0)
    pe = FStrIPE1(1, 12, position_dim=2, signed_frequencies=signed).double()
    with torch.no_grad():  # a spread start; the loss is the features' average kernel
        pe.freq_logits.copy_(torch.randn(pe.freq_logits.shape) * (0.5 if signed else 1.0))
    opt = torch.optim.Adam(pe.parameters(), lr=0.05)
    for _ in range(150):
        g = _kernel_at(pe, deltas)[0].mean(0)
        loss = ((g - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    diag = _kernel_at(pe, DIAGONALS)[0].mean(0).detach()
    if signed:
        assert diag.tolist() == pytest.approx([0.411, 0.411], abs=0.02)
    else:
        assert diag[1] - diag[0] > 0.2  # the same-sign bias stays (0.37-0.43 over seeds 0-2)


@pytest.mark.parametrize("cls", ["fstripe", "fstripe1"])
@pytest.mark.parametrize("signed", [True, False])
def test_fstripe_over_chroma_tables_equal_direct_pooling_forward_and_backward(cls, signed):
    torch.manual_seed(0)
    b, t, h, d = 2, 19, 3, 5
    pe = (FStrIPE(h, d, n_sines=3, position_dim=BITS, key_phases=True, pool_rows=8,
                  signed_frequencies=signed) if cls == "fstripe"
          else FStrIPE1(h, d, position_dim=BITS, pool_rows=8, signed_frequencies=signed)).double()
    q, k = _qk(b, t, h, d, grad=True)
    pos = _bits(b, t, seed=4)
    params = [q, k, *[p for p in pe.parameters() if p.requires_grad]]

    def direct():
        freqs, w, th_q, th_k = pe._pool_args(q)
        return sinusoid_pool(pos, freqs, q, k, w, w, th_q, th_k, dense=False, chunk_tokens=5)

    gen = torch.Generator().manual_seed(9)
    w = [torch.randn(b, t, h, pe.output_dim(d), dtype=torch.float64, generator=gen)
         for _ in range(2)]
    out = {}
    for name, fn in (("tables", lambda: pe(q, k, positions=pos)), ("direct", direct)):
        qh, kh = fn()
        loss = (qh * w[0]).sum() + (kh * w[1]).sum()
        out[name] = (qh, kh, *torch.autograd.grad(loss, params))
    for a, c in zip(out["tables"], out["direct"], strict=True):
        torch.testing.assert_close(a, c)
    # and both equal the explicit codes of [FS] Eq. 8
    pq, pk = pe.codes(pos)
    torch.testing.assert_close(out["tables"][0], torch.einsum("bthd,bthdj->bthj", q, pq))


@pytest.mark.parametrize("cls", ["fstripe", "fstripe1"])
def test_flipping_any_chroma_bit_changes_fstripe_logits(cls):
    torch.manual_seed(0)
    h, d, t = 2, 4, 5
    pe = (FStrIPE(h, d, n_sines=3, position_dim=BITS) if cls == "fstripe"
          else FStrIPE1(h, d, position_dim=BITS)).double()
    q, k = _qk(1, t, h, d)
    pos = _bits(1, t)
    base = _logits(pe, q, k, pos)
    for level in range(BITS):
        moved = pos.clone()
        moved[0, -1, level] = 1 - moved[0, -1, level]
        assert (_logits(pe, q, k, moved) - base)[..., -1].abs().max() > 1e-6, level
