"""PE metrics ([SPE] App. C after Wang et al. 2021, errors: lower is better) on attention maps
whose translation invariance and monotonicity are known, and on the library's own PEs."""

import numpy as np
import pytest
import torch

from stripes.attention import Attention
from stripes.evaluation.pe_metrics import (
    monotonicity,
    pe_metrics,
    pe_metrics_by_position,
    probe_attention_map,
    translation_invariance,
    translation_invariance_by_lag,
)
from stripes.positional import PositionalConfig
from stripes.positional.kernel_view import additive_logits, expected_logits, induced_logits

T = 48


def _toeplitz(profile, t=T):
    """``[t, t]`` map with entry ``profile(m - n)``."""
    m, n = np.indices((t, t))
    return profile(m - n)


def _ti_loop(a, causal, max_lag, start, stop):
    """The definition as a loop: pooled within-diagonal variance over total variance."""
    diagonals = {}
    for m in range(start, stop):
        for n in range(a.shape[1]):
            if (causal and n > m) or (max_lag is not None and abs(m - n) > max_lag):
                continue
            diagonals.setdefault(m - n, []).append(a[m, n])
    values = np.concatenate(list(diagonals.values()))
    within = sum(len(d) * np.var(d) for d in diagonals.values())
    return within / (len(values) * np.var(values))


def _mo_loop(a, causal, max_lag, start, stop):
    """The definition as a loop: share of same-side key pairs where the farther key is larger."""
    bad = pairs = 0
    for m in range(start, stop):
        for side in (-1,) if causal else (-1, 1):
            keys = [m + side * d for d in range(a.shape[1])
                    if 0 <= m + side * d < a.shape[1] and (max_lag is None or d <= max_lag)]
            for i, near in enumerate(keys):
                for far in keys[i + 1:]:
                    pairs += 1
                    bad += a[m, far] > a[m, near]
    return bad / pairs


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("max_lag, queries", [(None, None), (7, (10, 30)), (3, (40, 48))])
def test_metrics_equal_a_loop_over_their_definitions(causal, max_lag, queries):
    a = np.random.default_rng(0).uniform(size=(3, T, T))
    start, stop = queries or (0, T)
    ti = translation_invariance(a, causal, max_lag, queries)
    mo = monotonicity(a, causal, max_lag, queries)
    for h in range(3):
        assert ti[h] == pytest.approx(_ti_loop(a[h], causal, max_lag, start, stop), rel=1e-10)
        assert mo[h] == pytest.approx(_mo_loop(a[h], causal, max_lag, start, stop), rel=1e-12)


def test_toeplitz_map_has_zero_translation_invariance_error():
    values = np.random.default_rng(0).uniform(0.1, 5.0, 2 * T - 1)
    attn = _toeplitz(lambda k: values[k + T - 1])
    assert translation_invariance(attn)[0] == pytest.approx(0.0, abs=1e-12)
    assert translation_invariance(attn, causal=True)[0] == pytest.approx(0.0, abs=1e-12)
    _, by_lag = translation_invariance_by_lag(attn, causal=True)
    np.testing.assert_allclose(by_lag, 0.0, atol=1e-12)


def test_map_of_absolute_positions_has_a_translation_invariance_error():
    # a_mn = f(n) (attention to absolute key positions): rows identical, diagonals vary.
    attn = np.tile(np.exp(-np.arange(T) / 5.0), (T, 1))
    assert translation_invariance(attn)[0] > 0.4
    assert translation_invariance(attn, causal=True)[0] > 0.4


def test_random_map_has_translation_invariance_error_near_one():
    ti = translation_invariance(np.random.default_rng(1).uniform(size=(4, T, T)), causal=True)
    assert ti.shape == (4,)
    # Expected under i.i.d. noise: 1 - (#diagonals - 1) / (#entries - 1) ~ 0.96 here.
    assert np.all(ti > 0.9) and np.all(ti <= 1.0)


