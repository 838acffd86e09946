"""Sampling filters on hand-made logits, reproducibility, and grammar-constrained draws."""

import math

import pytest
import torch

from stripes.generation import (
    apply_temperature,
    mask_forbidden,
    sample,
    top_k_filter,
    top_p_filter,
)


def _logits_of(probs):
    return torch.tensor([math.log(p) for p in probs])


def _kept(logits):
    return torch.isfinite(logits).nonzero().flatten().tolist()


def test_top_k_keeps_exactly_the_k_largest():
    logits = torch.tensor([0.1, 3.0, -2.0, 2.5, 1.0, 2.9])
    for k in range(1, 7):
        kept = _kept(top_k_filter(logits, k))
        assert len(kept) == k
        assert set(kept) == set(logits.argsort(descending=True)[:k].tolist())


def test_top_k_keeps_exactly_k_even_with_ties():
    logits = torch.tensor([[1.0, 1.0, 1.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    out = top_k_filter(logits, 2)
    assert torch.isfinite(out).sum(dim=-1).tolist() == [2, 2]


def test_top_k_leaves_kept_logits_unchanged():
    logits = torch.tensor([0.3, 1.7, -0.4])
    out = top_k_filter(logits, 2)
    assert out[1] == 1.7 and out[0] == pytest.approx(0.3) and out[2] == float("-inf")


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.3, [0]),
        (0.45, [0]),
        (0.6, [0, 1]),
        (0.75, [0, 1]),
        (0.85, [0, 1, 2]),
        (0.97, [0, 1, 2, 3]),
    ],
)
def test_top_p_keeps_the_minimal_set_reaching_mass_p(p, expected):
    # Probabilities deliberately not in index order, to exercise the un-sorting.
    probs = [0.15, 0.5, 0.05, 0.3]
    by_rank = [1, 3, 0, 2]
    logits = _logits_of(probs)
    kept = _kept(top_p_filter(logits, p))
    assert sorted(kept) == sorted(by_rank[i] for i in expected)
    assert sum(probs[i] for i in kept) >= p


def test_top_p_always_keeps_the_most_probable_token():
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.0, 9.0]])
    out = top_p_filter(logits, 1e-6)
    assert _kept(out[0]) == [0] and _kept(out[1]) == [2]


def test_top_p_works_on_batched_rows_independently():
    logits = torch.stack([_logits_of([0.5, 0.3, 0.2]), _logits_of([0.1, 0.1, 0.8])])
    out = top_p_filter(logits, 0.7)
    assert _kept(out[0]) == [0, 1]
    assert _kept(out[1]) == [2]


def test_apply_temperature_divides_and_refuses_non_positive():
    logits = torch.tensor([1.0, -2.0])
    assert torch.equal(apply_temperature(logits, 0.5), torch.tensor([2.0, -4.0]))
    with pytest.raises(ValueError):
        apply_temperature(logits, 0.0)


def test_low_temperature_sampling_is_argmax():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 50, generator=gen)
    ids = sample(logits, temperature=1e-4, generator=gen)
    assert torch.equal(ids, logits.argmax(dim=-1))
    assert torch.equal(sample(logits, temperature=0.0), logits.argmax(dim=-1))


def test_sampling_with_the_same_seed_is_reproducible():
    logits = torch.randn(4, 7, 100, generator=torch.Generator().manual_seed(1))
    kwargs = dict(temperature=1.3, top_k=40, top_p=0.9)
    a = sample(logits, generator=torch.Generator().manual_seed(123), **kwargs)
    b = sample(logits, generator=torch.Generator().manual_seed(123), **kwargs)
    c = sample(logits, generator=torch.Generator().manual_seed(124), **kwargs)
    assert a.shape == (4, 7) and a.dtype == torch.int64
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_sample_respects_top_k_support():
    logits = torch.tensor([0.0, 0.1, 0.2, 5.0, 4.9]).expand(2000, 5)
    ids = sample(logits, temperature=5.0, top_k=2, generator=torch.Generator().manual_seed(0))
    assert set(ids.tolist()) == {3, 4}


def test_sample_frequencies_follow_the_distribution():
    probs = torch.tensor([0.1, 0.6, 0.3])
    logits = probs.log().expand(20000, 3)
    ids = sample(logits, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(ids, minlength=3).float() / ids.numel()
    assert torch.allclose(freq, probs, atol=0.02)


def test_constrained_sampling_never_emits_a_forbidden_token():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5000, 30, generator=gen) * 3
    allowed = torch.rand(5000, 30, generator=gen) < 0.2
    allowed[:, 0] = False  # make a high-logit token forbidden everywhere
    logits[:, 0] = 50.0
    allowed[torch.arange(5000), torch.randint(1, 30, (5000,), generator=gen)] = True
    ids = sample(logits, temperature=1.5, top_p=0.95, generator=gen, allowed_mask=allowed)
    assert allowed[torch.arange(5000), ids].all()


def test_constrained_argmax_picks_the_best_allowed_token():
    logits = torch.tensor([9.0, 1.0, 3.0, 2.0])
    allowed = torch.tensor([False, True, False, True])
    assert sample(logits, temperature=0.0, allowed_mask=allowed).item() == 3


def test_all_forbidden_raises_a_clear_error():
    logits = torch.randn(3, 8)
    allowed = torch.ones(3, 8, dtype=torch.bool)
    allowed[1] = False
    with pytest.raises(ValueError, match="no allowed token"):
        sample(logits, generator=torch.Generator().manual_seed(0), allowed_mask=allowed)
    with pytest.raises(ValueError, match=r"\(1,\)"):
        mask_forbidden(logits, allowed)


def test_allowed_mask_must_be_boolean():
    with pytest.raises(TypeError):
        mask_forbidden(torch.zeros(4), torch.ones(4))


def test_invalid_filter_arguments_are_refused():
    logits = torch.zeros(5)
    with pytest.raises(ValueError):
        top_k_filter(logits, 0)
    with pytest.raises(ValueError):
        top_p_filter(logits, 0.0)
    with pytest.raises(ValueError):
        sample(logits, temperature=-1.0)
    with pytest.raises(ValueError):
        sample(torch.tensor([0.0, float("nan")]))
