"""The windows a harmonizer trains and is tested on: the task's prepared corpus and seeded
subsets of its splits.

Preparing a corpus is a step of its own (``stripes data prepare NAME``, or
:func:`prepare_task_corpus` from Python); training and evaluation ask for the prepared corpus by
name (:func:`prepared_corpus`) and say how to prepare it when it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stripes.evaluation.harmonization import TrackLayout, layout_from_slots
from stripes.evaluation.harmonization.layout import KNOWN_LAYOUTS
from stripes.music.corpus import Corpus
from stripes.music.datasets import (
    default_cache_dir,
    load_corpus,
    prepare_chorales,
    prepare_pop909,
)
from stripes.music.windows import WindowDataset
from stripes.tasks.harmonization.config import HarmonizationConfig


def corpus_folder(name: str, cache_dir: str | Path | None = None) -> Path:
    """Where the prepared corpus ``name`` lives: ``<cache_dir or the cache>/<name>``."""
    return (Path(cache_dir) if cache_dir else default_cache_dir()) / name


def prepared_corpus(name: str, cache_dir: str | Path | None = None) -> Corpus:
    """The prepared corpus ``name`` (``pop909``, ``chorales``) from ``cache_dir`` (default: the
    cache); FileNotFoundError naming the command that prepares it when there is none.

    An existing cache is used as it is (whatever options built it, e.g. a subset for tests);
    ``stripes data prepare NAME --force`` rebuilds one.
    """
    folder = corpus_folder(name, cache_dir)
    if not (folder / "manifest.json").is_file():
        out = f" --out {folder}" if cache_dir else ""
        raise FileNotFoundError(f"no prepared {name} corpus at {folder}: run "
                                f"`stripes data prepare {name}{out}` first")
    return load_corpus(folder)


def prepare_task_corpus(config: HarmonizationConfig, progress: bool = True) -> Path:
    """Prepare the config's corpus into its cache unless it is there (what ``stripes data
    prepare`` does, with the run settings' ``data_root`` and ``cache_dir``); returns the folder.

    The explicit step for callers that want a fresh machine to work (the demo, the experiment
    runner); training never prepares.
    """
    folder = corpus_folder(config.data, config.run.cache_dir)
    if (folder / "manifest.json").is_file():
        return folder
    if config.data == "chorales":
        return Path(prepare_chorales(folder, progress=progress))
    return Path(prepare_pop909(config.run.data_root, folder, progress=progress, workers=2))


def task_corpus(config: HarmonizationConfig) -> Corpus:
    """The prepared corpus the config names (:func:`prepared_corpus`)."""
    return prepared_corpus(config.data, config.run.cache_dir)


def task_layout(corpus: Corpus) -> TrackLayout:
    """Which output slots are copied from the input and which the model must invent."""
    known = KNOWN_LAYOUTS.get(corpus.name)
    return layout_from_slots(corpus.slots, known.names if known else None,
                             known.voices if known else ())


def window_options(config: HarmonizationConfig, split: str, bars: int | None,
                   augment: bool = False, cap: int | None = None) -> dict[str, Any]:
    """The :class:`WindowDataset` keywords of one split's windows of ``bars`` bars (None: whole
    pieces): test and validation windows do not overlap, training windows are transposed when
    ``augment`` and the config says so; a seeded subset of ``cap`` windows when capped."""
    return {"split": split, "bars": bars,
            "hop_bars": None if bars is None or split == "train" else bars,
            "context": config.context,
            "transpose": (config.transpose[0], config.transpose[1])
            if augment and config.transpose else None,
            "features": tuple(config.input_features), "cap": cap}


def validation_options(config: HarmonizationConfig) -> dict[str, Any]:
    """The validation windows of ``train_bars`` bars (at most ``max_eval_windows``): where the
    training loop validates and the binarization is chosen."""
    return window_options(config, "val", config.train_bars, cap=config.max_eval_windows)


def build_dataset(
    corpus: Corpus,
    config: HarmonizationConfig,
    split: str,
    bars: int | None,
    augment: bool = False,
    cap: int | None = None,
) -> WindowDataset:
    """Windows of one split of a loaded corpus (:func:`window_options`)."""
    return WindowDataset(corpus, **window_options(config, split, bars, augment, cap))


def validation_windows(corpus: Corpus, config: HarmonizationConfig) -> WindowDataset:
    """The validation windows of a loaded corpus (:func:`validation_options`)."""
    return WindowDataset(corpus, **validation_options(config))


def training_windows(config: HarmonizationConfig) -> tuple[WindowDataset, WindowDataset]:
    """``(train, val)`` windows of ``train_bars`` bars (train transposed when the config says
    so); ValueError when a split has none (every piece shorter).

    The windows are named first, then the corpus is loaded once and cut into both sets."""
    wanted = {"train": window_options(config, "train", config.train_bars, augment=True,
                                      cap=config.max_train_windows),
              "val": validation_options(config)}
    corpus = task_corpus(config)
    sets = {split: WindowDataset(corpus, **options) for split, options in wanted.items()}
    for split, ds in sets.items():
        if len(ds) == 0:
            raise ValueError(f"no {split} window of train_bars={config.train_bars} bars in the "
                             f"{config.data} corpus (every piece is shorter); lower train_bars")
    return sets["train"], sets["val"]


@dataclass
class EvaluationSets:
    """What a harmonizer is scored on: the corpus's slot ``layout``, the ``validation`` windows
    (to choose the binarization on) and the ``tests`` windows of every test length (keys
    ``str(bars)``, ``"None"`` for whole pieces)."""

    layout: TrackLayout
    validation: WindowDataset
    tests: dict[str, WindowDataset]


def evaluation_sets(config: HarmonizationConfig) -> EvaluationSets:
    """The :class:`EvaluationSets` of the config's prepared corpus (test windows capped at
    ``max_eval_windows``, the same seeded subset for every run)."""
    wanted = {"validation": validation_options(config)}  # no test length is named so
    wanted.update({str(bars): window_options(config, "test", bars, cap=config.max_eval_windows)
                   for bars in config.test_bars})
    corpus = task_corpus(config)
    tests = {name: WindowDataset(corpus, **options) for name, options in wanted.items()}
    validation = tests.pop("validation")
    return EvaluationSets(task_layout(corpus), validation, tests)


def model_inputs(batch: dict) -> torch.Tensor:
    """What the model reads: ``inputs [B, T, 256]``, with ``features [B, T, F]`` appended when
    the task reads structure as input (``HarmonizationConfig.input_features``)."""
    if "features" not in batch:
        return batch["inputs"]
    return torch.cat([batch["inputs"], batch["features"].to(batch["inputs"].dtype)], dim=-1)
