"""The report of a groove-continuation grid: [SPE] Fig. 5 redrawn, the table, the tests.

From the finished runs (``continuation.json``: per test piece, ``{metric: [C]}`` over chunks)
and the ceiling and floor (``reference.json``) :func:`write_report` writes in ``<out>``:

- ``fig5.png``: one panel per profile (onset-duration, time-pitch); x is the chunk; a point per
  style (test piece) and chunk for each model (its mean over seeds), a line per model (the mean
  over styles), the ceiling and the floor as dashed lines;
- ``table.md`` / ``table.json``: per model and chunk the mean over styles, as mean ± std over
  training seeds; the drift (last chunk minus first); the ceiling and the floor; each method
  against the reference (APE) in the last chunk on the per-seed means (Levene, then Student or
  Welch: :func:`stripes.evaluation.stats.compare_to_reference`), Holm-corrected over all
  methods and both profiles; whether APE's drift and SPE's stability reproduce; the runs still
  missing, the scale, seeds, wall time and command.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stripes.evaluation.stats import compare_to_reference, holm
from stripes.experiments.grid import missing_lines, wall_time
from stripes.extras import needs
from stripes.files import atomic_write_text
from stripes.tasks.groove.protocol import METRICS

NAMES = {"onset_duration": "onset-duration", "time_pitch": "time-pitch"}
SPE_LABELS = ("sineSPE", "convSPE")


def piece_matrix(result: Mapping, metric: str, names: Sequence[str]) -> np.ndarray:
    """``[N, C]``: the run's score of each piece of ``names`` (in that order) and chunk."""
    by_name = {p["name"]: p["scores"][metric] for p in result["pieces"]}
    return np.array([by_name[n] for n in names], dtype=float)


def collect(results: Sequence[Mapping], names: Sequence[str]
            ) -> dict[str, dict[str, dict[int, np.ndarray]]]:
    """``{label: {metric: {seed: [N, C]}}}`` in run order."""
    out: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for r in results:
        row = out.setdefault(r["label"], {m: {} for m in METRICS})
        for m in METRICS:
            row[m][int(r["seed"])] = piece_matrix(r, m, names)
    return out


def nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmean`` without its warning where every value is NaN (the result is NaN there:
    a chunk no piece has notes in, or a style without notes in a chunk at any seed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def seed_means(runs: Mapping[int, np.ndarray]) -> np.ndarray:
    """``[S, C]``: each seed's mean over pieces (NaN pieces left out)."""
    return np.array([nanmean(v, axis=0) for v in runs.values()])


def reference_matrix(reference: Mapping, kind: str, metric: str) -> np.ndarray:
    """``[N, C]`` of the ceiling or the floor (``kind``)."""
    return np.array([p[kind][metric] for p in reference["pieces"]], dtype=float)


def last_chunk_tests(models: Mapping[str, Mapping[str, Mapping[int, np.ndarray]]],
                     reference: str) -> list[dict[str, Any]]:
    """Each method against ``reference`` in the last chunk, per profile, on per-seed means;
    Holm over every test. Empty when the reference or every other row has < 2 seeds."""
    per_seed: dict[Hashable, dict[str, list[float]]] = {
        label: {m: seed_means(rows[m])[:, -1].tolist() for m in METRICS}
        for label, rows in models.items() if len(rows[METRICS[0]]) >= 2}
    if reference not in per_seed or len(per_seed) < 2:
        return []
    tests = compare_to_reference(per_seed, reference)
    rows = [{"method": str(k), "metric": m, "test": t["test"], "p": t["p_value"],
             "difference": float(np.mean(per_seed[k][m]) - np.mean(per_seed[reference][m]))}
            for k, metrics in tests.items() for m, t in metrics.items()]
    for row, q in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["holm_p"] = float(q)
    return rows


def floor_lines(models: Mapping[str, Mapping[str, Mapping[int, np.ndarray]]],
                reference: Mapping) -> list[str]:
    """Per profile, which models start above the floor (their mean over seeds and styles in
    the first chunk above the floor's): below it, a model has not learned the styles, and its
    drift says little about the PE."""
    lines = []
    for m in METRICS:
        floor = float(nanmean(reference_matrix(reference, "floor", m), 0)[0])
        start = {label: float(np.mean(seed_means(rows[m])[:, 0]))
                 for label, rows in models.items()}
        marks = ", ".join(f"{label} {'yes' if v > floor else 'no'}" for label, v in start.items())
        if marks:
            lines.append(f"- {NAMES[m]}: above the floor ({floor:.3f}) in the first chunk: "
                         f"{marks}")
    return lines


def verdicts(models: Mapping[str, Mapping[str, Mapping[int, np.ndarray]]],
             tests: Sequence[Mapping], reference: str) -> list[str]:
    """Whether APE's drift and SPE's stability reproduce, per profile, from the numbers.

    APE drifts: its last chunk is below its first at every seed. SPE is stable: for each SPE
    row, the change from the first chunk to the last is within two standard deviations of its
    seeds, or positive; and it is above APE in the last chunk with Holm p < 0.05."""
    lines = []
    for m in METRICS:
        if reference not in models:
            continue
        ape = seed_means(models[reference][m])
        drift = ape[:, -1] - ape[:, 0]
        ape_drifts = bool(np.all(drift < 0))
        lines.append(f"- {NAMES[m]}: {reference} drifts (last chunk below the first at every "
                     f"seed): **{'yes' if ape_drifts else 'no'}** (change "
                     f"{fmt_seeds(drift)})")
        for label in SPE_LABELS:
            if label not in models:
                continue
            spe = seed_means(models[label][m])
            change = spe[:, -1] - spe[:, 0]
            spread = float(np.std(change, ddof=1)) if len(change) > 1 else 0.0
            stable = float(np.mean(change)) >= -2 * spread
            test = next((t for t in tests if t["method"] == label and t["metric"] == m), None)
            above = test is not None and test["difference"] > 0 and test["holm_p"] < 0.05
            lines.append(f"- {NAMES[m]}: {label} stable (change {fmt_seeds(change)}): "
                         f"**{'yes' if stable else 'no'}**; above {reference} in the last chunk "
                         f"at Holm p < 0.05: **{'yes' if above else 'no'}**")
    return lines


def without_nan(value: Any) -> Any:
    """``value`` (nested lists and dicts) with NaN as None, so the JSON is strict."""
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nan(v) for v in value]
    return None if isinstance(value, float) and np.isnan(value) else value


