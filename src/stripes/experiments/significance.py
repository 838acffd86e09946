"""Significance in the experiment tables: best vs next best, and the context ordering of each PE.

As in [ST] and [FS], each context (row group) and metric (column) of a table tests the method
with the best mean against the runner-up; the same is done over the whole table (all contexts).
A second check, for claims such as "BIN > KEY > REP > TIME", compares each PE under adjacent
contexts of the experiment's ``context_order``. See docs/statistics.md.

Each comparison of two methods takes the test that their finished runs allow:

- both have two or more seeds: the papers' protocol on the per-seed means (Levene's test, then
  Student's or Welch's t-test, :func:`stripes.evaluation.stats.compare_samples`);
- otherwise a paired t-test over the test windows of one seed both have
  (:func:`~stripes.evaluation.stats.compare_paired`). Every run of an experiment is scored on the
  same seeded windows, so window i of one run pairs with window i of the other (their song lists
  are checked). It compares two trained models, not two methods over training seeds, and every
  row says which kind of test it holds;
- neither (no shared seed, windows that do not pair, an evaluation without per-window scores):
  no test; the p-value stays empty.

The p-values of one family (the cells of one table; the rows of the context-order check) are
Holm-corrected (:func:`stripes.evaluation.stats.holm`). Every test is two-sided.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stripes.evaluation.stats import compare_paired, compare_samples, holm, significance_mark

#: The scope of the rows that compare the best and next-best method over the whole table.
ALL_CONTEXTS = "all contexts"


@dataclass(frozen=True)
class RunScores:
    """One finished (method, seed) run at one test length.

    means: ``{metric: mean over the test windows}`` (the number the table averages over seeds);
    songs: the song of each test window ``(N,)``; windows: ``{metric: per-window scores [N]}``,
    empty for an evaluation that did not keep them.
    """

    means: dict[str, float]
    songs: tuple[int, ...]
    windows: dict[str, np.ndarray]


def run_scores(test: Mapping) -> RunScores:
    """The :class:`RunScores` of ``evaluation.json["test"][bars]`` (all tracks, reference
    flavour, as the table's ``summary``)."""
    rows = test.get("per_window") or []
    # older evaluations kept each window's metrics at the top level, newer ones under "all"
    scores = [w.get("all", w) for w in rows]
    metrics = test["summary"]
    return RunScores(
        means={m: float(s["mean"]) for m, s in metrics.items()},
        songs=tuple(int(w["song"]) for w in rows),
        windows={m: np.array([s[m] for s in scores], dtype=float) for m in metrics} if rows
        else {},
    )


@dataclass
class MethodRuns:
    """The finished runs of one method at one test length: its context, its PE (the method
    without its context, e.g. ``rope-variantC``) and ``{seed: RunScores}`` in seed order."""

    context: str
    pe: str
    seeds: dict[int, RunScores]

    def seed_means(self, metric: str) -> list[float]:
        """The per-seed means ``[S]`` of ``metric`` (seeds whose run lacks it are left out)."""
        return [r.means[metric] for r in self.seeds.values() if metric in r.means]

    def mean(self, metric: str) -> float:
        """The table's number: the mean over seeds of the per-seed means."""
        return float(np.mean(self.seed_means(metric)))


def compare_runs(a: MethodRuns, b: MethodRuns, metric: str, *, alpha: float = 0.05) -> dict:
    """Test ``a`` against ``b`` on ``metric``: over seeds when both have two or more, else paired
    over the windows of their first shared seed, else no test.

    Returns ``{"kind": "seeds" | "windows" | None, "test": "student" | "welch" | "paired t" |
    None, "n": [n_a, n_b], "seed", "variance_p", "statistic", "p_value", "label"}``; ``label``
    is the table's wording, e.g. ``seeds: Levene→Student, n=3`` or ``windows: paired t, n=64,
    one seed (seed 0)``.
    """
    sa, sb = a.seed_means(metric), b.seed_means(metric)
    if len(sa) >= 2 and len(sb) >= 2:
        res = compare_samples(sa, sb, alpha=alpha)
        n = f"n={len(sa)}" if len(sa) == len(sb) else f"n={len(sa)} vs {len(sb)}"
        return {"kind": "seeds", **seed_test_fields(res, len(sa), len(sb)), "seed": None,
                "label": f"seeds: Levene→{res.test.title()}, {n}"}
    seed = shared_window_seed(a, b, metric)
    if seed is None:
        return {"kind": None, "test": None, "n": [len(sa), len(sb)], "seed": None,
                "variance_p": None, "statistic": None, "p_value": None,
                "label": "no test: under two seeds and no shared per-window scores"}
    paired = compare_paired(a.seeds[seed].windows[metric], b.seeds[seed].windows[metric])
    return {"kind": "windows", "test": "paired t", "n": [paired.n, paired.n], "seed": seed,
            "variance_p": None, "statistic": finite_or_none(paired.statistic),
            "p_value": finite_or_none(paired.p_value),
            "label": f"windows: paired t, n={paired.n}, one seed (seed {seed})"}


def seed_test_fields(res, n_a: int, n_b: int) -> dict:
    """The fields of an over-seeds test (:func:`compare_samples`'s result) in a table row."""
    return {"test": res.test, "n": [n_a, n_b], "variance_p": finite_or_none(res.levene_p),
            "statistic": finite_or_none(res.statistic), "p_value": finite_or_none(res.p_value)}


def paired_seeds(a: MethodRuns, b: MethodRuns, metric: str) -> list[int]:
    """The seeds at which both methods kept per-window ``metric`` scores on the same windows
    (same songs in the same order, at least two), in ``a``'s seed order."""
    return [seed for seed, ra in a.seeds.items()
            if (rb := b.seeds.get(seed)) is not None and metric in ra.windows
            and metric in rb.windows and ra.songs == rb.songs and len(ra.songs) >= 2]


def shared_window_seed(a: MethodRuns, b: MethodRuns, metric: str) -> int | None:
    """The first of :func:`paired_seeds`, or None."""
    seeds = paired_seeds(a, b, metric)
    return seeds[0] if seeds else None


def best_two(methods: Mapping[str, MethodRuns], metric: str, higher: bool) -> list[str]:
    """The labels of the best and next-best mean of ``metric`` (ties keep the given order); an
    empty list when fewer than two methods have it."""
    have = [label for label, m in methods.items() if m.seed_means(metric)]
    if len(have) < 2:
        return []
    return sorted(have, key=lambda label: methods[label].mean(metric), reverse=higher)[:2]


def table_statistics(methods: Mapping[str, MethodRuns], higher_is_better: Mapping[str, bool],
                     *, alpha: float = 0.05) -> list[dict]:
    """Best vs next best in every context and metric, then over all contexts (when there are
    several), Holm-corrected over the distinct tests (see :func:`add_holm`).

    methods: ``{label: MethodRuns}`` of one table (one test length); higher_is_better: the
    metrics to test and their direction. Returns rows ``{"scope": context or ALL_CONTEXTS,
    "metric", "best", "next", "best_mean", "next_mean", **compare_runs(...), "p_holm", "mark"}``
    (``mark`` of ``p_holm``).
    """
    groups: dict[str, dict[str, MethodRuns]] = {}
    for label, method in methods.items():
        groups.setdefault(method.context, {})[label] = method
    if len(groups) > 1:
        groups[ALL_CONTEXTS] = dict(methods)
    rows = []
    for scope, group in groups.items():
        for metric, higher in higher_is_better.items():
            pair = best_two(group, metric, higher)
            if pair:
                best, runner_up = (group[label] for label in pair)
                rows.append({"scope": scope, "metric": metric, "best": pair[0], "next": pair[1],
                             "best_mean": best.mean(metric), "next_mean": runner_up.mean(metric),
                             **compare_runs(best, runner_up, metric, alpha=alpha)})
    return add_holm(rows, pair_key)


def context_order_check(tables: Mapping[str, Mapping[str, MethodRuns]],
                        order: Sequence[str] | Sequence[Sequence[str]], *,
                        metric: str = "CS", alpha: float = 0.05) -> list[dict]:
    """For each test length and PE, whether ``metric`` is higher under each context than under
    the next one of ``order`` (among the contexts that PE has runs for), Holm-corrected over all
    rows. ``order`` is one chain of contexts or several (a pair in two chains is tested once).

    tables: ``{bars: {label: MethodRuns}}``. Returns rows ``{"bars", "pe", "first", "second",
    "first_mean", "second_mean", "higher": bool, **compare_runs(first, second), "p_holm",
    "mark"}``.
    """
    chains = order_chains(order)
    rows = []
    for bars, methods in tables.items():
        by_pe: dict[str, dict[str, MethodRuns]] = {}
        for method in methods.values():
            if any(method.context in c for c in chains) and method.seed_means(metric):
                by_pe.setdefault(method.pe, {}).setdefault(method.context, method)
        for pe, contexts in by_pe.items():
            pairs = []
            for chain in chains:
                present = [c for c in chain if c in contexts]
                pairs += [p for p in zip(present, present[1:], strict=False) if p not in pairs]
            for first, second in pairs:
                a, b = contexts[first], contexts[second]
                rows.append({"bars": bars, "pe": pe, "first": first, "second": second,
                             "first_mean": a.mean(metric), "second_mean": b.mean(metric),
                             "higher": a.mean(metric) > b.mean(metric),
                             **compare_runs(a, b, metric, alpha=alpha)})
    return add_holm(rows, order_key)


def order_chains(order: Sequence[str] | Sequence[Sequence[str]]) -> list[list[str]]:
    """One chain of contexts (``[bin, key, rep]``) or several, as a list of chains."""
    if all(isinstance(c, str) for c in order):
        return [[str(c) for c in order]] if order else []
    return [list(c) for c in order]


Key = Callable[[Mapping], Hashable]


def pair_key(row: Mapping) -> tuple:
    """A best-vs-next-best test: its metric and its two methods."""
    return row["metric"], row["best"], row["next"]


def order_key(row: Mapping) -> tuple:
    """A context-order test: its test length, PE and two contexts."""
    return row["bars"], row["pe"], row["first"], row["second"]


def add_holm(rows: list[dict], key: Key) -> list[dict]:
    """Set ``p_holm`` and its ``mark`` on each row: Holm over the distinct tests (by ``key``)
    that have a p-value. Rows that repeat a test (an all-contexts pair that is also a context's
    pair) count once and share its corrected p-value: counting one test twice inflates m."""
    tests = {key(r): r["p_value"] for r in rows}
    adjusted = holm([math.nan if p is None else p for p in tests.values()])
    by_test = dict(zip(tests, adjusted, strict=True))
    for row in rows:
        row["p_holm"] = finite_or_none(by_test[key(row)])
        row["mark"] = "" if row["p_holm"] is None else significance_mark(row["p_holm"])
    return rows


def family_size(rows: Sequence[dict], key: Key) -> int:
    """The m of the Holm correction: the distinct tests with a p-value."""
    return len({key(r) for r in rows if r["p_value"] is not None})


ARROWS = {True: "↑", False: "↓"}


def statistics_markdown(rows: Sequence[dict], higher_is_better: Mapping[str, bool],
                        alpha: float = 0.05, decimals: int = 2) -> str:
    """The "Statistics" section after a table: one line per row of :func:`table_statistics`."""
    m = family_size(rows, pair_key)
    lines = ["### Statistics: best vs next best", "",
             "| Context | Metric | Best | Next best | Means | Test | p | p (Holm) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        arrow = ARROWS[higher_is_better[r["metric"]]] if r["metric"] in higher_is_better else ""
        lines.append(f"| {r['scope']} | {r['metric']} {arrow} | {r['best']} | {r['next']} | "
                     f"{r['best_mean']:.{decimals}f} vs {r['next_mean']:.{decimals}f} | "
                     f"{r['label']} | {format_p(r['p_value'])} | {format_holm(r)} |")
    lines += ["", f"Two-sided tests of the best mean against the next best, per context and "
              f"over all contexts; Holm over the {m} distinct tests of this table (an "
              f"all-contexts row that repeats a context's pair counts once; \\* p < 0.05, "
              f"\\*\\* p < 0.01 after Holm). {kinds_legend(rows, alpha)}", ""]
    return "\n".join(lines)


#: What each kind of test is, for the legend of the tables that hold one.
TEST_LEGENDS = {
    "seeds": "seeds: Levene's test (α = {alpha:g}) picks Student's or Welch's t-test on the "
             "per-seed means.",
    "windows": "windows: paired t-test over the shared test windows of one seed (a difference "
               "between two trained models, not between methods over training seeds).",
}


def kinds_legend(rows: Sequence[dict], alpha: float) -> str:
    """The legend of the kinds of test that ``rows`` hold, in a fixed order."""
    kinds = {r["kind"] for r in rows}
    return " ".join(text.format(alpha=alpha) for kind, text in TEST_LEGENDS.items()
                    if kind in kinds)


def context_order_markdown(rows: Sequence[dict], order: Sequence[str] | Sequence[Sequence[str]],
                           metric: str = "CS",
                           alpha: float = 0.05, decimals: int = 2) -> str:
    """The context-order check of :func:`context_order_check` as a Markdown section."""
    m = family_size(rows, order_key)
    chains = "; ".join(" > ".join(c) for c in order_chains(order))
    lines = [f"## Context order ({metric}): {chains}", "",
             f"| Bars | PE | Pair | {metric} means | Higher under first | Test | p | p (Holm) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['bars']} | {r['pe']} | {r['first']} > {r['second']} | "
                     f"{r['first_mean']:.{decimals}f} vs {r['second_mean']:.{decimals}f} | "
                     f"{'yes' if r['higher'] else 'no'} | {r['label']} | "
                     f"{format_p(r['p_value'])} | {format_holm(r)} |")
    if not rows:
        lines.append("| – | no PE has runs under two of these contexts | | | | | | |")
    lines += ["", f"Each PE (a method without its context) under adjacent contexts of "
              f"`context_order`, among those it has runs for; two-sided tests of the {metric} "
              f"difference, Holm over the {m} tests of this check. "
              f"{kinds_legend(rows, alpha)}", ""]
    return "\n".join(lines)


def format_p(p: float | None) -> str:
    """A p-value with three significant digits, or ``–`` when no test was possible."""
    return "–" if p is None else f"{p:.3g}"


def format_holm(row: Mapping) -> str:
    """The Holm-corrected p-value and its (Markdown-escaped) mark."""
    return format_p(row["p_holm"]) + row["mark"].replace("*", r"\*")


def finite_or_none(x: float) -> float | None:
    """``x`` as a float, None when NaN or infinite (strict JSON has neither)."""
    return float(x) if math.isfinite(x) else None
