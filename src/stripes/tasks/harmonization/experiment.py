"""The experiment runner: a grid of harmonizers (PE × context × seeds), trained, scored, tabled.

``run_experiment("configs/experiments/<name>.yaml")`` trains and evaluates every (method, seed)
run that has no ``evaluation.json`` yet, so an interrupted experiment resumes where it stopped
(a run whose training was cut off resumes from its last checkpoint). It then writes, per test
length, a Markdown table in the papers' layout (mean ± std over seeds of the per-window means,
significance marks against the reference method) and its JSON, plus ``summary.md`` with the
command and wall time.

An experiment YAML::

    name: st_table3_reduced
    scale: "what was reduced, in words"
    base: {HarmonizationConfig fields}
    methods:                       # explicit rows ...
      - {pe: rope_pool, context: bin, pe_params: {...}}
    grid: {pe: [...], context: [...]}   # ... and/or a product of values (merged into base)
    seeds: [0, 1, 2]
    reference: {pe: rope, context: time}
"""

from __future__ import annotations

import itertools
import json
import shlex
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from stripes.config import ConfigError, closest, from_dict, load_config
from stripes.evaluation.report import write_report
from stripes.files import atomic_write_text
from stripes.tasks.harmonization.config import HarmonizationConfig
from stripes.tasks.harmonization.evaluate import evaluate_harmonizer
from stripes.tasks.harmonization.train import train_harmonizer
from stripes.training.checkpoint import atomic_write, write_config
from stripes.training.loop import check_device

METHOD_KEYS = ("pe", "context", "pe_params", "attention", "feature_map")


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

    def __post_init__(self):
        from_dict(HarmonizationConfig, self.base, "base")  # every key and type of the base
        for where, keys in [("grid", self.grid), *((f"methods[{i}]", m)
                                                    for i, m in enumerate(self.methods))]:
            for key in keys:
                if key not in METHOD_KEYS:
                    raise ConfigError(f"unknown key {where}.{key}{closest(key, METHOD_KEYS)}; "
                                      f"a method sets {', '.join(METHOD_KEYS)}")
        if not self.methods and not self.grid:
            raise ConfigError(f"experiment {self.name!r} defines no method (methods or grid)")
        for method in self.method_list():  # every run's config is valid before any trains
            try:
                self.run_config(method, self.seeds[0] if self.seeds else 0)
            except ConfigError as err:
                raise ConfigError(f"method {method_label(method)}: {err}") from None

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
        base = HarmonizationConfig(**self.base)
        model = dict(base.model)
        for key in ("pe", "pe_params", "attention", "feature_map"):
            if key in method:
                model[key] = method[key]
        return replace(
            base,
            context=method.get("context", base.context),
            model=model,
            train={**base.train, "seed": seed},
        )


def method_label(method: dict[str, Any]) -> str:
    """A readable, file-safe name such as ``rope_pool-bin``."""
    parts = [str(method.get("pe", "none")), str(method.get("context", "time"))]
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
        exp.base = {**exp.base, "train": {**exp.base.get("train", {}), "device": device}}
    out = Path(out_root) / exp.name
    out.mkdir(parents=True, exist_ok=True)
    write_config(asdict(exp), out / "experiment.yaml")
    runs = [(m, s) for m in exp.method_list() for s in exp.seeds]
    wall = _add_wall_time(out, 0.0)
    for method, seed in tqdm(runs, desc=exp.name, unit="run", disable=not progress):
        started = time.perf_counter()
        run_one(exp, method, seed, out / "runs" / method_label(method) / f"seed{seed}")
        wall = _add_wall_time(out, time.perf_counter() - started)  # kept if later cut off
    return write_tables(exp, out, wall, command=_command(path, out_root, device))


