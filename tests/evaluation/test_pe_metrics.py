"""PE metrics on synthetic attention maps with known shift invariance and monotonicity."""

import numpy as np
import pytest
import torch

from stripes.evaluation.pe_metrics import (
    monotonicity,
    pe_metrics,
    probe_attention_map,
    translation_invariance,
)

T = 48


def _toeplitz(profile):
    """``[T, T]`` map with entry ``profile(m - n)``."""
    m, n = np.indices((T, T))
    return profile(m - n)


def test_toeplitz_map_is_perfectly_translation_invariant():
    rng = np.random.default_rng(0)
    values = rng.uniform(0.1, 5.0, 2 * T - 1)
    attn = _toeplitz(lambda k: values[k + T - 1])
    assert translation_invariance(attn)[0] == pytest.approx(1.0, abs=1e-12)
    assert translation_invariance(attn, causal=True)[0] == pytest.approx(1.0, abs=1e-12)


def test_random_map_has_low_translation_invariance():
    rng = np.random.default_rng(1)
    attn = rng.uniform(0.0, 1.0, (4, T, T))
    ti = translation_invariance(attn, causal=True)
    assert ti.shape == (4,)
    # Expected value under i.i.d. noise: (#diagonals - 1) / (#entries - 1) ~ 0.04 here.
    assert np.all(ti < 0.1)


def test_absolute_position_map_is_not_translation_invariant():
    # a_mn = f(n) (attention to absolute key positions): rows identical, diagonals vary.
    attn = np.tile(np.exp(-np.arange(T) / 5.0), (T, 1))
    assert translation_invariance(attn)[0] < 0.6


def test_decreasing_map_has_monotonicity_one_and_increasing_minus_one():
    attn = _toeplitz(lambda k: np.exp(-np.abs(k) / 7.0))
    assert monotonicity(attn)[0] == pytest.approx(1.0)
    assert monotonicity(attn, causal=True)[0] == pytest.approx(1.0)
    assert monotonicity(1.0 / attn)[0] == pytest.approx(-1.0)


def test_monotonicity_is_the_same_on_logits_and_exp_logits():
    rng = np.random.default_rng(2)
    logits = _toeplitz(lambda k: -0.1 * np.abs(k)) + rng.normal(0, 0.5, (T, T))
    assert monotonicity(logits)[0] == pytest.approx(monotonicity(np.exp(logits))[0])
    assert 0.3 < monotonicity(logits)[0] < 1.0


def test_random_map_has_monotonicity_near_zero():
    rng = np.random.default_rng(3)
    assert abs(monotonicity(rng.uniform(size=(T, T)))[0]) < 0.1


def test_periodic_map_is_invariant_but_not_monotone():
    attn = _toeplitz(lambda k: 1.0 + np.cos(2 * np.pi * k / 8.0))  # like a sineSPE kernel
    assert translation_invariance(attn, causal=True)[0] == pytest.approx(1.0)
    assert abs(monotonicity(attn, causal=True)[0]) < 0.2
    assert monotonicity(attn, causal=True, max_lag=4)[0] == pytest.approx(1.0)


def test_causal_mode_ignores_the_upper_triangle_and_infinite_entries():
    attn = _toeplitz(lambda k: np.exp(-np.abs(k) / 3.0))
    noisy = attn.copy()
    noisy[np.triu_indices(T, 1)] = np.random.default_rng(4).uniform(size=T * (T - 1) // 2)
    assert translation_invariance(noisy, causal=True)[0] == pytest.approx(1.0)
    assert translation_invariance(noisy)[0] < 0.9
    logits = np.log(attn)
    logits[np.triu_indices(T, 1)] = -np.inf
    assert monotonicity(logits)[0] == pytest.approx(1.0)


def test_constant_map_is_invariant_with_undefined_monotonicity():
    attn = np.full((T, T), 0.3)
    assert translation_invariance(attn)[0] == 1.0
    assert np.isnan(monotonicity(attn)[0])


def test_pe_metrics_average_heads_and_accept_torch():
    good = _toeplitz(lambda k: np.exp(-np.abs(k) / 7.0))
    flat = np.full((T, T), 2.0)
    maps = torch.tensor(np.stack([good, flat]))
    out = pe_metrics(maps, causal=True)
    assert out["translation_invariance"] == pytest.approx(1.0)
    assert out["monotonicity"] == pytest.approx(1.0)  # the flat head has no monotonicity
    with pytest.raises(ValueError):
        pe_metrics(np.zeros((2, 3, 4)))


def test_probe_builds_a_constant_input_and_exponentiates_logits():
    seen = {}
    H = 3

    def score_fn(ids):
        seen["ids"] = ids
        m = torch.arange(ids.shape[1])
        logits = -(m[:, None] - m[None, :]).abs().double().expand(H, -1, -1) / 4.0
        return logits.masked_fill(m[None, :] > m[:, None], float("-inf"))

    maps = probe_attention_map(score_fn, 16, token=7)
    assert torch.equal(seen["ids"], torch.full((1, 16), 7))
    assert maps.shape == (H, 16, 16)
    assert np.all(maps[:, 0, 1:] == 0.0) and maps.max() == pytest.approx(1.0)
    out = pe_metrics(maps, causal=True)
    assert out["translation_invariance"] == pytest.approx(1.0)
    assert out["monotonicity"] == pytest.approx(1.0)


def test_probe_refuses_scores_of_the_wrong_shape():
    with pytest.raises(ValueError, match="score_fn"):
        probe_attention_map(lambda ids: torch.zeros(2, 5, 4), 5)
