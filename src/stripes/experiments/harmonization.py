"""The harmonization experiments: a grid of harmonizers (PE × context × seeds), trained, scored,
tabled ([ST] Tables II-III, [FS] Table 1).

``run_experiment("configs/experiments/<name>.yaml")`` trains and evaluates every (method, seed)
run that has no ``evaluation.json`` yet, so an interrupted experiment resumes where it stopped
(a run whose training was cut off resumes from its last checkpoint). It then writes, per test
length, a Markdown table in the papers' layout (mean ± std over seeds of the per-window means,
significance marks against the reference method) followed by its "Statistics" section (best vs
next best per context and metric and over the whole table, Holm-corrected; over seeds, or over
the shared test windows of one seed, see :mod:`.significance`), and its JSON, plus ``summary.md``
with the command, wall time and, with ``context_order``, the context-order check.
``write_experiment_tables`` (``stripes experiment tables``) rewrites them from finished runs.

An experiment YAML::

    name: st_table3_reduced
    scale: "what was reduced, in words"
    base: {HarmonizationConfig fields}   # model: {pe: {kind, params}, attention: {...}}, ...
    methods:                       # explicit rows (pe, pe_params, attention, feature_map set
      - {pe: rope_pool, context: bin, pe_params: {...}}   # model.pe.kind/params, ...)
    grid: {pe: [...], context: [...]}   # ... and/or a product of values (merged into base)
    seeds: [0, 1, 2]
    reference: {pe: rope, context: time}
    shared_runs: st_table3_cpu     # optional: read and add runs in results/st_table3_cpu/runs
    context_order: [bin, key, rep, time]   # optional: test each PE's CS under adjacent contexts
                                   # (or chains: [[bin, key, rep, time], [rep_sorted, rep]])
    comparisons: [[rope_pool-bin-variantC, rope-bin-variantC]]  # optional: pairs tested on
                                   # every metric and length (.comparisons)

Runs go seed by seed (:mod:`.grid`), so a cut-off experiment leaves complete rows; the tables are
rewritten after every run. The corpus is prepared once before the first run (training only asks
for it). With ``shared_runs``, tables
that share rows (the best RoPE of [ST] Table II is a row of Table III) train them once; a shared
run whose saved task config differs from the one this experiment asks for is an error.
"""

from __future__ import annotations

import copy
import errno
import itertools
import json
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stripes.config import (
    ConfigError,
    check_plain_name,
    closest,
    from_dict,
    load_config,
    migrate,
    register_migration,
)
from stripes.evaluation.harmonization import HIGHER_IS_BETTER, METRICS
from stripes.evaluation.harmonization.baselines import BASELINES
from stripes.experiments.comparisons import comparison_rows, comparisons_markdown
from stripes.experiments.grid import (
    missing_lines,
    run_folder,
    run_grid,
    seed_major,
    wall_time,
)
from stripes.experiments.paper import check_paper, paper_lines
from stripes.experiments.significance import (
    MethodRuns,
    context_order_check,
    context_order_markdown,
    order_chains,
    run_scores,
    statistics_markdown,
    table_statistics,
)
from stripes.experiments.tables import write_report
from stripes.files import atomic_write_text
from stripes.tasks.harmonization.config import HarmonizationConfig
from stripes.tasks.harmonization.data import prepare_task_corpus
from stripes.tasks.harmonization.evaluate import evaluate_harmonizer
from stripes.tasks.harmonization.train import train_harmonizer
from stripes.training.checkpoint import write_config
from stripes.training.config import check_device

METHOD_KEYS = ("pe", "context", "pe_params", "attention", "feature_map")
#: Where a method's model keys live in the model config.
METHOD_MODEL_KEYS = {"pe": ("pe", "kind"), "pe_params": ("pe", "params"),
                     "attention": ("attention", "kind"),
                     "feature_map": ("attention", "feature_map")}


