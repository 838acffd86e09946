"""The language-model experiments: APE versus SPE ([SPE] Sec. 3.2, Table 6, Fig. 3).

:func:`run_lm_comparison` trains each configured model (once, or once per training seed),
evaluates it (:func:`stripes.tasks.lm.evaluate.evaluate_language_model`) and writes
``<out>/lm_<name>/`` with ``results.json``, ``results.md`` (loss within / beyond the training
length per run, [SPE] Table 6; probe and style columns), ``loss_by_position.png`` (every model,
[SPE] Fig. 3) and ``pe_metrics_by_position.png`` (the probe's errors per query-position window,
[SPE] App. C). With seeds it also writes ``table6.md`` / ``table6.json``
(:mod:`.lm_table`: mean ± std over seeds, the paper's numbers, the context-free floors of
:mod:`stripes.tasks.lm.floors`, its claims tested). Each run lives in
``<out>/lm_<name>/runs/<model name>/`` (``.../seed<k>/`` with seeds), run seed-major by
:func:`stripes.experiments.grid.run_grid`.

Resumable: a run whose evaluation exists and whose saved experiment equals the requested one is
read back, not retrained; an interrupted training continues from its ``checkpoints/last.pt``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from stripes.analysis.plots import plot_loss_by_position, plot_pe_metrics_by_position
from stripes.config import ConfigError
from stripes.experiments.grid import run_folder, run_grid, seed_major
from stripes.experiments.lm_table import claim_tests, losses_by_model, seed_table_markdown
from stripes.files import atomic_write_text
from stripes.tasks.lm.config import LMExperimentConfig, load_experiment, resolve_model_config
from stripes.tasks.lm.evaluate import (
    evaluate_language_model,
    loss_curve,
    pe_curves,
    write_lm_results,
)
from stripes.tasks.lm.floors import context_free_floors
from stripes.tasks.lm.train import train_language_model

#: Train fields that do not change what a run computes, set alike before matching a finished run
#: (the run settings, ``exp.run``, are never compared).
BOOKKEEPING: dict[str, Any] = {"log_every": 1}


def run_lm_comparison(config_paths: Sequence[str | Path], out_dir: str | Path = "results",
                      name: str = "comparison", overrides: Sequence[str] = (),
                      device: str = "cpu", style: bool = True,
                      seeds: Sequence[int] | None = None) -> Path:
    """Train and evaluate every config (per seed), then tabulate and plot them together.

    Args:
        config_paths: experiment YAML files (their ``name`` fields must differ).
        out_dir: the results root; output goes to ``<out_dir>/lm_<name>/``.
        overrides: ``section.key=value`` applied to every config (e.g. ``run.max_steps=50``).
        device: where evaluation runs (training follows each config's ``run.device``).
        style: sample continuations for the style metrics (the slowest part of evaluation).
        seeds: training seeds (``train.seed``) to run every config with, seed-major (all
            models at the first seed, then the next); None: each config's own seed, once.

    Returns:
        The ``lm_<name>`` folder.
    """
    root = Path(out_dir) / f"lm_{name}"
    exps = [load_experiment(p, overrides) for p in config_paths]
    names = [e.name for e in exps]
    if len(set(names)) != len(names):
        raise ConfigError(f"experiment names must differ, got {names}")
    if seeds is not None and len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must differ, got {list(seeds)}")
    same_data = all(e.data == exps[0].data for e in exps)
    floors = context_free_floors(exps[0].data) if seeds is not None and same_data else None

    def tables_after(results: list[dict]) -> None:  # partial tables after each run
        write_lm_results(results, root)
        if seeds is not None:
            write_seed_table(results, root, floors)

    seed_list: list[int | None] = [None] if seeds is None else list(seeds)
    runs = seed_major(exps, seed_list)
    results = run_grid(runs, lambda exp, seed: run_one(exp, root, seed, device, style),
                       tables_after)
    write_plots(results, root)
    return root


def run_one(exp: LMExperimentConfig, root: Path, seed: int | None, device: str,
            style: bool) -> dict:
    """One model at one seed: its evaluation read back when done, else trained (or resumed)
    and evaluated. The results carry ``seed`` (the training seed)."""
    run = run_folder(root, exp.name, seed)
    if seed is not None:
        exp = replace(exp, train=replace(exp.train, seed=seed))
    done = run / "eval" / "results.json"
    if done.is_file() and same_experiment(run / "experiment.yaml", exp):
        return json.loads(done.read_text())[0]
    resume = (run / "checkpoints" / "last.pt").is_file() and not done.is_file()
    trained = train_language_model(exp, out_dir=run, resume=resume)
    ckpt = trained / "checkpoints" / exp.eval.checkpoint
    result = {**evaluate_language_model(ckpt, trained / "eval", device=device, style=style),
              "seed": exp.train.seed}
    write_lm_results([result], trained / "eval")
    return result


def same_experiment(saved: Path, exp: LMExperimentConfig) -> bool:
    """Whether the run folder's ``experiment.yaml`` is ``exp`` (up to bookkeeping fields and
    the model fields training resolves), trained as far (``run.max_steps``). A folder with
    another experiment raises ConfigError: it would be silently mixed into the table otherwise."""
    if not saved.is_file():
        return False
    old = load_experiment(saved)
    same = (old.data == exp.data and old.eval == exp.eval
            and replace(old.train, **BOOKKEEPING) == replace(exp.train, **BOOKKEEPING)
            and old.run.max_steps == exp.run.max_steps  # a finished run's results stop there
            and old.model == resolve_model_config(exp, old.model.input_dim))
    if not same:
        raise ConfigError(f"{saved.parent}: holds a run of another experiment; move it away or "
                          "use another --name")
    return True


def write_seed_table(results: Sequence[dict], root: Path,
                     floors: dict[str, dict[str, float]] | None = None) -> Path:
    """``table6.json`` (per-seed losses, floors, the claims' tests) and ``table6.md``."""
    losses = losses_by_model(results)
    claims = claim_tests(losses)
    lengths = results[0]["train_length"], results[0]["eval_length"]
    text = seed_table_markdown(losses, claims, train_length=lengths[0], eval_length=lengths[1],
                               floors=floors)
    atomic_write_text(root / "table6.json", json.dumps(
        {"losses": losses, "floors": floors, "claims": claims}, indent=1))
    return atomic_write_text(root / "table6.md", text + "\n")


def write_plots(results: Sequence[dict], root: Path) -> None:
    """Loss and PE-error curves by position, one curve per model (averaged over its seeds)."""
    lengths = {r["train_length"] for r in results}
    train_length = lengths.pop() if len(lengths) == 1 else None
    by_name: dict[str, list[dict]] = {}
    for r in results:
        by_name.setdefault(r["name"], []).append(r)
    curves = {n: mean_curve([loss_curve(r) for r in rs]) for n, rs in by_name.items()}
    plot_loss_by_position(curves, root / "loss_by_position.png", train_length=train_length)
    pe = {n: c for n, rs in by_name.items() if (c := pe_curves(rs[0])) is not None}
    plot_pe_metrics_by_position(pe, root / "pe_metrics_by_position.png",
                                train_length=train_length)


def mean_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The pointwise mean of curves sharing their x (one model's seeds)."""
    x = curves[0][0]
    return x, np.mean([y for _, y in curves], axis=0)
