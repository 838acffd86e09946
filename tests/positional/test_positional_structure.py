"""F-StrIPE ([FS], [ST]): SFF converges to F-StrIPE, F-StrIPE₁'s logits, pooled vs unpooled."""

import math

import torch

from stripes.positional import FStrIPE, FStrIPE1, SineSPE
from stripes.positional.kernel_view import expected_logits, induced_logits


def _structure_positions(b=1, t=10, levels=2, seed=0):
    """Structure vectors with repeats (a "non-linear grid")."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 6, (b, t, levels), generator=gen).double()


def test_sff_kernel_converges_to_fstripe_as_r_grows():
    torch.manual_seed(0)
    fs = FStrIPE(2, 3, n_sines=2, position_dim=2).double()
    sff = SineSPE(2, 3, n_sines=2, position_dim=2).double()
    sff.load_state_dict(fs.state_dict(), strict=False)  # same f, θ, λ
    pos = _structure_positions()
    target = fs.context_kernel(pos) / 2  # SFF normalises by √(2K), F-StrIPE by √K
    gen = torch.Generator().manual_seed(1)
    errors = []
    for r in (8, 512, 32768):
        qb, kb = sff.codes(sff.draw_code(generator=gen, n_realizations=r), pos)
        est = torch.einsum("bthdr,bshdr->bhdts", qb, kb) / r
        errors.append(float((est - target).abs().max().detach()))
    assert errors[1] < errors[0] / 3 and errors[2] < errors[1] / 3 and errors[2] < 0.02


def test_fstripe_pooling_equals_explicit_tables_with_structure_vectors():
    torch.manual_seed(0)
    pe = FStrIPE(2, 3, n_sines=3, position_dim=2, key_phases=True, pool_rows=4).double()
    pos = _structure_positions(2, 9, seed=3)
    q, k = torch.randn(2, 2, 9, 2, 3, dtype=torch.float64)
    qh, kh = pe(q, k, positions=pos)
    pq, pk = pe.codes(pos)
    torch.testing.assert_close(qh, torch.einsum("bthd,bthdj->bthj", q, pq))
    torch.testing.assert_close(kh, torch.einsum("bthd,bthdj->bthj", k, pk))
    assert qh.shape[-1] == pe.output_dim(3) == 6


def test_fstripe1_logits_equal_the_formula_of_math_md():
    """``q̂_m·k̂_n = Σ_{d,d'} q_md k_nd' cos(ω_dᵀp_m − ω_d'ᵀp_n)``, ω = 2πf ([ST] Eq. 15, 20)."""
    torch.manual_seed(0)
    pe = FStrIPE1(2, 4, position_dim=2).double()
    pos = _structure_positions(1, 7)
    q, k = torch.randn(2, 1, 7, 2, 4, dtype=torch.float64)
    qh, kh = pe(q, k, positions=pos)
    got = torch.einsum("bthj,bshj->bhts", qh, kh)
    ang = 2 * math.pi * torch.einsum("btl,hdl->bhdt", pos, pe.frequencies()[:, :, 0])
    phase = ang[:, :, :, None, :, None] - ang[:, :, None, :, None, :]  # [b, h, d, d', t, s]
    want = torch.einsum("bthd,bshe,bhdets->bhts", q, k, phase.cos())
    torch.testing.assert_close(got, want)
    assert qh.shape[-1] == 2


def test_pooled_equals_unpooled_when_cross_dimension_terms_vanish():
    """[ST] Prop. 1 / docs/math.md §5: with one active feature per head, C(a) = U(a)."""
    torch.manual_seed(0)
    pe = FStrIPE(2, 3, n_sines=2, key_phases=True).double()
    q, k = torch.zeros(2, 1, 8, 2, 3, dtype=torch.float64)
    q[..., 1], k[..., 1] = torch.randn(2, 1, 8, 2, dtype=torch.float64)
    torch.testing.assert_close(induced_logits(pe, q, k), expected_logits(pe, q, k))
    q2, k2 = torch.randn(2, 1, 8, 2, 3, dtype=torch.float64)
    assert (induced_logits(pe, q2, k2) - expected_logits(pe, q2, k2)).abs().max() > 1e-3
