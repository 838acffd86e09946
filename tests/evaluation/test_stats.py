"""Levene's test picks Student's or Welch's t-test; marks follow the p-value."""

import numpy as np
import pytest
from scipy import stats

from stripes.evaluation.stats import compare_samples, compare_to_reference, significance_mark


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