def test_translation_invariance_by_lag_averages_to_the_error():
    a = np.random.default_rng(2).uniform(size=(2, T, T))
    lags, ratios = translation_invariance_by_lag(a, causal=True, max_lag=10)
    assert lags.tolist() == list(range(11)) and ratios.shape == (2, 11)
    counts = np.array([T - k for k in lags])
    np.testing.assert_allclose(ratios @ counts / counts.sum(),
                               translation_invariance(a, causal=True, max_lag=10))


def test_map_decreasing_with_distance_has_zero_monotonicity_error_and_shuffled_not():
    attn = _toeplitz(lambda k: np.exp(-np.abs(k) / 7.0))
    assert monotonicity(attn)[0] == 0.0
    assert monotonicity(attn, causal=True)[0] == 0.0
    assert monotonicity(1.0 / attn)[0] == pytest.approx(1.0)  # strictly increasing
    rng = np.random.default_rng(3)
    shuffled = np.stack([rng.permutation(row) for row in attn])
    assert 0.3 < monotonicity(shuffled, causal=True)[0] < 0.7


def test_errors_are_invariant_to_each_heads_scale():
    rng = np.random.default_rng(4)
    logits = _toeplitz(lambda k: -0.1 * np.abs(k)) + rng.normal(0, 0.3, (2, T, T))
    attn = np.exp(logits)
    scaled = attn * np.array([1e-6, 1e6])[:, None, None]  # APE-sized vs SPE-sized heads
    np.testing.assert_allclose(translation_invariance(scaled, True),
                               translation_invariance(attn, True), rtol=1e-9)
    np.testing.assert_array_equal(monotonicity(scaled, True), monotonicity(attn, True))
    # MO only compares entries of a row: the same on logits as on their exp.
    np.testing.assert_array_equal(monotonicity(logits, True), monotonicity(attn, True))
    assert np.all(monotonicity(attn, True) < 0.5)


def test_periodic_map_is_invariant_but_only_locally_monotone():
    attn = _toeplitz(lambda k: 1.0 + np.cos(2 * np.pi * k / 8.0))  # like a sineSPE kernel
    assert translation_invariance(attn, causal=True)[0] == pytest.approx(0.0, abs=1e-12)
    assert monotonicity(attn, causal=True)[0] > 0.3
    assert monotonicity(attn, causal=True, max_lag=4)[0] == 0.0


