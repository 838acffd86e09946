"""Scoring a trained harmonizer: the binarization chosen on validation windows, then CS, SSMD,
GS and NDD ([FS] Sec. IV-E, [ST] Sec. IV-F) on each test length."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from stripes.evaluation.harmonization import aggregate, evaluate_harmonization
from stripes.music.datasets import collate_windows
from stripes.tasks.harmonization.data import build_dataset, load_task_corpus
from stripes.tasks.harmonization.predict import (
    binarize,
    choose_binarization,
    predict_probabilities,
)
from stripes.tasks.harmonization.train import load_harmonizer


def _collect(model, dataset, batch_size: int = 8):
    """Probabilities and targets ``[T, 384]`` (numpy) of every window, with its song id."""
    probs, targets, songs = [], [], []
    longest = int(dataset.index[:, 2].max()) if len(dataset) else 1
    code = model.draw_pe_code(longest, None, torch.Generator().manual_seed(0))
    for i in range(0, len(dataset), batch_size):
        batch = collate_windows([dataset[j] for j in range(i, min(i + batch_size, len(dataset)))])
        p = predict_probabilities(model, batch["inputs"], batch.get("positions"), code=code)
        for b in range(p.shape[0]):
            n = int(batch["mask"][b].sum())
            probs.append(p[b, :n].numpy())
            targets.append(batch["targets"][b, :n].numpy())
            songs.append(int(batch["song"][b]))
    return probs, targets, songs


def frame_f1(pred: np.ndarray, target: np.ndarray) -> float:
    """Frame-level F1 of two binary pianorolls: the neutral criterion for the binarization."""
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    tp = float((pred & target).sum())
    return 2 * tp / max(float(pred.sum() + target.sum()), 1.0)


def evaluate_harmonizer(run_dir: str | Path, progress: bool = False) -> dict:
    """Choose the binarization on validation windows, then score each test length.

    Writes ``<run_dir>/evaluation.json`` and returns it: ``{"binarization": ..., "test":
    {bars: {"per_window": [...], "summary": {metric: {mean, std, n}}}}}``.
    """
    model, config = load_harmonizer(run_dir)
    corpus = load_task_corpus(config, progress)
    val = build_dataset(corpus, config, "val", config.train_bars, cap=config.max_eval_windows)
    vp, vt, _ = _collect(model, val)
    choice = choose_binarization(vp, vt, frame_f1, config.thresholds, config.merge_gaps)
    result = {"binarization": choice, "test": {}}
    for bars in config.test_bars:
        test = build_dataset(corpus, config, "test", bars, cap=config.max_eval_windows)
        tp, tt, songs = _collect(model, test)
        scores = []
        for p, t, song in zip(tp, tt, songs, strict=False):
            pred = binarize(p, choice["threshold"], choice["merge_gap"])
            pred, t = _select_tracks(pred, t, config.eval_tracks)
            scores.append({"song": song, **evaluate_harmonization(pred, t)})
        metrics = [{k: v for k, v in s.items() if k != "song"} for s in scores]
        result["test"][str(bars)] = {"per_window": scores, "summary": aggregate(metrics)}
    Path(run_dir, "evaluation.json").write_text(json.dumps(result, indent=1))
    return result


def _select_tracks(pred: np.ndarray, target: np.ndarray, which: str):
    if which == "all":
        return pred, target
    return pred[:, 128:], target[:, 128:]
