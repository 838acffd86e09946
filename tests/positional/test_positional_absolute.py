"""Absolute PEs: identity, sinusoid formula and extrapolation, learned table limits, structure."""

import math

import pytest
import torch

from stripes.positional import LearnedAPE, NoPE, SinusoidalAPE, StructureAPE, build_positional


def test_nope_is_the_identity():
    x = torch.randn(2, 5, 8)
    assert torch.equal(NoPE()(x), x)


def test_sinusoidal_ape_follows_the_formula_and_extrapolates_beyond_max_len():
    pe = SinusoidalAPE(6, max_len=10)
    x = torch.zeros(1, 3, 6, dtype=torch.float64)
    out = pe(x, positions=torch.tensor([[0, 7, 5000]]))
    p, i = 5000.0, 2  # feature 4 = sin(p / 10000^(4/6)), feature 5 = cos(...)
    assert math.isclose(out[0, 2, 2 * i], math.sin(p / 10000 ** (2 * i / 6)), abs_tol=1e-6)
    assert math.isclose(out[0, 2, 2 * i + 1], math.cos(p / 10000 ** (2 * i / 6)), abs_tol=1e-6)
    torch.testing.assert_close(out[0, 0], torch.tensor([0.0, 1, 0, 1, 0, 1], dtype=torch.float64))
    torch.testing.assert_close(pe(x[:, :1], offset=7), out[:, 1:2])  # cached table
    floats = torch.tensor([[0.0, 7.0, 5000.0]], dtype=torch.float64)  # evaluated directly
    torch.testing.assert_close(pe(x, positions=floats), out)


def test_learned_ape_refuses_positions_beyond_its_table_naming_its_size():
    pe = LearnedAPE(4, max_len=16)
    x = torch.zeros(1, 4, 4)
    assert torch.equal(pe(x, offset=12), pe.table.weight[12:16][None])
    with pytest.raises(ValueError, match="table of 16 positions"):
        pe(x, offset=13)


def test_structure_ape_sums_level_embeddings_and_checks_vocabularies():
    pe = StructureAPE(4, vocab_sizes=[3, 5])
    labels = torch.tensor([[[0, 4], [2, 1]]])
    want = pe.tables[0].weight[labels[0, :, 0]] + pe.tables[1].weight[labels[0, :, 1]]
    torch.testing.assert_close(pe(torch.zeros(1, 2, 4), labels)[0], want)
    with pytest.raises(ValueError, match=r"vocab_sizes\[1\]=5"):
        pe(torch.zeros(1, 2, 4), torch.tensor([[[0, 5], [0, 0]]]))
    with pytest.raises(ValueError, match="needs structure labels"):
        pe(torch.zeros(1, 2, 4))


def test_structure_ape_embedding_bag_equals_the_sum_of_lookups_with_gradients():
    """The forward gathers all levels in one embedding bag; the reference indexes each table."""
    torch.manual_seed(0)
    pe = StructureAPE(6, vocab_sizes=[3, 5, 2])
    labels = torch.stack([torch.randint(0, v, (2, 11)) for v in (3, 5, 2)], -1)  # repeats
    x = torch.randn(2, 11, 6, requires_grad=True)
    fast = pe(x, labels)
    slow = x + sum(t.weight[labels[..., i]] for i, t in enumerate(pe.tables))
    w = torch.randn_like(fast)
    params = [x, *(t.weight for t in pe.tables)]
    torch.testing.assert_close(fast, slow)
    for a, b in zip(torch.autograd.grad((fast * w).sum(), params),
                    torch.autograd.grad((slow * w).sum(), params), strict=True):
        torch.testing.assert_close(a, b)


def test_sinusoidal_structure_ape_uses_one_base_per_structure():
    pe = build_positional("structure_ape", d_model=8, mode="sinusoidal", position_dim=2)
    assert pe.bases[:2] == [7920.0, 9919.0]
    same = torch.tensor([[[3.0, 3.0]]])
    e = pe(torch.zeros(1, 1, 8), same)[0, 0]
    from stripes.positional.absolute import sinusoid_embedding

    want = sinusoid_embedding(torch.tensor(3.0), 8, 7920.0) + sinusoid_embedding(
        torch.tensor(3.0), 8, 9919.0)
    torch.testing.assert_close(e, want)