def test_causal_mode_ignores_the_upper_triangle_and_infinite_entries():
    attn = _toeplitz(lambda k: np.exp(-np.abs(k) / 3.0))
    noisy = attn.copy()
    noisy[np.triu_indices(T, 1)] = np.random.default_rng(5).uniform(size=T * (T - 1) // 2)
    assert translation_invariance(noisy, causal=True)[0] == pytest.approx(0.0, abs=1e-12)
    assert translation_invariance(noisy)[0] > 0.1
    logits = np.log(attn)
    logits[np.triu_indices(T, 1)] = -np.inf
    assert monotonicity(logits)[0] == 0.0
    assert translation_invariance(logits)[0] == pytest.approx(0.0, abs=1e-12)


def test_constant_map_has_no_error_even_with_rounding_noise():
    attn = np.full((T, T), 0.3) + np.random.default_rng(6).normal(0, 1e-14, (T, T))
    assert translation_invariance(attn)[0] == 0.0
    assert monotonicity(attn)[0] == 0.0


def test_pe_metrics_average_heads_and_accept_torch():
    good = _toeplitz(lambda k: np.exp(-np.abs(k) / 7.0))
    bad = np.random.default_rng(7).uniform(size=(T, T))
    out = pe_metrics(torch.tensor(np.stack([good, bad])), causal=True)
    assert out["translation_invariance"] == pytest.approx(translation_invariance(bad, True)[0] / 2)
    assert out["monotonicity"] == pytest.approx(monotonicity(bad, True)[0] / 2)
    with pytest.raises(ValueError):
        pe_metrics(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="queries"):
        pe_metrics(good, queries=(5, 5))


def test_by_position_finds_where_a_map_stops_being_relative():
    # Toeplitz for queries m < 32 (the "training length"); beyond, attention to the first keys.
    attn = _toeplitz(lambda k: np.exp(-np.abs(k) / 6.0), t=64)
    attn[32:] = np.exp(-np.arange(64) / 5.0)[None]
    out = pe_metrics_by_position(attn, 16, causal=True)
    assert out["start"].tolist() == [0, 16, 32, 48] and out["stop"].tolist() == [16, 32, 48, 64]
    ti, mo = out["translation_invariance"][0], out["monotonicity"][0]
    np.testing.assert_allclose(ti[:2], 0.0, atol=1e-12)
    assert np.all(ti[2:] > 0.05)
    np.testing.assert_array_equal(mo[:2], 0.0)
    assert np.all(mo[2:] > 0.1)
    whole = pe_metrics_by_position(attn, 64, causal=True)
    assert whole["translation_invariance"][0, 0] == translation_invariance(attn, True)[0]
    assert whole["monotonicity"][0, 0] == monotonicity(attn, True)[0]


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
    assert out["translation_invariance"] == pytest.approx(0.0, abs=1e-12)
    assert out["monotonicity"] == 0.0


def test_probe_refuses_scores_of_the_wrong_shape():
    with pytest.raises(ValueError, match="score_fn"):
        probe_attention_map(lambda ids: torch.zeros(2, 5, 4), 5)


# The library's PEs on one repeated token: a softmax layer at init, identical inputs x_t = x.
D_MODEL, HEADS, L = 32, 4, 40


def _layer_and_tokens(kind, params):
    pe = PositionalConfig(kind, params).build(d_model=D_MODEL, n_heads=HEADS,
                                              head_dim=D_MODEL // HEADS, max_len=64,
                                              n_layers=1).double()
    torch.manual_seed(0)
    layer = Attention(D_MODEL, HEADS, kind="softmax",
                      qk_pe=None if kind == "sinusoidal" else pe).double()
    token = torch.randn(1, 1, D_MODEL, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(1))
    return pe, layer, token.expand(1, L, D_MODEL)


def _qk(layer, x):
    q, k, _ = layer.qkv(x).view(1, L, 3, HEADS, D_MODEL // HEADS).unbind(2)
    return q, k


def _exp_map(logits):
    logits = logits[0].detach()
    return torch.exp(logits - logits.amax(dim=(-2, -1), keepdim=True)).numpy()


def test_sinusoidal_ape_attention_on_identical_tokens_is_not_translation_invariant():
    pe, layer, x = _layer_and_tokens("sinusoidal", {})
    ti = translation_invariance(_exp_map(additive_logits(pe, layer, x)), causal=True)
    assert np.all(ti > 0.2)


@pytest.mark.parametrize("kind, params", [
    ("sine_spe", {"n_sines": 3, "n_realizations": 16}),
    ("conv_spe", {"kernel_size": 9, "n_realizations": 16}),
], ids=["sine_spe", "conv_spe"])
def test_spe_is_translation_invariant_in_expectation_and_beats_the_ape(kind, params):
    ape, ape_layer, x = _layer_and_tokens("sinusoidal", {})
    ape_ti = translation_invariance(_exp_map(additive_logits(ape, ape_layer, x)), causal=True)
    pe, layer, x = _layer_and_tokens(kind, params)
    q, k = _qk(layer, x)
    with torch.no_grad():
        expected = translation_invariance(_exp_map(expected_logits(pe, q, k)), causal=True)
        gen = torch.Generator().manual_seed(2)
        draws = [_exp_map(induced_logits(pe, q, k, code=pe.draw_code(L, None, gen)))
                 for _ in range(64)]
    np.testing.assert_allclose(expected, 0.0, atol=1e-9)  # the expected kernel is Toeplitz
    single = translation_invariance(draws[0], causal=True)
    averaged = translation_invariance(np.mean(draws, axis=0), causal=True)
    # Monte-Carlo noise of one realization is what no lag explains; averaging removes it.
    assert np.all(averaged < single)
    assert averaged.mean() < ape_ti.mean()