@dataclass
class ExperimentConfig:
    """A grid of harmonization runs (see the module docstring for the YAML form)."""

    name: str
    base: dict[str, Any] = field(default_factory=dict)
    methods: list[dict[str, Any]] = field(default_factory=list)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    reference: dict[str, Any] | None = None
    scale: str = ""
    description: str = ""
    shared_runs: str = ""
    paper: dict[str, Any] = field(default_factory=dict)
    context_order: list[str] | list[list[str]] = field(default_factory=list)
    comparisons: list[list[str]] = field(default_factory=list)

    def __post_init__(self):
        check_plain_name(self.name)  # the experiment's folder inside --out
        from_dict(HarmonizationConfig, self.base, "base")  # every key and type of the base
        for chain in self.order_chains:
            if len(set(chain)) != len(chain):
                raise ConfigError(f"context_order repeats a context: {chain}")
        try:
            check_paper(self.paper)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        for where, keys in [("grid", self.grid), *((f"methods[{i}]", m)
                                                    for i, m in enumerate(self.methods))]:
            for key in keys:
                if key not in METHOD_KEYS:
                    raise ConfigError(f"unknown key {where}.{key}{closest(key, METHOD_KEYS)}; "
                                      f"a method sets {', '.join(METHOD_KEYS)}")
        if not self.methods and not self.grid:
            raise ConfigError(f"experiment {self.name!r} defines no method (methods or grid)")
        for pair in self.comparisons:  # labels are checked when tabled: --set may cut methods
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ConfigError(f"comparisons: each entry is two different methods, got {pair}")
        for method in self.method_list():  # every run's config is valid before any trains
            try:
                self.run_config(method, self.seeds[0] if self.seeds else 0)
            except ConfigError as err:
                raise ConfigError(f"method {method_label(method)}: {err}") from None

    @property
    def order_chains(self) -> list[list[str]]:
        """``context_order`` as a list of chains (one chain, or several)."""
        return order_chains(self.context_order)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
        """A checked experiment from its YAML file, after ``section.key=value`` overrides."""
        return load_config(cls, path, overrides)

    def method_list(self) -> list[dict[str, Any]]:
        """Explicit methods, then the product of ``grid`` values (in YAML order)."""
        rows = [dict(m) for m in self.methods]
        keys = list(self.grid)
        if not keys:  # product() of nothing is one empty method: no grid, no extra run
            return rows
        for values in itertools.product(*(self.grid[k] for k in keys)):
            rows.append(dict(zip(keys, values, strict=True)))
        return rows

    def run_config(self, method: dict[str, Any], seed: int) -> HarmonizationConfig:
        """The :class:`HarmonizationConfig` of one (method, seed) run."""
        data = copy.deepcopy(migrate(HarmonizationConfig, self.base))
        model = data.setdefault("model", {})
        for key, (section, name) in METHOD_MODEL_KEYS.items():
            if key in method:
                model.setdefault(section, {})[name] = method[key]
        if "context" in method:
            data["context"] = method["context"]
        data.setdefault("train", {})["seed"] = seed
        return from_dict(HarmonizationConfig, data)


def migrate_experiment(data: dict[str, Any]) -> dict[str, Any]:
    """An experiment mapping whose ``base`` is of an older task shape, in the current one."""
    if isinstance(data.get("base"), dict):
        return {**data, "base": migrate(HarmonizationConfig, data["base"], "base")}
    return data


register_migration(ExperimentConfig, migrate_experiment)


def method_label(method: dict[str, Any], *, context: bool = True) -> str:
    """A readable, file-safe name such as ``rope_pool-bin`` (``rope_pool`` without context)."""
    parts = [str(method.get("pe", "none"))]
    if context:
        parts.append(str(method.get("context", "time")))
    for key in ("attention", "feature_map"):
        if key in method:
            parts.append(str(method[key]))
    if method.get("pe_params"):
        parts.append("-".join(f"{k}{v}" for k, v in sorted(method["pe_params"].items())))
    return "-".join(parts).replace("/", "_")


def run_experiment(
    path: str | Path,
    out_root: str | Path = "results",
    progress: bool = True,
    device: str | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Path]:
    """Run (or resume) every run of the experiment; write the tables; return their paths.

    ``device`` overrides the training device of every run (``cpu``, ``cuda``, ``auto``);
    ``overrides`` are ``section.key=value`` entries of the experiment YAML (``base.train.lr=3e-4``).
    """
    exp = ExperimentConfig.from_yaml(path, overrides)
    if device is not None:
        check_device(device)
        exp.base = {**exp.base, "run": {**exp.base.get("run", {}), "device": device}}
    out = Path(out_root) / exp.name
    out.mkdir(parents=True, exist_ok=True)
    write_config(asdict(exp), out / "experiment.yaml")
    first = exp.run_config(exp.method_list()[0], exp.seeds[0] if exp.seeds else 0)
    prepare_task_corpus(first, progress)  # the data step, once: every run shares the corpus
    command = _command(path, out_root, device)

    def tables_after(done: list[bool]) -> None:
        if done[-1]:  # a run was trained: its row changed
            write_tables(exp, out, wall_time(out), command=command)

    run_grid(seed_major(exp.method_list(), exp.seeds),
             lambda method, seed: run_one(exp, method, seed, run_path(exp, out, method, seed)),
             tables_after, clock=out, desc=exp.name, progress=progress)
    return write_tables(exp, out, wall_time(out), command=command)


