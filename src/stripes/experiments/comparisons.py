"""Named pairs of methods tested on every metric: the evidence for a paper's claims.

An experiment's ``comparisons`` lists pairs of method labels (``[fstripe-chord, none-time]``);
each pair is tested at every test length on every metric, two ways:

- ``seeds``: the papers' protocol on the per-seed means (Levene's test, then Student's or Welch's
  t-test), when both methods have two or more seeds;
- ``windows``: a paired t-test over the shared test windows, each window's score averaged over
  the seeds both methods have there (every run is scored on the same seeded windows). It asks
  whether the difference of these trained models holds across test material, not whether it
  holds over training seeds; with few seeds it is the sharper of the two, and the weaker claim.

Holm corrects each kind over all its rows (every pair, metric and length of the experiment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stripes.evaluation.stats import compare_paired, compare_samples
from stripes.experiments.significance import (
    ARROWS,
    MethodRuns,
    add_holm,
    finite_or_none,
    format_holm,
    format_p,
    paired_seeds,
    seed_test_fields,
)

KINDS = ("seeds", "windows")


def pooled_windows(a: MethodRuns, b: MethodRuns, metric: str):
    """``(a [N], b [N], seeds)``: per-window ``metric`` averaged over the seeds at which both
    kept scores on the same windows; None when there is no such seed."""
    seeds = paired_seeds(a, b, metric)
    if not seeds:
        return None
    pool = [np.mean([m.seeds[s].windows[metric] for s in seeds], axis=0) for m in (a, b)]
    return pool[0], pool[1], seeds


def compare_pair(a: MethodRuns, b: MethodRuns, metric: str, kind: str,
                 alpha: float = 0.05) -> dict:
    """One test of ``a`` against ``b``: ``{"test", "n", "seeds", "statistic", "p_value",
    "label"}``, with ``p_value`` None when the runs do not allow this kind."""
    none: dict[str, Any] = {"test": None, "n": None, "seeds": [], "variance_p": None,
                            "statistic": None, "p_value": None}
    if kind == "seeds":
        sa, sb = a.seed_means(metric), b.seed_means(metric)
        if len(sa) < 2 or len(sb) < 2:
            return {**none, "label": "under two seeds"}
        res = compare_samples(sa, sb, alpha=alpha)
        return {**seed_test_fields(res, len(sa), len(sb)), "seeds": [],
                "label": f"Levene→{res.test.title()}, n={len(sa)}/{len(sb)}"}
    pooled = pooled_windows(a, b, metric)
    if pooled is None:
        return {**none, "label": "no shared windows"}
    wa, wb, seeds = pooled
    paired = compare_paired(wa, wb)
    return {"test": "paired t", "n": [paired.n, paired.n], "seeds": seeds,
            "statistic": finite_or_none(paired.statistic),
            "p_value": finite_or_none(paired.p_value),
            "label": f"paired t, n={paired.n}, {len(seeds)} seed{'s' * (len(seeds) > 1)}"}


def comparison_rows(tables: Mapping[str, Mapping[str, MethodRuns]], pairs: Sequence[Sequence[str]],
                    higher_is_better: Mapping[str, bool], alpha: float = 0.05) -> list[dict]:
    """Every pair at every test length, metric and kind of test, Holm-corrected per kind.

    tables: ``{bars: {label: MethodRuns}}``. Returns rows ``{"bars", "a", "b", "metric",
    "a_mean", "b_mean", "a_better": bool, "kind", **compare_pair(...), "p_holm", "mark"}``;
    a pair with a method that has no finished run at a length is left out there.
    """
    rows = []
    for bars, methods in tables.items():
        for first, second in pairs:
            if first not in methods or second not in methods:
                continue
            a, b = methods[first], methods[second]
            for metric, higher in higher_is_better.items():
                if not (a.seed_means(metric) and b.seed_means(metric)):
                    continue
                gap = a.mean(metric) - b.mean(metric)
                for kind in KINDS:
                    rows.append({"bars": bars, "a": first, "b": second, "metric": metric,
                                 "a_mean": a.mean(metric), "b_mean": b.mean(metric),
                                 "a_better": bool(gap > 0 if higher else gap < 0), "kind": kind,
                                 **compare_pair(a, b, metric, kind, alpha)})
    for kind in KINDS:
        add_holm([r for r in rows if r["kind"] == kind], _row_key)
    return rows


def _row_key(row: Mapping) -> tuple:
    return row["bars"], row["a"], row["b"], row["metric"]


def comparisons_markdown(rows: Sequence[dict], higher_is_better: Mapping[str, bool],
                         decimals: int = 2) -> str:
    """The rows of :func:`comparison_rows` as a Markdown section, both kinds on one line."""
    lines = ["## Comparisons (the claims' pairs)", "",
             "| Bars | A vs B | Metric | Means (A vs B) | A better | over seeds: test, p (Holm) "
             "| over windows: test, p (Holm) |", "|---|---|---|---|---|---|---|"]
    merged: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        merged.setdefault(_row_key(r), {})[r["kind"]] = r
    for (bars, a, b, metric), kinds in merged.items():
        first = next(iter(kinds.values()))
        cells = [f"{k['label']}, {format_p(k['p_value'])} ({format_holm(k)})"
                 if k["p_value"] is not None else k["label"] for k in
                 (kinds.get(kind, {"label": "–", "p_value": None}) for kind in KINDS)]
        lines.append(f"| {bars} | {a} vs {b} | {metric} {ARROWS[higher_is_better[metric]]} | "
                     f"{first['a_mean']:.{decimals}f} vs {first['b_mean']:.{decimals}f} | "
                     f"{'yes' if first['a_better'] else 'no'} | {cells[0]} | {cells[1]} |")
    m = {kind: len({_row_key(r) for r in rows if r["kind"] == kind and r["p_value"] is not None})
         for kind in KINDS}
    lines += ["", "Two-sided tests of the experiment's `comparisons`. Over seeds: Levene's test, "
              "then Student's or Welch's t-test on the per-seed means (the papers' protocol). Over "
              "windows: paired t-test over the shared test windows, each averaged over the seeds "
              "both methods have (a difference between these trained models across test "
              f"material, not over training seeds). Holm per kind: {m['seeds']} and "
              f"{m['windows']} tests (\\* p < 0.05, \\*\\* p < 0.01 after Holm).", ""]
    return "\n".join(lines)


__all__ = ["KINDS", "compare_pair", "comparison_rows", "comparisons_markdown", "pooled_windows"]
