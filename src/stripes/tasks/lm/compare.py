"""The APE-versus-SPE comparison of language models ([SPE] Sec. 3.2, Table 6, Fig. 3).

:func:`run_lm_comparison` trains each configured model, evaluates it
(:func:`stripes.tasks.lm.evaluate.evaluate_language_model`) and writes ``<out>/lm_<name>/`` with
``results.json``, ``results.md`` (loss within / beyond the training length per model, [SPE]
Table 6; probe and style columns), ``loss_by_position.png`` (every model, [SPE] Fig. 3) and
``pe_metrics_by_position.png`` (the probe's errors per query-position window, [SPE] App. C).
Each run lives in ``<out>/lm_<name>/runs/<model name>/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stripes.analysis.plots import plot_loss_by_position, plot_pe_metrics_by_position
from stripes.config import ConfigError
from stripes.tasks.lm.config import load_experiment
from stripes.tasks.lm.evaluate import evaluate_language_model
from stripes.tasks.lm.report import loss_curve, pe_curves, write_results
from stripes.tasks.lm.train import train_language_model


def run_lm_comparison(config_paths: Sequence[str | Path], out_dir: str | Path = "results",
                      name: str = "comparison", overrides: Sequence[str] = (),
                      device: str = "cpu", style: bool = True) -> Path:
    """Train and evaluate every config, then tabulate and plot them together.

    Args:
        config_paths: experiment YAML files (their ``name`` fields must differ).
        out_dir: the results root; output goes to ``<out_dir>/lm_<name>/``.
        overrides: ``section.key=value`` applied to every config (e.g. ``train.max_steps=50``).
        device: where evaluation runs (training follows each config's ``train.device``).

    Returns:
        The ``lm_<name>`` folder.
    """
    root = Path(out_dir) / f"lm_{name}"
    exps = [load_experiment(p, overrides) for p in config_paths]
    names = [e.name for e in exps]
    if len(set(names)) != len(names):
        raise ConfigError(f"experiment names must differ, got {names}")
    results = []
    for exp in exps:
        run = train_language_model(exp, out_dir=root / "runs" / exp.name)
        ckpt = run / "checkpoints" / exp.eval.checkpoint
        results.append(evaluate_language_model(ckpt, run / "eval", device=device, style=style))
        write_results(results, root)  # partial table after each model
    lengths = {r["train_length"] for r in results}
    curves = {r["name"]: loss_curve(r) for r in results}
    train_length = lengths.pop() if len(lengths) == 1 else None
    plot_loss_by_position(curves, root / "loss_by_position.png", train_length=train_length)
    plot_pe_metrics_by_position({r["name"]: pe_curves(r) for r in results},
                                root / "pe_metrics_by_position.png", train_length=train_length)
    return root
