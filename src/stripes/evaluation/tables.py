"""Markdown tables of harmonization scores with their flavour, beside the floors (docs/math.md §6).

Input: ``rows = {name: summary}`` where a summary is the output of
:func:`stripes.evaluation.scoring.summarize` (a model) or one row of
:func:`stripes.evaluation.baselines.score_baselines` (a floor). One table shows one group
(``"all"``, ``"accompaniment"`` or a slot name) in one flavour, so no cell mixes readings.
"""

from __future__ import annotations

from collections.abc import Mapping

from stripes.evaluation.scoring import HIGHER_IS_BETTER, UNITS

METRICS = ("CS", "SSMD", "GS", "NDD")


def group_of(summary: Mapping, group: str) -> Mapping:
    """The ``{metric: {"mean", "std", "n"}}`` of ``group`` in a summary (a slot name looks in
    ``summary["tracks"]``)."""
    if group in ("all", "accompaniment"):
        return summary[group]
    return summary["tracks"][group]


def harmonization_table(rows: Mapping[str, Mapping], group: str = "all",
                        floors: Mapping[str, Mapping] | None = None) -> str:
    """A Markdown table: one line per model row, then the floors (``floors`` = the ``"rows"`` of
    :func:`~stripes.evaluation.baselines.score_baselines`, shown in italics).

    Every summary must carry the same ``"flavour"``; the header names it and each metric's unit.
    """
    everything = {**rows, **{f"_{k}_": v for k, v in (floors or {}).items()}}
    flavours = {s["flavour"] for s in everything.values()}
    if len(flavours) != 1:
        raise ValueError(f"one table, one flavour; got {sorted(flavours)}")
    flavour = flavours.pop()
    arrows = {m: "↑" if HIGHER_IS_BETTER[m] else "↓" for m in METRICS}
    lines = [f"Flavour `{flavour}`, group `{group}` (units: "
             + "; ".join(f"{m} {UNITS[flavour][m]}" for m in METRICS) + ")", "",
             "| | " + " | ".join(f"{m} {arrows[m]}" for m in METRICS) + " |",
             "|---" * (len(METRICS) + 1) + "|"]
    for name, summary in everything.items():
        cells = group_of(summary, group)
        lines.append(f"| {name} | " + " | ".join(
            f"{cells[m]['mean']:.2f} ± {cells[m]['std']:.2f}" for m in METRICS) + " |")
    return "\n".join(lines) + "\n"
