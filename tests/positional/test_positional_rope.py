"""RoPE and RoPEPool ([ST] Eq. 8-10, 14, 23-26): shift invariance, Eq. 23 term by term,
Eq. 24-26 on unit-norm pairs, cached versus computed tables, per-head frequencies."""

import pytest
import torch

from stripes.positional import RoPE, RoPEPool
from stripes.positional.kernel_view import rope_context_terms, rope_logits

H, D, T = 2, 6, 9


def _logits(pe, q, k, positions):
    qh, kh = pe(q, k, positions=positions)
    return torch.einsum("bthd,bshd->bhts", qh, kh)


def _qk(seed=0, b=2):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, b, T, H, D, dtype=torch.float64, generator=gen)


@pytest.mark.parametrize("variant,levels", [("A", 1), ("B", 1), ("C", 1), ("A", 2), ("C", 3)])
def test_rope_logits_depend_only_on_position_differences(variant, levels):
    torch.manual_seed(0)
    pe = RoPE(H, D, variant=variant, position_dim=levels).double()
    q, k = _qk()
    pos = torch.randn(1, T, levels, dtype=torch.float64) * 5
    shift = torch.randn(1, 1, levels, dtype=torch.float64) * 100
    torch.testing.assert_close(_logits(pe, q, k, pos + shift), _logits(pe, q, k, pos))
    if levels == 1:
        ints = torch.arange(T)[None]  # cached integer path equals the computed float path
        torch.testing.assert_close(_logits(pe, q, k, ints + 50), _logits(pe, q, k, ints * 1.0))


def test_rope_pool_is_not_shift_invariant():
    pe = RoPEPool(H, D).double()
    q, k = _qk()
    pos = torch.arange(T)[None] * 1.0
    assert (_logits(pe, q, k, pos + 3) - _logits(pe, q, k, pos)).abs().max() > 1e-2


@pytest.mark.parametrize("variant", ["A", "B", "C"])
def test_rope_pool_logits_equal_eq23_for_random_inputs(variant):
    torch.manual_seed(1)
    pe = RoPEPool(H, D, variant=variant).double()
    q, k = _qk(1)
    pos = torch.randn(1, T, dtype=torch.float64) * 20
    ctx = rope_context_terms(pe, pos)
    torch.testing.assert_close(_logits(pe, q, k, pos), rope_logits(q, k, ctx, pooled=True))


def test_rope_pool_logits_equal_eq23_term_by_term():
    """Basis pairs isolate each content product of Eq. 23 and its context factor."""
    pe = RoPEPool(1, 2).double()
    pos = torch.randn(1, T, dtype=torch.float64) * 7
    ctx = {key: v[0, 0, 0] for key, v in rope_context_terms(pe, pos).items()}  # [T, S]
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    terms = {
        (0, 0): ctx["cos_lag"] + ctx["sin_sum"],  # a1 b1
        (1, 1): ctx["cos_lag"] - ctx["sin_sum"],  # a2 b2
        (0, 1): ctx["cos_sum"] + ctx["sin_lag"],  # a1 b2
        (1, 0): ctx["cos_sum"] - ctx["sin_lag"],  # a2 b1
    }
    for (i, j), want in terms.items():
        q = (e1, e2)[i].double().expand(1, T, 1, 2)
        k = (e1, e2)[j].double().expand(1, T, 1, 2)
        torch.testing.assert_close(_logits(pe, q, k, pos)[0, 0], want)


def test_rope_pool_on_unit_norm_pairs_follows_eq24_26():
    """``u(a)·u(b) = cos(α − β + Δ⁻) + sin(α + β + Δ⁺)`` per pair, summed over pairs."""
    pe = RoPEPool(H, D).double()
    gen = torch.Generator().manual_seed(2)
    alpha, beta = torch.rand(2, 1, T, H, D // 2, dtype=torch.float64, generator=gen) * 6.3
    unit = lambda ang: torch.stack([ang.cos(), ang.sin()], -1).flatten(-2)
    pos = torch.randn(1, T, dtype=torch.float64) * 9
    theta = pe.angles(pos, T)[0, :, 0]  # [T, D/2] (shared by heads)
    lag = theta[:, None] - theta[None]  # [T, S, D/2]
    tot = theta[:, None] + theta[None]
    a = alpha[0].permute(1, 0, 2)[:, :, None]  # [H, T, 1, D/2]
    b = beta[0].permute(1, 0, 2)[:, None]  # [H, 1, S, D/2]
    want = ((a - b + lag).cos() + (a + b + tot).sin()).sum(-1)
    torch.testing.assert_close(_logits(pe, unit(alpha), unit(beta), pos)[0], want)


def test_rope_variants_set_frequencies_as_documented():
    a, b = RoPE(4, 8, variant="A"), RoPE(4, 8, variant="B")
    geometric = 10000.0 ** (-torch.arange(4.0, dtype=torch.float64) / 4)
    torch.testing.assert_close(a.omega[0, :, 0], geometric)
    assert b.omega.shape[0] == 4 and b.omega[:, :, 0].flatten().unique().numel() == 16
    assert (b.omega[1:, 0, 0] < b.omega[:-1, 0, 0]).all()  # heads shift the geometric grid
    c = RoPE(4, 8, variant="C", position_dim=2)
    assert isinstance(c.omega, torch.nn.Parameter) and c.omega.shape == (4, 4, 2)
    with pytest.raises(ValueError, match="variant"):
        RoPE(4, 8, variant="D")


def test_rope_decoding_offsets_and_long_positions_grow_the_cache():
    pe = RoPE(H, D, max_len=4).double()
    q, k = _qk()
    full = pe(q, k)
    step = pe(q[:, 5:6], k[:, 5:6], offset=5)
    torch.testing.assert_close(step[0], full[0][:, 5:6])
    far = pe(q, k, positions=torch.arange(T)[None] + 100_000)
    assert pe._cache.shape[0] >= 100_000 + T and torch.isfinite(far[0]).all()


@pytest.mark.parametrize("kind", ["rope", "rope_pool"])
def test_learned_rope_tables_for_times_equal_the_direct_sinusoids_with_gradients(kind):
    """Variant C over long runs of times builds its table as ``e^{iω·base} e^{iω·r}`` (no T·H·D/2
    sinusoids): values and gradients equal the direct evaluation (float64)."""
    from stripes.positional import build_positional

    torch.manual_seed(0)
    pe = build_positional(kind, n_heads=2, head_dim=6, variant="C").double()
    t, off = 700, 1234
    fast = pe._table(None, t, off, torch.float64)
    slow = pe._encode(pe._phase(pe.angles(None, t, off), torch.float64))
    w = torch.randn(fast.shape, dtype=torch.complex128)
    g_fast, = torch.autograd.grad((fast * w).real.sum(), pe.omega)
    g_slow, = torch.autograd.grad((slow * w).real.sum(), pe.omega)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(g_fast, g_slow)
