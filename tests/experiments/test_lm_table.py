"""[SPE] Table 6 over seeds: model keys, per-seed losses, the claims' t-tests with Holm."""

import numpy as np
import pytest
from scipy import stats

from stripes.experiments.lm_table import (
    claim_tests,
    losses_by_model,
    model_key,
    seed_table_markdown,
)


def _result(pe, seed, within, beyond, gated=False):
    return {"name": f"{pe}{gated}", "pe": pe, "pe_params": {"gated": gated} if gated else {},
            "seed": seed, "loss": {"within": within, "beyond": beyond}}


def test_model_keys_follow_pe_and_gating_not_the_yaml_name():
    assert model_key(_result("sinusoidal", 0, 1, 2)) == "ape"
    assert model_key(_result("conv_spe", 0, 1, 2, gated=True)) == "conv_spe_gated"
    assert model_key(_result("sine_spe", 0, 1, 2)) == "sine_spe"


def test_a_seed_counted_twice_is_refused():
    with pytest.raises(ValueError, match="two results for seed 0"):
        losses_by_model([_result("sinusoidal", 0, 1, 2), _result("sinusoidal", 0, 1, 3)])


def test_claims_are_student_t_tests_holm_corrected_with_verdicts():
    ape_beyond, conv_beyond = [2.0, 2.2, 2.1], [1.5, 1.6, 1.55]
    results = [_result("sinusoidal", s, 1.10 + 0.01 * s, b) for s, b in enumerate(ape_beyond)]
    results += [_result("conv_spe", s, 1.30 - 0.01 * s, b, gated=True)
                for s, b in enumerate(conv_beyond)]
    rows = {(r["better"], r["column"]): r for r in claim_tests(losses_by_model(results))}
    assert set(rows) == {("conv_spe_gated", "beyond"), ("conv_spe_gated", "within")}
    beyond, within = rows["conv_spe_gated", "beyond"], rows["conv_spe_gated", "within"]
    p = stats.ttest_ind(conv_beyond, ape_beyond, equal_var=True).pvalue  # Levene: equal vars
    assert beyond["test"] == "student" and beyond["p"] == pytest.approx(p)
    p_within = stats.ttest_ind([1.30, 1.29, 1.28], [1.10, 1.11, 1.12]).pvalue
    # Holm with m = 2: the smaller p doubled, the larger kept (never below the first)
    small, large = sorted([p, p_within])
    assert min(beyond["p_holm"], within["p_holm"]) == pytest.approx(2 * small)
    assert max(beyond["p_holm"], within["p_holm"]) == pytest.approx(max(large, 2 * small))
    assert beyond["gap"] == pytest.approx(np.mean(conv_beyond) - np.mean(ape_beyond))
    assert beyond["verdict"] == "reproduced" and within["verdict"] == "opposite"


def test_one_seed_is_marked_untestable_and_the_table_says_n1():
    results = [_result("sinusoidal", 0, 1.2, 2.0), _result("sine_spe", 0, 1.3, 1.5, gated=True)]
    losses = losses_by_model(results)
    claims = claim_tests(losses)
    assert {r["verdict"] for r in claims} == {"one seed"}
    text = seed_table_markdown(losses, claims, train_length=256, eval_length=512)
    assert "| APE (sinusoidal) | 1 | **1.200 (n=1)** | 2.000 (n=1) | 1.721 | 3.215 |" in text
    assert "one seed" in text and "L = 256 tokens" in text


def test_the_unigram_floor_scores_next_tokens_by_training_frequency_split_at_l():
    from stripes.tasks.lm.floors import unigram_losses

    train = [np.array([0, 0, 0, 1])]  # add-one over V = 3: p = (4, 2, 1) / 7
    windows = [np.array([2, 0, 1, 0]), np.array([1, 1])]
    got = unigram_losses(train, windows, 3, train_length=2)
    nll = -np.log(np.array([4, 2, 1]) / 7)
    # next-token positions t = 1, 2, 3: within (t < 2) holds t = 1 of both windows
    assert got["within"] == pytest.approx((nll[0] + nll[1]) / 2)
    assert got["beyond"] == pytest.approx((nll[1] + nll[0]) / 2)
    assert got["all"] == pytest.approx((2 * nll[0] + 2 * nll[1]) / 4)