def run_one(exp: ExperimentConfig, method: dict, seed: int, run_dir: Path) -> dict:
    """Train (resuming a cut-off run) and evaluate one run; skip it when already evaluated."""
    done = run_dir / "evaluation.json"
    if done.exists():
        return json.loads(done.read_text())
    cfg = exp.run_config(method, seed)
    last = run_dir / "checkpoints" / "last.pt"
    if last.exists() and not (run_dir / "trained").exists():
        cfg = replace(cfg, train={**cfg.train, "resume_from": str(last)})
    if not (run_dir / "trained").exists():
        # a folder without last.pt holds nothing worth keeping (cut off before its first save)
        train_harmonizer(cfg, run_dir, progress=False, overwrite=not last.exists())
        (run_dir / "trained").write_text("ok\n")
    return evaluate_harmonizer(run_dir)


METRICS = ("CS", "SSMD", "GS", "NDD")


def collect_scores(exp: ExperimentConfig, out: Path) -> dict[str, dict]:
    """``{bars: {method_label: {metric: [per-seed mean over test windows]}}}``."""
    tables: dict[str, dict] = {}
    for method in exp.method_list():
        label = method_label(method)
        for seed in exp.seeds:
            path = out / "runs" / label / f"seed{seed}" / "evaluation.json"
            if not path.exists():
                continue
            for bars, res in json.loads(path.read_text())["test"].items():
                cell = tables.setdefault(bars, {}).setdefault(label, {})
                for metric, stats in res["summary"].items():
                    cell.setdefault(metric, []).append(stats["mean"])
    return tables


def write_tables(exp: ExperimentConfig, out: Path, wall_s: float, command: str) -> dict[str, Path]:
    """One table per test length, and ``summary.md`` linking them with command and wall time."""
    ref = method_label(exp.reference) if exp.reference else None
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
        "",
    ]
    for bars, per_seed in collect_scores(exp, out).items():
        reference = ref if ref in per_seed and len(exp.seeds) >= 2 else None
        title = f"{exp.name}: test windows of {bars} bars (mean ± std over seeds)"
        written = write_report(
            per_seed, out / f"table_{bars}bars", reference=reference, title=title
        )
        paths[bars] = written["markdown"]
        lines += [f"## {bars} bars", "", written["markdown"].read_text().split("\n", 2)[-1], ""]
        lines += floor_lines(exp, out, bars)
    atomic_write_text(out / "summary.md", "\n".join(lines))
    paths["summary"] = out / "summary.md"
    return paths


def floor_lines(exp: ExperimentConfig, out: Path, bars: str) -> list[str]:
    """The model rows' flavour and group, and the floors and rule baseline on the same test
    windows (every run of an experiment is scored on the same seeded windows), as Markdown."""
    for method in exp.method_list():
        for seed in exp.seeds:
            path = out / "runs" / method_label(method) / f"seed{seed}" / "evaluation.json"
            res = json.loads(path.read_text())["test"].get(bars) if path.exists() else None
            if res and "flavours" in res:
                floors = res["flavours"]["reference"]["floors"]
                head = "| floor, same windows | " + " | ".join(METRICS) + " |"
                rows = [f"| {name} | " + " | ".join(
                    f"{floors[name]['all'][m]['mean']:.2f}" for m in METRICS) + " |"
                    for name in ("empty", "copy", "rule")]
                return ["Flavour `reference`, all tracks (the rows above and the floors below; "
                        "accompaniment scores in each run's `evaluation.json`).", "", head,
                        "|---" * (len(METRICS) + 1) + "|", *rows, ""]
    return []


def _add_wall_time(out: Path, seconds: float) -> float:
    path = out / "wall_time.json"
    total = seconds + (json.loads(path.read_text())["seconds"] if path.exists() else 0.0)
    atomic_write(path, lambda f: f.write(json.dumps({"seconds": total}).encode()))
    return total


def _command(path: str | Path, out_root: str | Path, device: str | None = None) -> str:
    argv = ["stripes", "experiment", "run", str(path)]
    if str(out_root) != "results":
        argv += ["--out", str(out_root)]
    if device is not None:
        argv += ["--device", device]
    return " ".join(shlex.quote(a) for a in argv)
