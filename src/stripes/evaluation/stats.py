"""Significance of differences between methods over seeds ([ST] Sec. V).

Protocol: Levene's test on the two samples of per-seed scores decides whether their variances may
be taken as equal; if so (Levene p ≥ ``alpha``) Student's two-sample t-test is used, otherwise
Welch's. Both tests are two-sided and come from ``scipy.stats``.

Degenerate samples (the papers never hit them, but short seed lists can): when both samples are
constant, Levene's p-value is NaN, Student's test is reported, and its p-value is 1 if the two
constants are equal and 0 otherwise (an infinite t statistic).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Default significance marks, most significant first: (threshold, mark), mark when p < threshold.
MARKS = ((0.01, "**"), (0.05, "*"))


@dataclass(frozen=True)
class TTestResult:
    """Outcome of :func:`compare_samples`.

    test: "student" or "welch"; levene_p: p-value of Levene's test; statistic, p_value: the
    t-test's statistic and two-sided p-value; equal_var: whether Student's test was used.
    """

    test: str
    levene_p: float
    statistic: float
    p_value: float

    @property
    def equal_var(self) -> bool:
        return self.test == "student"


def compare_samples(a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05,
                    center: str = "median") -> TTestResult:
    """Levene's test, then Student's (equal variances) or Welch's t-test between ``a`` and ``b``.

    a, b: per-seed scores ``[n_a]``, ``[n_b]``, at least two each. center: Levene's centering
    ("median", scipy's default, is the Brown-Forsythe variant; "mean" is Levene's original).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each sample needs at least two scores")
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # scipy would warn and return NaN
        gap = a.mean() - b.mean()
        return TTestResult("student", float("nan"), 0.0 if gap == 0 else np.copysign(np.inf, gap),
                           1.0 if gap == 0 else 0.0)
    levene_p = float(stats.levene(a, b, center=center).pvalue)
    equal_var = bool(np.isnan(levene_p) or levene_p >= alpha)
    result = stats.ttest_ind(a, b, equal_var=equal_var)
    return TTestResult("student" if equal_var else "welch", levene_p, float(result.statistic),
                       float(result.pvalue))


def significance_mark(p_value: float, marks: Sequence[tuple[float, str]] = MARKS) -> str:
    """The mark of the first threshold that ``p_value`` is below (``"**"`` p < 0.01, ``"*"`` p <
    0.05 by default), or ``""``."""
    for threshold, mark in sorted(marks):
        if p_value < threshold:
            return mark
    return ""


def compare_to_reference(
    per_seed: Mapping[Hashable, Mapping[str, Sequence[float]]],
    reference: Hashable,
    *,
    alpha: float = 0.05,
    marks: Sequence[tuple[float, str]] = MARKS,
) -> dict[Hashable, dict[str, dict]]:
    """Test every method against ``reference`` on every metric.

    per_seed: ``{method: {metric: per-seed scores}}``. Returns ``{method: {metric: {"test",
    "levene_p", "p_value", "mark"}}}`` for every method except the reference; metrics the
    reference lacks are skipped.
    """
    if reference not in per_seed:
        raise KeyError(f"reference method {reference!r} not among {list(per_seed)}")
    out: dict[Hashable, dict[str, dict]] = {}
    for method, metrics in per_seed.items():
        if method == reference:
            continue
        out[method] = {}
        for metric, scores in metrics.items():
            if metric not in per_seed[reference]:
                continue
            res = compare_samples(scores, per_seed[reference][metric], alpha=alpha)
            out[method][metric] = {"test": res.test, "levene_p": res.levene_p,
                                   "p_value": res.p_value, "mark": significance_mark(res.p_value,
                                                                                     marks)}
    return out