def runs_home(exp: ExperimentConfig, out: Path) -> Path:
    """The experiment folder whose ``runs/`` hold the runs: ``out``, or the one named by
    ``shared_runs``."""
    return out.parent / exp.shared_runs if exp.shared_runs else out


def run_path(exp: ExperimentConfig, out: Path, method: dict, seed: int) -> Path:
    """The folder of one (method, seed) run."""
    return run_folder(runs_home(exp, out), method_label(method), seed)


def check_shared_run(cfg: HarmonizationConfig, run_dir: Path) -> None:
    """Refuse to reuse a run trained with another recipe (e.g. another experiment's base)."""
    saved_path = run_dir / "task.yaml"
    if not saved_path.exists():
        return
    saved, wanted = load_config(HarmonizationConfig, saved_path).recipe(), cfg.recipe()
    if saved != wanted:
        diff = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        raise ConfigError(f"{run_dir} was trained with another config (differs in {diff}); "
                          "give this experiment its own runs (drop shared_runs) or the same base")


def run_one(exp: ExperimentConfig, method: dict, seed: int, run_dir: Path) -> bool:
    """Train (resuming a cut-off run) and evaluate one run; False when it was already done."""
    cfg = exp.run_config(method, seed)
    check_shared_run(cfg, run_dir)
    if (run_dir / "evaluation.json").exists():
        return False
    last = run_dir / "checkpoints" / "last.pt"
    if last.exists() and not (run_dir / "trained").exists():
        cfg = replace(cfg, run=replace(cfg.run, resume_from=str(last)))
    if not (run_dir / "trained").exists():
        # a folder without last.pt holds nothing worth keeping (cut off before its first save)
        train_harmonizer(cfg, run_dir, progress=False, overwrite=not last.exists())
        (run_dir / "trained").write_text("ok\n")
    evaluate_harmonizer(run_dir, settings=cfg.run)
    return True


def collect_runs(exp: ExperimentConfig, out: Path) -> dict[str, dict[str, MethodRuns]]:
    """``{bars: {method_label: MethodRuns}}``: every finished run's means and per-window scores."""
    base_context = exp.base.get("context", "time")
    tables: dict[str, dict[str, MethodRuns]] = {}
    for method in exp.method_list():
        label = method_label(method)
        for seed in exp.seeds:
            path = run_path(exp, out, method, seed) / "evaluation.json"
            if not path.exists():
                continue
            for bars, res in json.loads(path.read_text())["test"].items():
                runs = tables.setdefault(bars, {}).setdefault(label, MethodRuns(
                    method.get("context", base_context), method_label(method, context=False), {}))
                runs.seeds[seed] = run_scores(res)
    return tables


def collect_scores(exp: ExperimentConfig, out: Path,
                   runs: dict[str, dict[str, MethodRuns]] | None = None) -> dict[str, dict]:
    """``{bars: {method_label: {metric: [per-seed mean over test windows]}}}`` (from ``runs``
    of :func:`collect_runs` when given)."""
    runs = collect_runs(exp, out) if runs is None else runs
    tables: dict[str, dict] = {}
    for bars, methods in runs.items():
        for label, method in methods.items():
            metrics = dict.fromkeys(m for seed in method.seeds.values() for m in seed.means)
            tables.setdefault(bars, {})[label] = {m: method.seed_means(m) for m in metrics}
    return tables


