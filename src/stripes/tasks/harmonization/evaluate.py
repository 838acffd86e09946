"""Scoring a trained harmonizer the way the papers measure it (docs/metrics.md).

``evaluate_harmonizer(run_dir)`` predicts the validation and test windows of the run's prepared
corpus and hands them to :func:`stripes.evaluation.harmonization.score_harmonization`: the
binarization chosen on validation windows by the run's named criterion, then every test length
scored in each metric flavour (``reference``: the [S24] code's arithmetic; ``paper``: the
[ST]/[FS] text), for all tracks, the accompaniment alone and each track, beside the floors (empty
prediction, copy of the input) and the rule baseline (block chords from the given labels) on the
same windows, with the musical sanity figures of the model's and the rule's arrangements.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stripes.evaluation.harmonization import score_harmonization
from stripes.tasks.harmonization.data import evaluation_sets
from stripes.tasks.harmonization.predict import collect_windows
from stripes.tasks.harmonization.train import load_harmonizer
from stripes.training.checkpoint import atomic_write
from stripes.training.config import RunConfig


def evaluate_harmonizer(run_dir: str | Path, settings: RunConfig | None = None) -> dict:
    """Choose the binarization on validation windows, then score each test length (the corpus
    from the run settings ``settings``, default: the environment's; never the run folder's).

    Writes ``<run_dir>/evaluation.json`` and returns it: ``{"binarization": {criterion,
    threshold, merge_gap, score, grid}, "layout": {...}, "test": {bars: {"n", "songs",
    "flavours": {flavour: {"model": summary, "floors": {empty|copy|rule|readout: summary}}},
    "summary": reference all-tracks {metric: {mean, std, n}}, "per_window", "sanity":
    {model|rule: ...}, "warning": str | None}}}`` (see ``score_harmonization``).
    """
    model, config = load_harmonizer(run_dir, settings)
    sets = evaluation_sets(config)
    validation = collect_windows(model, sets.validation)
    # a generator: one test length's windows in memory at a time
    tests = ((bars, collect_windows(model, ds)) for bars, ds in sets.tests.items())
    result = score_harmonization(tests, sets.layout, validation=validation,
                                 criterion=config.binarization_criterion,
                                 **config.binarization_grid())
    text = json.dumps(result, indent=1, default=_plain)
    atomic_write(Path(run_dir, "evaluation.json"), lambda f: f.write(text.encode()))
    return result


def _plain(x):
    return x.item() if isinstance(x, np.generic) else str(x)