def fmt_seeds(values: np.ndarray) -> str:
    """``mean ± std`` over seeds (std left out for one seed)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return f"{np.mean(values):+.3f} (1 seed)"
    return f"{np.mean(values):+.3f} ± {np.std(values, ddof=1):.3f}"


def cell(values: np.ndarray) -> str:
    """``mean ± std`` of per-seed values (plain mean for one seed)."""
    if len(values) < 2:
        return f"{np.mean(values):.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def table_lines(models: Mapping[str, Mapping[str, Mapping[int, np.ndarray]]],
                reference: Mapping, metric: str, n_chunks: int) -> list[str]:
    """The Markdown table of one profile: a row per model, ceiling and floor."""
    head = " | ".join(f"chunk {j + 1}" for j in range(n_chunks))
    lines = [f"### {NAMES[metric]} similarity to the whole reference (mean over styles)", "",
             f"| model | seeds | {head} | drift (last − first) |",
             "|---|---|" + "---|" * n_chunks + "---|"]
    for label, rows in models.items():
        s = seed_means(rows[metric])
        cells = " | ".join(cell(s[:, j]) for j in range(n_chunks))
        lines.append(f"| {label} | {len(s)} | {cells} | {fmt_seeds(s[:, -1] - s[:, 0])} |")
    for kind in ("ceiling", "floor"):
        mean = nanmean(reference_matrix(reference, kind, metric), 0)
        cells = " | ".join(f"{v:.3f}" for v in mean)
        lines.append(f"| *{kind}* | – | {cells} | {mean[-1] - mean[0]:+.3f} |")
    return [*lines, ""]


def test_lines(tests: Sequence[Mapping], reference: str) -> list[str]:
    """The tests against the reference in the last chunk, Holm-corrected."""
    if not tests:
        return [f"No test yet: each row needs at least two finished seeds ({reference} too).", ""]
    lines = [f"### Against {reference} in the last chunk (per-seed means; Holm over "
             f"{len(tests)} tests)", "",
             "| method | profile | difference | test | p | Holm p | at 0.05 |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {t['method']} | {NAMES[t['metric']]} | {t['difference']:+.3f} | {t['test']} | "
              f"{t['p']:.3g} | {t['holm_p']:.3g} | {'yes' if t['holm_p'] < 0.05 else 'no'} |"
              for t in tests]
    return [*lines, ""]


def write_report(grid: Any, results: Sequence[Mapping], reference: Mapping, out: Path,
                 command: str, scale: str) -> Path:
    """``table.md``, ``table.json`` and ``fig5.png`` of the runs done so far; returns the
    Markdown path."""
    names = [p["name"] for p in reference["pieces"]]
    n_chunks = int(reference["sampling"]["chunks"])
    models = collect(results, names)
    tests = last_chunk_tests(models, grid.reference)
    done = {(r["label"], int(r["seed"])) for r in results}
    missing = [f"{m.label} seed {s}" for s in grid.seeds for m in grid.methods
               if (m.label, s) not in done]
    lines = [f"# {grid.title}", "",
             f"Style similarity of each chunk of the continuations to the whole reference "
             f"piece ({len(names)} test pieces = styles); higher is closer. Ceiling: the real "
             "continuation; floor: the real continuation of another style.", ""]
    for m in METRICS:
        lines += table_lines(models, reference, m, n_chunks)
    lines += test_lines(tests, grid.reference)
    found = verdicts(models, tests, grid.reference) or [
        f"- Not known yet: no finished {grid.reference} run."]
    lines += ["### Does it reproduce at this scale?", "", *found,
              *floor_lines(models, reference), ""]
    lines += [*missing_lines(missing, len(grid.methods) * len(grid.seeds)),
              f"- Scale: {scale}", f"- Seeds: {grid.seeds}; wall time "
              f"{wall_time(out) / 60:.1f} min (all sessions)", f"- Command: `{command}`",
              "- Figure: fig5.png"]
    path = atomic_write_text(out / "table.md", "\n".join(lines) + "\n")
    doc = {"title": grid.title, "reference": grid.reference, "scale": scale,
           "seeds": grid.seeds, "wall_time_s": wall_time(out), "command": command,
           "missing": missing, "pieces": names, "tests": tests,
           "verdicts": verdicts(models, tests, grid.reference),
           "above_floor": floor_lines(models, reference),
           "models": {label: {m: {str(s): seed_means({s: v}).tolist()[0]
                                  for s, v in rows[m].items()} for m in METRICS}
                      for label, rows in models.items()},
           "ceiling": {m: nanmean(reference_matrix(reference, "ceiling", m), 0).tolist()
                       for m in METRICS},
           "floor": {m: nanmean(reference_matrix(reference, "floor", m), 0).tolist()
                     for m in METRICS}}
    atomic_write_text(out / "table.json", json.dumps(without_nan(doc), indent=1))
    plot_fig5(models, reference, out / "fig5.png", n_chunks)
    return path


def plot_fig5(models: Mapping[str, Mapping[str, Mapping[int, np.ndarray]]],
              reference: Mapping, path: Path, n_chunks: int) -> None:
    """[SPE] Fig. 5: per profile, a point per style and chunk, a line per model."""
    with needs("music"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    x = np.arange(1, n_chunks + 1)
    width = 0.6 / max(len(models), 1)
    for col, m in enumerate(METRICS):
        ax = fig.add_subplot(1, 2, col + 1)
        for i, (label, rows) in enumerate(models.items()):
            per_style = nanmean(np.stack(list(rows[m].values())), axis=0)  # [N, C]
            dx = (i - (len(models) - 1) / 2) * width
            color = f"C{i}"
            ax.scatter(np.repeat(x + dx, len(per_style)).reshape(n_chunks, -1).T, per_style,
                       s=6, alpha=0.35, color=color, linewidths=0)
            ax.plot(x + dx, nanmean(per_style, axis=0), marker="o", color=color,
                    label=f"{label} ({len(rows[m])} seed{'s' if len(rows[m]) > 1 else ''})")
        for kind, style, what in (("ceiling", "--", "real continuation"),
                                  ("floor", ":", "real continuation, other style")):
            ax.plot(x, nanmean(reference_matrix(reference, kind, m), 0), style, color="k",
                    label=f"{kind} ({what})")
        ax.set_xticks(x, [f"chunk {j}" for j in x])
        ax.set_ylabel(f"{NAMES[m]} similarity")
        ax.set_title(f"{NAMES[m]}: a point per style, a line per model")
        ax.set_ylim(-0.02, 1.02)
    fig.axes[0].legend(fontsize=7, loc="upper right")
    fig.savefig(path, dpi=120, bbox_inches="tight")
