"""Tables over seeds in the papers' layout ([FS] Table 1, [ST] Table II, [SPE] Table 6), as
Markdown and JSON.

Input everywhere: ``per_seed = {method: {metric: [score of seed 0, seed 1, ...]}}`` where a method
is a name or a tuple such as ``(PE, context)`` (each tuple element becomes a leading column).
Rows keep the order of ``per_seed``; cells read ``mean ± std`` (std over seeds, ``ddof=1``), then
the significance mark against the reference method (Levene, then Student's or Welch's t-test, see
:mod:`stripes.evaluation.stats`); the best mean of each metric whose direction is given
(``higher_is_better``) is bold (every tied row is bold).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np

from stripes.evaluation.stats import MARKS, compare_to_reference

PerSeed = Mapping[Hashable, Mapping[str, Sequence[float]]]


def summarize_seeds(per_seed: PerSeed, *, higher_is_better: Mapping[str, bool],
                    reference: Hashable | None = None, alpha: float = 0.05,
                    marks: Sequence[tuple[float, str]] = MARKS, ddof: int = 1) -> list[dict]:
    """One row per method: ``{"method": [..], "metrics": {metric: {"mean", "std", "n", "best",
    "mark", "p_value", "test"}}}``; ``p_value``/``test`` are None for the reference (or without
    one) and for cells where it or the method has fewer than two seeds. std is 0 for a single
    seed."""
    # a partial experiment (seed-major: every method at seed 0 before any at seed 1) has cells
    # of one seed, where a t-test is undefined: those stay unmarked instead of raising
    testable = {m: {k: s for k, s in v.items() if len(s) >= 2} for m, v in per_seed.items()}
    tests = compare_to_reference(testable, reference, alpha=alpha, marks=marks) \
        if reference is not None else {}
    rows = []
    for method, metrics in per_seed.items():
        cells = {}
        for metric, scores in metrics.items():
            values = np.asarray(scores, dtype=float)
            test = tests.get(method, {}).get(metric, {})
            cells[metric] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=ddof)) if len(values) > ddof else 0.0,
                "n": len(values), "best": False, "mark": test.get("mark", ""),
                "p_value": test.get("p_value"), "test": test.get("test"),
            }
        name = list(method) if isinstance(method, tuple) else [method]
        rows.append({"method": name, "metrics": cells})
    mark_best(rows, higher_is_better)
    return rows


def mark_best(rows: list[dict], higher_is_better: Mapping[str, bool]) -> None:
    """Set ``"best"`` on the cells holding the best mean of each metric with a known direction."""
    for metric, higher in higher_is_better.items():
        cells = [r["metrics"][metric] for r in rows if metric in r["metrics"]]
        if not cells:
            continue
        pick = max if higher else min
        best = pick(c["mean"] for c in cells)
        for cell in cells:
            cell["best"] = cell["mean"] == best


def format_cell(cell: Mapping, decimals: int = 2) -> str:
    """``mean ± std`` (the mean alone, with ``(n=1)``, for one seed: there is no std to show)
    in bold when best, followed by the Markdown-escaped significance mark."""
    if cell.get("n", 2) < 2:
        text = f"{cell['mean']:.{decimals}f} (n=1)"
    else:
        text = f"{cell['mean']:.{decimals}f} ± {cell['std']:.{decimals}f}"
    if cell["best"]:
        text = f"**{text}**"
    return text + cell["mark"].replace("*", r"\*")


def format_markdown(rows: list[dict], *, higher_is_better: Mapping[str, bool],
                    metrics: Sequence[str] | None = None,
                    row_headers: Sequence[str] | None = None, decimals: int = 2) -> str:
    """A Markdown table: one row per method, one column per metric (arrow = better direction).

    rows: from :func:`summarize_seeds`. metrics: column order (default: first appearance).
    row_headers: names of the method columns (default "PE", "Context" for pairs, else
    "Method", "Method 2"...).
    """
    if metrics is None:
        metrics = list(dict.fromkeys(m for r in rows for m in r["metrics"]))
    width = max(len(r["method"]) for r in rows)
    if row_headers is None:
        row_headers = ["PE", "Context"] if width == 2 else \
            ["Method"] + [f"Method {i + 1}" for i in range(1, width)]
    arrows = {True: " ↑", False: " ↓"}
    header = list(row_headers) + [m + (arrows[higher_is_better[m]] if m in higher_is_better else "")
                                  for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        names = [str(n) for n in row["method"]] + [""] * (width - len(row["method"]))
        cells = [format_cell(row["metrics"][m], decimals) if m in row["metrics"] else "–"
                 for m in metrics]
        lines.append("| " + " | ".join(names + cells) + " |")
    return "\n".join(lines) + "\n"


def describe_marks(reference: Hashable | None, marks: Sequence[tuple[float, str]] = MARKS) -> str:
    """A one-line legend for the table."""
    if reference is None:
        return "Mean ± std over seeds; bold: best mean.\n"
    ref = " / ".join(map(str, reference)) if isinstance(reference, tuple) else str(reference)
    levels = ", ".join(f"{m.replace('*', chr(92) + '*')} p < {t:g}" for t, m in sorted(marks))
    return (f"Mean ± std over seeds; bold: best mean; {levels} against {ref} "
            "(Levene's test, then Student's or Welch's t-test; cells with two or more seeds).\n")


def write_report(per_seed: PerSeed, path: str | Path, *, higher_is_better: Mapping[str, bool],
                 reference: Hashable | None = None, title: str | None = None,
                 decimals: int = 2, appendix: str = "", extra: Mapping | None = None,
                 **summary_kwargs) -> dict[str, Path]:
    """Write ``<path>.md`` (table + legend + ``appendix``) and ``<path>.json`` (rows with all
    numbers, plus the entries of ``extra``, e.g. a table's significance tests).

    Returns ``{"markdown": path, "json": path}``. summary_kwargs go to :func:`summarize_seeds`.
    """
    rows = summarize_seeds(per_seed, higher_is_better=higher_is_better, reference=reference,
                           **summary_kwargs)
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    table = format_markdown(rows, higher_is_better=higher_is_better, decimals=decimals)
    md = (f"# {title}\n\n" if title else "") + table + "\n" \
        + describe_marks(reference, summary_kwargs.get("marks", MARKS)) \
        + (f"\n{appendix}" if appendix else "")
    ref = list(reference) if isinstance(reference, tuple) else reference
    paths = {"markdown": base.with_suffix(".md"), "json": base.with_suffix(".json")}
    paths["markdown"].write_text(md, encoding="utf-8")
    doc = {"title": title, "reference": ref, "rows": rows, **(extra or {})}
    paths["json"].write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    return paths