def write_tables(exp: ExperimentConfig, out: Path, wall_s: float, command: str) -> dict[str, Path]:
    """One table per test length with its statistics, and ``summary.md`` linking them with
    command, wall time and (with ``context_order``) the context-order check."""
    ref = method_label(exp.reference) if exp.reference else None
    runs = collect_runs(exp, out)
    paths = {}
    lines = [
        f"# {exp.name}",
        "",
        exp.description.strip(),
        "",
        f"- scale: {exp.scale}",
        f"- seeds: {exp.seeds}",
        f"- command: `{command}`",
        f"- wall time (all sessions of this experiment): {wall_s / 60:.1f} min",
        *missing_runs(exp, out),
        "",
    ]
    for bars, per_seed in collect_scores(exp, out, runs).items():
        reference = ref if ref in per_seed and len(exp.seeds) >= 2 else None
        title = f"{exp.name}: test windows of {bars} bars (mean ± std over seeds)"
        tests = table_statistics(runs[bars], HIGHER_IS_BETTER)
        written = write_report(
            per_seed, out / f"table_{bars}bars", higher_is_better=HIGHER_IS_BETTER,
            reference=reference, title=title,
            appendix=statistics_markdown(tests, HIGHER_IS_BETTER),
            extra={"statistics": {"family": "best vs next best per context and metric, and "
                                  "over all contexts; Holm over the distinct tests with a "
                                  "p-value (a repeated pair counts once)", "rows": tests}},
        )
        paths[bars] = written["markdown"]
        lines += [f"## {bars} bars", "", written["markdown"].read_text().split("\n", 2)[-1], ""]
        lines += floor_lines(exp, out, bars)
        lines += paper_lines(exp.paper, per_seed, bars, HIGHER_IS_BETTER)
    if exp.context_order:
        rows = context_order_check(runs, exp.order_chains)
        paths["context_order"] = out / "context_order.json"
        atomic_write_text(paths["context_order"], json.dumps(
            {"order": exp.order_chains, "metric": "CS", "rows": rows}, indent=2,
            ensure_ascii=False) + "\n")
        lines += [context_order_markdown(rows, exp.order_chains)]
    if exp.comparisons:
        labels = [method_label(m) for m in exp.method_list()]
        unknown = sorted({x for pair in exp.comparisons for x in pair if x not in labels})
        rows = comparison_rows(runs, exp.comparisons, HIGHER_IS_BETTER)
        paths["comparisons"] = out / "comparisons.json"
        atomic_write_text(paths["comparisons"], json.dumps(
            {"pairs": exp.comparisons, "rows": rows}, indent=2, ensure_ascii=False) + "\n")
        lines += [comparisons_markdown(rows, HIGHER_IS_BETTER)]
        lines += [f"Not tested, no such method in this experiment: {', '.join(unknown)} "
                  f"(a typo, or methods cut by --set).", ""] if unknown else []
    atomic_write_text(out / "summary.md", "\n".join(lines))
    paths["summary"] = out / "summary.md"
    return paths


def missing_runs(exp: ExperimentConfig, out: Path) -> list[str]:
    """``- PARTIAL: ...`` naming the (method, seed) runs without an evaluation yet, if any."""
    missing = [f"{method_label(m)} seed {s}" for s in exp.seeds for m in exp.method_list()
               if not (run_path(exp, out, m, s) / "evaluation.json").exists()]
    return missing_lines(missing, len(exp.seeds) * len(exp.method_list()))


def floor_lines(exp: ExperimentConfig, out: Path, bars: str) -> list[str]:
    """The model rows' flavour and group, and the floors, the rule baseline and the read-out
    floor (``BASELINES``, those the run scored) on the same test windows (every run of an
    experiment is scored on the same seeded windows), as Markdown."""
    for method in exp.method_list():
        for seed in exp.seeds:
            path = run_path(exp, out, method, seed) / "evaluation.json"
            res = json.loads(path.read_text())["test"].get(bars) if path.exists() else None
            if res and "flavours" in res:
                floors = res["flavours"]["reference"]["floors"]
                head = "| floor, same windows | " + " | ".join(METRICS) + " |"
                rows = [f"| {name} | " + " | ".join(
                    f"{floors[name]['all'][m]['mean']:.2f}" for m in METRICS) + " |"
                    for name in BASELINES if name in floors]
                return ["Flavour `reference`, all tracks (the rows above and the floors below; "
                        "accompaniment scores in each run's `evaluation.json`).", "", head,
                        "|---" * (len(METRICS) + 1) + "|", *rows, ""]
    return []


def write_experiment_tables(path: str | Path, out_root: str | Path = "results",
                            overrides: Sequence[str] = ()) -> dict[str, Path]:
    """Rewrite the tables and ``summary.md`` of an experiment from its finished runs, training
    nothing (missing runs are listed in the summary); return their paths as ``run_experiment``.
    """
    exp = ExperimentConfig.from_yaml(path, overrides)
    out = Path(out_root) / exp.name
    root = runs_home(exp, out) / "runs"
    if not root.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no runs folder", str(root))
    out.mkdir(parents=True, exist_ok=True)
    write_config(asdict(exp), out / "experiment.yaml")
    return write_tables(exp, out, wall_time(out), command=_command(path, out_root))


def _command(path: str | Path, out_root: str | Path, device: str | None = None) -> str:
    argv = ["stripes", "experiment", "run", str(path)]
    if str(out_root) != "results":
        argv += ["--out", str(out_root)]
    if device is not None:
        argv += ["--device", device]
    return " ".join(shlex.quote(a) for a in argv)
