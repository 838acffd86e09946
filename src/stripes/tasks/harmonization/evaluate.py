"""Scoring a trained harmonizer the way the papers measure it (docs/metrics.md).

``evaluate_harmonizer(run_dir)`` picks the binarization on validation windows by the run's named
criterion, then scores every test length in each metric flavour (``reference``: the [S24] code's
arithmetic; ``paper``: the [ST]/[FS] text), for all tracks, the accompaniment alone and each
track, beside the floors (empty prediction, copy of the input) and the rule baseline (block
chords from the given labels) on the same windows, with the musical sanity figures of the
model's and the rule's arrangements.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from stripes.evaluation.baselines import baseline_predictions, chords_of
from stripes.evaluation.binarization import (
    BINARIZATION_CRITERIA,
    binarize,
    choose_binarization,
    frame_f1,
    on_accompaniment,
)
from stripes.evaluation.layout import TrackLayout, layout_from_slots
from stripes.evaluation.sanity import sanity_check, sanity_warning, summarize_sanity
from stripes.evaluation.scoring import evaluate_windows
from stripes.music.windows import collate_windows
from stripes.tasks.harmonization.data import build_dataset, load_task_corpus, model_inputs
from stripes.tasks.harmonization.predict import predict_probabilities
from stripes.tasks.harmonization.train import load_harmonizer
from stripes.training.checkpoint import atomic_write
from stripes.training.config import RunConfig

FLAVOURS = ("reference", "paper")
TRACK_NAMES = {"pop909": ("melody", "bridge", "piano"),
               "chorales": ("soprano", "alto_tenor", "bass")}


def task_layout(corpus) -> TrackLayout:
    """Which output slots are copied from the input and which the model must invent."""
    return layout_from_slots(corpus.slots, TRACK_NAMES.get(corpus.name))


def criteria_for(layout: TrackLayout) -> dict:
    """The binarization criteria, their ``_accompaniment`` forms on this task's layout."""
    table = dict(BINARIZATION_CRITERIA)
    for name in [n for n in table if n.endswith("_accompaniment")]:
        table[name] = on_accompaniment(BINARIZATION_CRITERIA[name.removesuffix(
            "_accompaniment")], layout)
    return table


def collect_windows(model, dataset, batch_size: int = 8, max_tokens: int = 8192) -> list[dict]:
    """Per window: ``probs``, ``targets`` ``[T, 384]``, ``inputs`` ``[T, 256]`` (numpy),
    ``root`` and ``chroma`` ``[T]`` (the given chords) and the ``song`` id.

    At most ``max_tokens`` = B·T per forward pass (64-bar windows go two at a time), so that a
    quadratic PE's ``[B, H, T, T]`` bias fits in memory at long test lengths."""
    out = []
    longest = int(dataset.index[:, 2].max()) if len(dataset) else 1
    batch_size = max(1, min(batch_size, max_tokens // longest))
    code = model.draw_pe_code(longest, None, torch.Generator().manual_seed(0))
    for i in range(0, len(dataset), batch_size):
        batch = collate_windows([dataset[j] for j in range(i, min(i + batch_size, len(dataset)))])
        p = predict_probabilities(model, model_inputs(batch), batch.get("positions"), code=code)
        for b in range(p.shape[0]):
            n = int(batch["mask"][b].sum())
            root, chroma = chords_of({k: v[b, :n] for k, v in batch["labels"].items()})
            out.append({"probs": p[b, :n].numpy(), "targets": batch["targets"][b, :n].numpy(),
                        "inputs": batch["inputs"][b, :n].numpy(), "root": root,
                        "chroma": chroma, "song": int(batch["song"][b])})
    return out


def choose_on_validation(model, corpus, config, layout: TrackLayout) -> dict:
    """The ``(threshold, merge_gap)`` maximising the run's criterion on validation windows."""
    val = build_dataset(corpus, config, "val", config.train_bars, cap=config.max_eval_windows)
    windows = collect_windows(model, val)
    return choose_binarization([w["probs"] for w in windows], [w["targets"] for w in windows],
                               config.binarization_criterion, thresholds=config.thresholds,
                               merge_gaps=config.merge_gaps, criteria=criteria_for(layout))


def score_windows(windows: list[dict], choice: dict, layout: TrackLayout) -> dict:
    """The model, the floors and the rule baseline on the same windows, in every flavour, and
    the sanity of the model's and the rule's arrangements."""
    preds = [binarize(w["probs"], choice["threshold"], choice["merge_gap"]) for w in windows]
    targets = [w["targets"] for w in windows]
    base = baseline_predictions([w["inputs"] for w in windows], [w["root"] for w in windows],
                                [w["chroma"] for w in windows], layout=layout)
    out: dict = {"n": len(windows), "songs": [w["song"] for w in windows], "flavours": {}}
    for flavour in FLAVOURS:
        model = evaluate_windows(preds, targets, flavour=flavour, layout=layout)
        floors = {name: evaluate_windows(p, targets, flavour=flavour, layout=layout)["summary"]
                  for name, p in base.items()}
        out["flavours"][flavour] = {"model": model["summary"], "floors": floors}
        if flavour == "reference":
            out["per_window"] = [{"song": w["song"], **{g: s[g] for g in ("all", "accompaniment")}}
                                 for w, s in zip(windows, model["per_window"], strict=True)]
    out["summary"] = {m: v for m, v in out["flavours"]["reference"]["model"]["all"].items()}
    out["sanity"] = {
        name: summarize_sanity([sanity_check(p, w["root"], w["chroma"], layout=layout)
                                for p, w in zip(rolls, windows, strict=True)])
        for name, rolls in (("model", preds), ("rule", base["rule"]))}
    out["warning"] = sanity_warning(out["sanity"]["model"], "the harmonizer")
    return out


def evaluate_harmonizer(run_dir: str | Path, progress: bool = False,
                        settings: RunConfig | None = None) -> dict:
    """Choose the binarization on validation windows, then score each test length (the corpus
    from the run settings ``settings``, default: the environment's; never the run folder's).

    Writes ``<run_dir>/evaluation.json`` and returns it: ``{"binarization": {criterion,
    threshold, merge_gap, score, grid}, "layout": {...}, "test": {bars: {"n", "songs",
    "flavours": {flavour: {"model": summary, "floors": {empty|copy|rule: summary}}},
    "summary": reference all-tracks {metric: {mean, std, n}}, "per_window", "sanity":
    {model|rule: ...}, "warning": str | None}}}`` (summaries as in ``evaluation.scoring``).
    """
    model, config = load_harmonizer(run_dir, settings)
    corpus = load_task_corpus(config, progress)
    layout = task_layout(corpus)
    choice = choose_on_validation(model, corpus, config, layout)
    result = {"binarization": choice, "layout": {"names": list(layout.names),
                                                 "accompaniment": list(layout.accompaniment)},
              "test": {}}
    for bars in config.test_bars:
        test = build_dataset(corpus, config, "test", bars, cap=config.max_eval_windows)
        result["test"][str(bars)] = score_windows(collect_windows(model, test), choice, layout)
    text = json.dumps(result, indent=1, default=_plain)
    atomic_write(Path(run_dir, "evaluation.json"), lambda f: f.write(text.encode()))
    return result


def _plain(x):
    return x.item() if isinstance(x, np.generic) else str(x)


__all__ = ["FLAVOURS", "collect_windows", "evaluate_harmonizer", "frame_f1", "score_windows",
           "task_layout"]
