"""Learning curves of harmonization runs: validation loss and accompaniment CS per step.

A run trained with ``train.keep_every`` keeps its weights as ``checkpoints/step_NNNNNN.pt``;
``learning_curve(run_dir)`` scores each of them on the validation windows after the run (the
binarization chosen per checkpoint by the run's criterion, CS in the ``reference`` flavour on the
accompaniment), beside the validation loss of ``log.csv``; ``analysis.plots.plot_learning_curves``
draws several runs on one figure; ``stripes curves RUN... --out DIR`` writes both.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from stripes.analysis.plots import plot_learning_curves
from stripes.evaluation.binarization import binarize, choose_binarization
from stripes.evaluation.scoring import evaluate_windows
from stripes.tasks.harmonization.data import build_dataset, load_task_corpus
from stripes.tasks.harmonization.evaluate import collect_windows, criteria_for, task_layout
from stripes.tasks.harmonization.train import load_harmonizer
from stripes.training.checkpoint import atomic_write, load_checkpoint, load_weights


def validation_losses(run_dir: str | Path) -> dict[int, float]:
    """``{step: validation loss}`` from a run's ``log.csv``."""
    with (Path(run_dir) / "log.csv").open(newline="") as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f) if r["split"] == "val"}


def learning_curve(run_dir: str | Path) -> list[dict]:
    """One row per kept checkpoint: ``step``, ``val_loss``, ``threshold``, ``merge_gap`` and the
    validation ``cs_accompaniment`` / ``cs_all`` (reference flavour, mean over windows)."""
    run = Path(run_dir)
    steps = sorted(run.glob("checkpoints/step_*.pt"))
    if not steps:
        raise FileNotFoundError(f"{run}: no checkpoints/step_*.pt (train with keep_every > 0)")
    model, config = load_harmonizer(run)
    corpus = load_task_corpus(config)
    layout = task_layout(corpus)
    val = build_dataset(corpus, config, "val", config.train_bars, cap=config.max_eval_windows)
    losses = validation_losses(run)
    rows = []
    for path in steps:
        ckpt = load_checkpoint(path)
        load_weights(model, ckpt["model"], path)
        windows = collect_windows(model.eval(), val)
        probs, targets = [w["probs"] for w in windows], [w["targets"] for w in windows]
        choice = choose_binarization(probs, targets, config.binarization_criterion,
                                     thresholds=config.thresholds, merge_gaps=config.merge_gaps,
                                     criteria=criteria_for(layout))
        preds = [binarize(p, choice["threshold"], choice["merge_gap"]) for p in probs]
        summary = evaluate_windows(preds, targets, layout=layout, per_track=False)["summary"]
        rows.append({"step": int(ckpt["step"]), "val_loss": losses.get(int(ckpt["step"])),
                     "threshold": choice["threshold"], "merge_gap": choice["merge_gap"],
                     "cs_accompaniment": summary["accompaniment"]["CS"]["mean"],
                     "cs_all": summary["all"]["CS"]["mean"]})
    return rows


def validation_floors(run_dir: str | Path) -> dict[str, float]:
    """Accompaniment CS (reference) of the rule baseline and the empty floor on the run's
    validation windows, for the curves' dashed lines."""
    from stripes.evaluation.baselines import chords_of, score_baselines

    _, config = load_harmonizer(run_dir)
    corpus = load_task_corpus(config)
    val = build_dataset(corpus, config, "val", config.train_bars, cap=config.max_eval_windows)
    items = [val[i] for i in range(len(val))]
    chords = [chords_of(it["labels"]) for it in items]
    rows = score_baselines([it["inputs"].numpy() for it in items],
                           [it["targets"].numpy() for it in items], [r for r, _ in chords],
                           [c for _, c in chords], layout=task_layout(corpus))["rows"]
    return {f"{name} (validation)": rows[name]["accompaniment"]["CS"]["mean"]
            for name in ("rule", "empty")}


def write_curves(runs: list[str | Path], out_dir: str | Path,
                 floors: dict[str, float] | None = None) -> dict[str, Path]:
    """``curves.json`` and ``learning_curves.png`` of several runs under ``out_dir``."""
    out = Path(out_dir)
    curves = {Path(r).name: learning_curve(r) for r in runs}  # before anything is written
    floors = floors if floors is not None else validation_floors(runs[0])
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"runs": curves, "floors": floors}, indent=1) + "\n"
    atomic_write(out / "curves.json", lambda f: f.write(text.encode()))
    png = plot_learning_curves(curves, out / "learning_curves.png", floors)
    return {"json": out / "curves.json", "png": png}
