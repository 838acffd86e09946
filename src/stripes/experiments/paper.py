"""The papers' numbers beside ours in an experiment's summary (the ``paper`` key of its YAML).

    paper:
      source: "[ST] Table III: d_model 512, 20 epochs, 5 seeds"
      bars:
        16: {rope_pool-bin-variantC: {CS: 25.83, SSMD: 13.74}, rope-time-variantC: {CS: 4.5}}

Method names are run labels (:func:`stripes.experiments.harmonization.method_label`).
Absolute values are not comparable across scales and metric flavours (ours: the ``reference``
flavour, all tracks; docs/metrics.md), so beside each value stands its rank within its column:
the orderings are what a reproduction at another scale can check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def check_paper(paper: Mapping) -> None:
    """Raise ValueError for a ``paper`` mapping without ``bars`` or with non-numeric values."""
    if not paper:
        return
    if "bars" not in paper:
        raise ValueError("paper: needs 'bars: {<bars>: {<method label>: {<metric>: value}}}'")
    for bars, methods in paper["bars"].items():
        for label, metrics in methods.items():
            for metric, value in metrics.items():
                if not isinstance(value, (int, float)):
                    raise ValueError(f"paper.bars.{bars}.{label}.{metric}: expected a number, "
                                     f"got {value!r}")


def ranks(values: Mapping[str, float], higher_is_better: bool) -> dict[str, int]:
    """Rank 1 = best; ties share the better rank."""
    ordered = sorted(values.values(), reverse=higher_is_better)
    return {k: ordered.index(v) + 1 for k, v in values.items()}


def paper_lines(paper: Mapping, per_seed: Mapping[str, Mapping[str, Sequence[float]]],
                bars: str, higher_is_better: Mapping[str, bool]) -> list[str]:
    """A Markdown table ``method | metric: ours (rank) | paper (rank) | …`` for the methods the
    paper reports at this length, or nothing; the metrics of ``higher_is_better``, in its
    order, ranked in its directions."""
    reported = {str(k): v for k, v in (paper or {}).get("bars", {}).items()}.get(str(bars))
    if not reported:
        return []
    metrics = [m for m in higher_is_better if any(m in v for v in reported.values())]
    labels = [label for label in reported if label in per_seed]
    if not labels:
        return []
    head = "| method | " + " | ".join(f"{m} ours (rank) | {m} paper (rank)" for m in metrics)
    lines = [f"### Beside the paper: {paper.get('source', 'paper')}", "", head + " |",
             "|---" * (1 + 2 * len(metrics)) + "|"]
    cells: dict[str, list[str]] = {label: [] for label in labels}
    for metric in metrics:
        higher = higher_is_better[metric]
        ours = {lb: float(np.mean(per_seed[lb][metric])) for lb in labels if metric in per_seed[lb]}
        theirs = {lb: float(reported[lb][metric]) for lb in labels if metric in reported[lb]}
        r_ours, r_theirs = ranks(ours, higher), ranks(theirs, higher)
        for lb in labels:
            cells[lb].append(f"{ours[lb]:.2f} ({r_ours[lb]})" if lb in ours else "—")
            cells[lb].append(f"{theirs[lb]:.2f} ({r_theirs[lb]})" if lb in theirs else "—")
    lines += [f"| {lb} | " + " | ".join(cells[lb]) + " |" for lb in labels]
    missing = [lb for lb in reported if lb not in per_seed]
    note = ("Ranks are within each column among the methods listed; ours: `reference` flavour, "
            "all tracks, mean over finished seeds.")
    if missing:
        note += f" Not run yet: {', '.join(missing)}."
    return [*lines, "", note, ""]
