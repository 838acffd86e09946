"""Significance of differences between methods over seeds ([ST] Sec. V, docs/statistics.md).

Protocol: a variance test (Levene's by default, or Bartlett's) on the two samples of per-seed
scores decides whether their variances may be taken as equal; if so (p ≥ ``alpha``) Student's
two-sample t-test is used, otherwise Welch's. Both tests are two-sided and come from
``scipy.stats``. As in the papers' tables, each context and column compares the best method with
the next best (:func:`best_vs_next_best`, :func:`table_tests`); p-values of a family of tests are
Holm-corrected (:func:`holm`). Methods scored on the same test windows can also be compared per
window (:func:`compare_paired`: paired t-test or Wilcoxon signed-rank).

Degenerate samples (the papers never hit them, but short seed lists can): when both samples are
constant, Levene's p-value is NaN, Student's test is reported, and its p-value is 1 if the two
constants are equal and 0 otherwise (an infinite t statistic).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from stripes.extras import needs

with needs("music"):
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


VARIANCE_TESTS = ("levene", "bartlett")


def compare_samples(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                    alpha: float = 0.05, center: Literal["mean", "median", "trimmed"] = "median",
                    variance_test: str = "levene") -> TTestResult:
    """A variance test, then Student's (equal variances) or Welch's t-test between ``a`` and ``b``.

    a, b: per-seed scores ``[n_a]``, ``[n_b]``, at least two each. center: Levene's centering
    ("median", scipy's default, is the Brown-Forsythe variant; "mean" is Levene's original).
    variance_test: "levene" or "bartlett" (its p-value is reported as ``levene_p`` either way;
    NaN where Levene's statistic is undefined, e.g. two scores per group, and then Welch's test).
    """
    if variance_test not in VARIANCE_TESTS:
        raise ValueError(f"variance_test must be one of {VARIANCE_TESTS}, not {variance_test!r}")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each sample needs at least two scores")
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # scipy would warn and return NaN
        gap = a.mean() - b.mean()
        return TTestResult("student", float("nan"), 0.0 if gap == 0 else np.copysign(np.inf, gap),
                           1.0 if gap == 0 else 0.0)
    if variance_test == "bartlett":
        levene_p = float(stats.bartlett(a, b).pvalue)
    else:
        # W divides by the spread of |score − centre| within the groups, which is zero when
        # every group has two scores (or ties): W is then undefined, not infinite
        with np.errstate(divide="ignore", invalid="ignore"):
            res = stats.levene(a, b, center=center)
        levene_p = float(res.pvalue) if np.isfinite(res.statistic) else float("nan")
    # an untestable variance (NaN) does not license Student's pooled variance: Welch
    equal_var = bool(levene_p >= alpha)
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


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values ``[m]`` of a family of m tests (same order as given).

    Sorted ascending, ``p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j))``; reject at level α where
    ``p̃ < α``, which controls the family-wise error rate. NaN p-values are kept as NaN and do
    not count in m.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


@dataclass(frozen=True)
class PairedResult:
    """Outcome of :func:`compare_paired`: the test ("t" or "wilcoxon"), its statistic, two-sided
    p-value, the mean difference ``a − b`` and the number of pairs."""

    test: str
    statistic: float
    p_value: float
    mean_difference: float
    n: int


def compare_paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                   test: str = "t") -> PairedResult:
    """Two methods scored on the same items (test windows) ``a, b [N]``: a paired t-test
    (``scipy.stats.ttest_rel``) or Wilcoxon's signed-rank test (``scipy.stats.wilcoxon``, no
    normality assumed; zero differences dropped, as scipy's default). Two-sided."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired scores must be two [N] arrays, N >= 2; got {a.shape}, {b.shape}")
    diff = a - b
    if not np.any(diff):  # scipy would warn and return NaN
        return PairedResult(test, 0.0, 1.0, 0.0, len(a))
    res: Any  # scipy's TtestResult or WilcoxonResult: both carry statistic and pvalue
    if test == "t":
        res = stats.ttest_rel(a, b)
    elif test == "wilcoxon":
        res = stats.wilcoxon(a, b)
    else:
        raise ValueError(f"test must be 't' or 'wilcoxon', not {test!r}")
    return PairedResult(test, float(res.statistic), float(res.pvalue), float(diff.mean()), len(a))


def best_vs_next_best(scores: Mapping[Hashable, Sequence[float]], *, higher_is_better: bool = True,
                      alpha: float = 0.05, variance_test: str = "levene") -> dict:
    """The papers' per-cell test: the method with the best mean against the runner-up.

    scores: ``{method: per-seed scores}`` (at least two methods). Returns ``{"best", "next",
    "best_mean", "next_mean", "test", "variance_p", "statistic", "p_value"}``.
    """
    if len(scores) < 2:
        raise ValueError("best vs next best needs at least two methods")
    sign = 1.0 if higher_is_better else -1.0
    ranked = sorted(scores, key=lambda m: -sign * float(np.mean(scores[m])))
    best, runner_up = ranked[0], ranked[1]
    res = compare_samples(scores[best], scores[runner_up], alpha=alpha,
                          variance_test=variance_test)
    return {"best": best, "next": runner_up, "best_mean": float(np.mean(scores[best])),
            "next_mean": float(np.mean(scores[runner_up])), "test": res.test,
            "variance_p": res.levene_p, "statistic": res.statistic, "p_value": res.p_value}


def table_tests(per_seed: Mapping[Hashable, Mapping[Hashable, Mapping[str, Sequence[float]]]],
                higher_is_better: Mapping[str, bool], *, alpha: float = 0.05,
                variance_test: str = "levene") -> list[dict]:
    """Best vs next best for every context and metric of a table, Holm-corrected over the family.

    per_seed: ``{context: {method: {metric: per-seed scores}}}``; higher_is_better: per metric
    (metrics not listed are skipped). Returns one row per (context, metric) with at least two
    methods: :func:`best_vs_next_best`'s fields plus ``context``, ``metric``, ``p_holm`` (over all
    rows) and ``mark`` (of ``p_holm``).
    """
    rows = []
    for context, methods in per_seed.items():
        metrics = [m for m in higher_is_better if sum(m in v for v in methods.values()) >= 2]
        for metric in metrics:
            scores = {name: v[metric] for name, v in methods.items() if metric in v}
            cell = best_vs_next_best(scores, higher_is_better=higher_is_better[metric],
                                     alpha=alpha, variance_test=variance_test)
            rows.append({"context": context, "metric": metric, **cell})
    for row, p in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        row["p_holm"], row["mark"] = float(p), significance_mark(p)
    return rows
