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
from stripes.evaluation.harmonization.baselines import score_baselines, window_arrays
from stripes.evaluation.harmonization.binarization import (
    choose_binarization,
    criteria_for,
    decode_window,
)
from stripes.evaluation.harmonization.scoring import evaluate_windows
from stripes.tasks.harmonization.data import task_corpus, task_layout, validation_windows
from stripes.tasks.harmonization.predict import collect_windows
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
    corpus = task_corpus(config)
    layout = task_layout(corpus)
    val = validation_windows(corpus, config)
    losses = validation_losses(run)
    rows = []
    for path in steps:
        ckpt = load_checkpoint(path)
        load_weights(model, ckpt["model"], path)
        windows = collect_windows(model.eval(), val)
        targets = [w["targets"] for w in windows]
        choice = choose_binarization(windows, config.binarization_criterion,
                                     voices=layout.voices,
                                     figure_slots=layout.free_accompaniment,
                                     criteria=criteria_for(layout),
                                     **config.binarization_grid())
        preds = [decode_window(w, choice).frames for w in windows]
        summary = evaluate_windows(preds, targets, layout=layout, per_track=False)["summary"]
        rows.append({"step": int(ckpt["step"]), "val_loss": losses.get(int(ckpt["step"])),
                     "threshold": choice["threshold"], "merge_gap": choice["merge_gap"],
                     "cs_accompaniment": summary["accompaniment"]["CS"]["mean"],
                     "cs_all": summary["all"]["CS"]["mean"]})
    return rows


def validation_floors(run_dir: str | Path) -> dict[str, float]:
    """Accompaniment CS (reference) of the rule baseline, the read-out floor and the empty floor
    on the run's validation windows, for the curves' dashed lines."""
    _, config = load_harmonizer(run_dir)
    corpus = task_corpus(config)
    val = validation_windows(corpus, config)
    inputs, targets, roots, chromas = window_arrays([val[i] for i in range(len(val))])
    rows = score_baselines(inputs, targets, roots, chromas, layout=task_layout(corpus))["rows"]
    return {f"{name} (validation)": rows[name]["accompaniment"]["CS"]["mean"]
            for name in ("rule", "readout", "empty")}


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
