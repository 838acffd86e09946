"""[SPE] Table 1 on our scale: LRA methods × training seeds, mean ± std, tests against the APE row.

A grid (``configs/lra/grid_*.yaml``, :class:`LRAGrid`) names a base recipe, the methods (a label
and the recipe entries it changes), the seeds and the reference row. :func:`run_lra_grid` runs it
seed-major (:func:`stripes.experiments.grid.run_grid`) into ``<out>/runs/<label>/seed<k>/``;
after every run it rewrites in ``<out>``:

- ``table.md`` / ``table.json``: test and validation accuracy (%) as mean ± std over seeds, marks
  against the reference (Levene, then Student or Welch: :mod:`stripes.experiments.tables`), the
  Holm-corrected p-values of the test-accuracy comparisons with the reference
  (:func:`stripes.evaluation.stats.holm`), the majority-class floor and how many runs beat it,
  the paper's Table 1 beside (with ranks), the scale, the wall time and the command;
- ``curves.png`` / ``curves.json``: validation accuracy of each kept checkpoint, mean per row.

Resumable: a run with ``evaluation.json`` and ``curve.json`` is read back; an interrupted one
continues from its ``checkpoints/last.pt`` (:func:`stripes.tasks.lra.train.train_lra`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from stripes.config import ConfigError, load_config
from stripes.evaluation.stats import compare_to_reference, holm
from stripes.experiments.grid import missing_lines, run_folder, run_grid, seed_major, wall_time
from stripes.extras import needs
from stripes.files import atomic_write_text
from stripes.tasks.lra.config import LRAConfig, load_lra_config
from stripes.tasks.lra.data import load_split
from stripes.tasks.lra.train import accuracy, evaluate_lra, load_classifier, train_lra

METRICS = {"test accuracy": True, "val accuracy": True}


@dataclass
class LRAMethod:
    """A row: its ``label`` and the recipe entries it sets (dotted key -> value)."""

    label: str
    set: dict[str, Any] = field(default_factory=dict)


@dataclass
class LRAGrid:
    """Methods × seeds on one base recipe (``base``: a path relative to the grid file's
    folder), under ``title``; ``paper``: [SPE] Table 1's accuracy (%) per label
    for this task (what it reports), ``paper_source`` says where from."""

    base: str
    methods: list[LRAMethod]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    reference: str = ""
    paper: dict[str, float] = field(default_factory=dict)
    paper_source: str = ""
    title: str = "LRA, [SPE] Table 1 layout"

    def __post_init__(self):
        labels = [m.label for m in self.methods]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"methods: labels must differ, got {labels}")
        if self.reference and self.reference not in labels:
            raise ConfigError(f"reference: {self.reference!r} is not a method label {labels}")


def method_overrides(method: LRAMethod) -> list[str]:
    """The ``key=value`` overrides of a method, one per leaf (a mapping value is spread into
    dotted keys, so a section keeps the base's other entries), values as YAML flow text."""
    out: list[str] = []

    def add(key: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                add(f"{key}.{k}", v)
        else:
            text = yaml.safe_dump(value, default_flow_style=True).strip()
            out.append(f"{key}={text.removesuffix('...').strip()}")

    for k, v in method.set.items():
        add(k, v)
    return out


def run_config(grid: LRAGrid, method: LRAMethod, seed: int, overrides: Sequence[str] = (),
               root: Path = Path(".")) -> LRAConfig:
    """The recipe of one run: the base, the method's entries, the seed (``train.seed``, and
    ``attention.feature_seed`` so that FAVOR+ draws differ between seeds too), then
    ``overrides``."""
    base = Path(grid.base) if Path(grid.base).is_absolute() else root / grid.base
    seeds = [f"train.seed={seed}", f"classifier.model.attention.feature_seed={seed}"]
    return load_lra_config(base, [*method_overrides(method), *seeds, *overrides])


def learning_curve(run: Path, cfg: LRAConfig) -> list[tuple[int, float]]:
    """``(step, validation accuracy)`` of every kept checkpoint (``step_NNNNNN.pt``)."""
    val = load_split(cfg, "val")
    return [(int(p.stem.split("_")[1]), accuracy(load_classifier(p, config=cfg.classifier), val,
                                                   cfg.eval_seed))
            for p in sorted((run / "checkpoints").glob("step_*.pt"))]


def run_one(grid: LRAGrid, method: LRAMethod, seed: int, out: Path,
            overrides: Sequence[str], root: Path) -> dict[str, Any]:
    """Train, evaluate and score the curve of one run (or read it back when done)."""
    folder = run_folder(out, method.label, seed)
    if finished_run(folder, method.label, seed) is None:
        cfg = run_config(grid, method, seed, overrides, root)
        # stopped before its first checkpoint: nothing to resume, so the grid starts it again
        # (a run with a checkpoint resumes; one of another recipe is refused by train_lra)
        restart = folder.is_dir() and any(folder.iterdir()) and \
            not (folder / "checkpoints" / "last.pt").is_file()
        train_lra(cfg, folder, overwrite=restart)
        evaluate_lra(folder)
        atomic_write_text(folder / "curve.json", json.dumps(learning_curve(folder, cfg)))
    result = finished_run(folder, method.label, seed)
    assert result is not None  # both files were just written
    return result


def finished_run(folder: Path, label: str, seed: int) -> dict[str, Any] | None:
    """A run's result as the tables read it, or None while its evaluation or curve is
    missing."""
    done = folder / "evaluation.json", folder / "curve.json"
    if not all(p.is_file() for p in done):
        return None
    return {"label": label, "seed": seed, "evaluation": json.loads(done[0].read_text()),
            "curve": json.loads(done[1].read_text())}


def finished_runs(grid: LRAGrid, out: Path, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Every finished run of ``grid`` × ``seeds`` under ``out``, seed-major: also those another
    process (another seed's grid) finished."""
    found = (finished_run(run_folder(out, m.label, s), m.label, s)
             for m, s in seed_major(grid.methods, seeds))
    return [r for r in found if r is not None]


def per_seed_table(results: Sequence[Mapping]) -> dict[str, dict[str, list[float]]]:
    """``{label: {metric: [accuracy % per seed]}}`` in run order."""
    table: dict[str, dict[str, list[float]]] = {}
    for r in results:
        row = table.setdefault(r["label"], {m: [] for m in METRICS})
        for split in ("test", "val"):
            row[f"{split} accuracy"].append(100 * r["evaluation"][split]["accuracy"])
    return table


def holm_lines(per_seed: Mapping[str, Mapping[str, Sequence[float]]], reference: str
               ) -> list[str]:
    """Test accuracy of every row against ``reference``, p-values Holm-corrected as a family."""
    testable: dict[Hashable, Mapping[str, Sequence[float]]] = {
        k: {"test accuracy": v["test accuracy"]} for k, v in per_seed.items()
        if len(v["test accuracy"]) >= 2}
    if reference not in testable or len(testable) < 2:
        return []
    tests = compare_to_reference(testable, reference)
    labels = list(tests)
    raw = [tests[k]["test accuracy"]["p_value"] for k in labels]
    adjusted = holm(raw)
    lines = [f"### Against {reference} (test accuracy, Holm over {len(labels)} tests)", "",
             "| method | test | p | Holm p | difference at 0.05 |", "|---|---|---|---|---|"]
    for k, p, q in zip(labels, raw, adjusted, strict=True):
        lines.append(f"| {k} | {tests[k]['test accuracy']['test']} | {p:.3g} | {q:.3g} | "
                     f"{'yes' if q < 0.05 else 'no'} |")
    return [*lines, ""]


def paper_lines(grid: LRAGrid, per_seed: Mapping[str, Mapping[str, Sequence[float]]]
                ) -> list[str]:
    """Our mean test accuracy beside the paper's, each with its rank among the rows both have."""
    both = [k for k in grid.paper if k in per_seed]
    if not both:
        return []
    ours = {k: float(np.mean(per_seed[k]["test accuracy"])) for k in both}

    def rank(values: Mapping[str, float]) -> dict[str, int]:
        order = sorted(values.values(), reverse=True)
        return {k: order.index(v) + 1 for k, v in values.items()}

    r_ours, r_paper = rank(ours), rank({k: grid.paper[k] for k in both})
    lines = [f"### Beside the paper: {grid.paper_source}", "",
             "| method | ours, test % (rank) | paper % (rank) |", "|---|---|---|"]
    lines += [f"| {k} | {ours[k]:.2f} ({r_ours[k]}) | {grid.paper[k]:.2f} ({r_paper[k]}) |"
              for k in both]
    return [*lines, ""]


def floor_lines(results: Sequence[Mapping]) -> list[str]:
    """The majority-class floor of the test split and, per row, the runs above it."""
    if not results:
        return []
    floor = 100 * results[0]["evaluation"]["test"]["majority_floor"]
    counts: dict[str, list[bool]] = {}
    for r in results:
        counts.setdefault(r["label"], []).append(
            100 * r["evaluation"]["test"]["accuracy"] > floor)
    above = ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in counts.items())
    return [f"- Majority-class floor (test): {floor:.2f} % (class "
            f"{results[0]['evaluation']['majority_class']}); a run counts only above it.",
            f"- Runs above the floor: {above}."]


def write_tables(grid: LRAGrid, results: Sequence[Mapping], out: Path, command: str,
                 scale: str) -> Path:
    """``table.md``/``table.json`` and the curves of the runs done so far."""
    from stripes.experiments.tables import write_report

    per_seed = per_seed_table(results)
    done = {(r["label"], r["seed"]) for r in results}
    missing = [f"{m.label} seed {s}" for s in grid.seeds for m in grid.methods
               if (m.label, s) not in done]
    appendix = "\n".join([
        *floor_lines(results), *missing_lines(missing, len(grid.methods) * len(grid.seeds)),
        f"- Scale: {scale}", f"- Seeds: {grid.seeds}; wall time {wall_time(out) / 60:.1f} min",
        f"- Command: `{command}`", "", *holm_lines(per_seed, grid.reference),
        *paper_lines(grid, per_seed)])
    rows: dict[Hashable, Mapping[str, Sequence[float]]] = {k: v for k, v in per_seed.items()}
    paths = write_report(rows, out / "table", higher_is_better=METRICS,
                         reference=grid.reference or None, appendix=appendix,
                         title=grid.title,
                         extra={"runs": list(results)})
    write_curves(results, out)
    return paths["markdown"]


def write_curves(results: Sequence[Mapping], out: Path) -> None:
    """``curves.json`` (per run) and ``curves.png`` (mean validation accuracy per row)."""
    with needs("music"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

    rows: dict[str, list[list[tuple[int, float]]]] = {}
    for r in results:
        rows.setdefault(r["label"], []).append([tuple(p) for p in r["curve"]])
    atomic_write_text(out / "curves.json", json.dumps(rows))
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, curves in rows.items():
        n = min(len(c) for c in curves)
        if n == 0:
            continue
        steps = [c[0] for c in curves[0][:n]]
        mean = np.mean([[100 * a for _, a in c[:n]] for c in curves], axis=0)
        ax.plot(steps, mean, marker="o", label=f"{label} ({len(curves)} seeds)")
    floor = 100 * results[0]["evaluation"]["val"]["majority_floor"] if results else None
    if floor is not None:
        ax.axhline(floor, color="gray", linestyle="--", label="majority floor (val)")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation accuracy (%)")
    ax.legend(fontsize=7)
    fig.savefig(out / "curves.png", dpi=120, bbox_inches="tight")


def run_lra_grid(grid_path: str | Path, out: str | Path = "results/lra_listops_cpu",
                 overrides: Sequence[str] = (), seeds: Sequence[int] | None = None,
                 progress: bool = True, report_only: bool = False) -> Path:
    """Run (or resume) every method × seed of a grid; returns ``<out>/table.md``.

    The tables read every finished run of the grid's seeds under ``out`` (``seeds`` picks what
    this call trains), so grids of different seeds may run side by side into one folder;
    ``report_only`` trains nothing and rewrites the tables from the finished runs."""
    grid = load_config(LRAGrid, grid_path)
    root = Path(grid_path).parent  # ``base`` is relative to the grid file
    out = Path(out)
    to_train = list(seeds or grid.seeds)
    seeds = sorted(set(grid.seeds) | set(to_train))
    grid.seeds = seeds
    command = " ".join(["stripes lra grid", str(grid_path), "--out", str(out),
                        *[f"--set {shlex.quote(o)}" for o in overrides]])
    cfg = run_config(grid, grid.methods[0], seeds[0], overrides, root)
    gen = cfg.data.generate
    scale = (f"{cfg.data.task}, lengths {gen.min_length}-{gen.max_length} (exclusive), "
             f"{gen.train}/{gen.val}/{gen.test} examples; " if gen else f"{cfg.data.task}; ") + \
        (f"{cfg.classifier.model.n_layers} layers, d_model {cfg.classifier.model.d_model}, "
         f"{cfg.train.epochs} epochs of batch {cfg.train.batch_size}")
    result = out / "table.md"

    def after(_: list[dict]) -> None:
        write_tables(grid, finished_runs(grid, out, seeds), out, command, scale)

    if report_only:
        after([])
        return result
    run_grid(seed_major(grid.methods, to_train),
             lambda m, s: run_one(grid, m, s, out, overrides, root), after, clock=out,
             desc="LRA grid", progress=progress)
    return result
