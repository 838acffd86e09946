"""Levene's test picks Student's or Welch's t-test; marks follow the p-value; Holm, paired
tests and best vs next best on known examples."""

import numpy as np
import pytest
from scipy import stats

from stripes.evaluation.stats import (
    best_vs_next_best,
    compare_paired,
    compare_samples,
    compare_to_reference,
    holm,
    significance_mark,
    table_tests,
)


def samples(seed: int, scale_b: float, shift_b: float = 0.0, n: int = 10):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, n), rng.normal(shift_b, scale_b, n)


def test_equal_variances_lead_to_students_t_test():
    a, b = samples(0, scale_b=1.0, shift_b=0.3)
    res = compare_samples(a, b)
    assert res.levene_p >= 0.05
    assert res.test == "student" and res.equal_var
    assert res.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=True).pvalue)


def test_unequal_variances_lead_to_welchs_t_test():
    a, b = samples(1, scale_b=20.0, shift_b=5.0)
    res = compare_samples(a, b)
    assert res.levene_p < 0.05
    assert res.test == "welch" and not res.equal_var
    assert res.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert res.p_value != pytest.approx(stats.ttest_ind(a, b, equal_var=True).pvalue)


def test_constant_samples_have_defined_p_values():
    assert compare_samples([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]).p_value == 1.0
    res = compare_samples([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert res.p_value == 0.0 and res.test == "student"


def test_two_seeds_per_method_leave_levene_undefined_and_fall_back_to_welch():
    """With two scores a group's |score − median| are equal, so W = x/0: no variance test."""
    import warnings

    a, b = [1.0, 2.0], [3.0, 6.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's divide-by-zero warning must not surface
        res = compare_samples(a, b)
    assert np.isnan(res.levene_p) and res.test == "welch"
    assert res.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_too_few_seeds_raise():
    with pytest.raises(ValueError):
        compare_samples([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    "p,mark", [(0.001, "**"), (0.01, "*"), (0.049, "*"), (0.05, ""), (0.5, "")]
)
def test_significance_marks_follow_thresholds(p, mark):
    assert significance_mark(p) == mark


def test_methods_are_marked_against_the_reference():
    per_seed = {
        "NoPE": {"CS": [50.0, 51.0, 49.0, 50.5, 49.5]},
        "RoPE": {"CS": [60.0, 61.0, 59.0, 60.5, 59.5]},
        "SPE": {"CS": [50.2, 50.8, 49.1, 50.3, 49.9]},
    }
    out = compare_to_reference(per_seed, "NoPE")
    assert set(out) == {"RoPE", "SPE"}
    assert out["RoPE"]["CS"]["mark"] == "**"
    assert out["SPE"]["CS"]["mark"] == ""
    with pytest.raises(KeyError):
        compare_to_reference(per_seed, "missing")


# --- the papers' protocol: known examples --------------------------------------------------------
def test_students_t_matches_scipy_and_a_hand_computed_value():
    a, b = [1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0]
    # pooled variance 5/3, se = sqrt(5/3 * (1/4 + 1/4)) = sqrt(5/6), t = -2 / sqrt(5/6)
    res = compare_samples(a, b)
    assert res.test == "student"
    assert res.statistic == pytest.approx(-2 / np.sqrt(5 / 6), rel=1e-12)
    ref = stats.ttest_ind(a, b, equal_var=True)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    # two-sided p of t = -2.1909 with 6 degrees of freedom
    assert res.p_value == pytest.approx(2 * stats.t.sf(2 / np.sqrt(5 / 6), 6), rel=1e-12)
    assert res.p_value == pytest.approx(0.07098, abs=1e-4)


def test_welch_degrees_of_freedom_match_the_welch_satterthwaite_formula():
    a, b = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([10.0, 30.0, 50.0, 70.0, 90.0])
    res = compare_samples(a, b, variance_test="bartlett")
    assert res.test == "welch" and res.levene_p == pytest.approx(stats.bartlett(a, b).pvalue)
    va, vb = a.var(ddof=1) / 5, b.var(ddof=1) / 5
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 4)
    assert res.statistic == pytest.approx(t)
    assert res.p_value == pytest.approx(2 * stats.t.sf(-t, dof))
    with pytest.raises(ValueError, match="variance_test"):
        compare_samples(a, b, variance_test="fligner")


def test_holm_adjusts_a_known_family():
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1, monotone
    out = holm([0.01, float("nan"), 0.02])  # NaN kept, not counted
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)


def test_paired_tests_match_scipy_on_shared_windows():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, 40)
    b = a + 0.3 + rng.normal(0, 0.2, 40)  # same windows: b is a plus a small gain
    res = compare_paired(b, a)
    ref = stats.ttest_rel(b, a)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.mean_difference == pytest.approx((b - a).mean()) and res.n == 40
    w = compare_paired(b, a, test="wilcoxon")
    assert w.p_value == pytest.approx(stats.wilcoxon(b, a).pvalue)
    # pairing sees a gain the unpaired test cannot separate from the window-to-window spread
    assert res.p_value < 1e-6 < compare_samples(b, a).p_value
    assert compare_paired(a, a).p_value == 1.0
    with pytest.raises(ValueError, match="paired"):
        compare_paired(a, a[:-1])


def test_best_vs_next_best_compares_the_top_two_in_the_metrics_direction():
    scores = {"rope": [1.0, 2.0, 3.0], "pool": [5.0, 6.0, 7.0], "fs": [4.0, 5.0, 6.5]}
    up = best_vs_next_best(scores)
    assert (up["best"], up["next"]) == ("pool", "fs")
    assert up["p_value"] == pytest.approx(stats.ttest_ind([5, 6, 7], [4, 5, 6.5]).pvalue)
    down = best_vs_next_best(scores, higher_is_better=False)
    assert (down["best"], down["next"]) == ("rope", "fs")


def test_table_tests_holm_correct_over_every_context_and_column():
    per_seed = {
        "bin": {"pool": {"CS": [5.0, 6.0, 7.0], "NDD": [1.0, 1.1, 1.2]},
                "rope": {"CS": [1.0, 2.0, 3.0], "NDD": [2.0, 2.2, 2.1]}},
        "key": {"pool": {"CS": [1.0, 2.0, 3.0]}, "rope": {"CS": [1.5, 2.5, 3.5]}},
    }
    rows = table_tests(per_seed, {"CS": True, "NDD": False, "GS": True})
    assert [(r["context"], r["metric"]) for r in rows] == [("bin", "CS"), ("bin", "NDD"),
                                                           ("key", "CS")]
    assert rows[1]["best"] == "pool"  # lower NDD is better
    np.testing.assert_allclose([r["p_holm"] for r in rows], holm([r["p_value"] for r in rows]))
    assert all(r["p_holm"] >= r["p_value"] for r in rows)
