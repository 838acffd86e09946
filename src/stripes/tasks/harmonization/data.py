"""The windows a harmonizer trains and is tested on: the task's corpus (prepared on first use)
and seeded subsets of its splits."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from stripes.music.datasets import (
    default_cache_dir,
    load_corpus,
    prepare_chorales,
    prepare_pop909,
)
from stripes.music.pop909 import resolve_root
from stripes.music.windows import WindowDataset
from stripes.tasks.harmonization.config import HarmonizationConfig

log = logging.getLogger(__name__)


def load_task_corpus(config: HarmonizationConfig, progress: bool = False):
    """Load the corpus the config names, from the cache of its run settings
    (``config.run.cache_dir``), preparing it first when no cache exists yet.

    An existing cache is used as it is (whatever options built it, e.g. a subset for tests);
    ``stripes data prepare ... --force`` rebuilds one.
    """
    run = config.run
    out = (Path(run.cache_dir) if run.cache_dir else default_cache_dir()) / config.data
    if (out / "manifest.json").exists():
        return load_corpus(out)
    if config.data == "pop909":
        resolve_root(run.data_root)  # no POP909 data: say so before parsing anything
    log.warning("no %s cache at %s: preparing it once (`stripes data prepare %s`)", config.data,
                out, config.data)
    progress = True
    if config.data == "chorales":
        path = prepare_chorales(out, progress=progress)
    else:
        path = prepare_pop909(run.data_root, out, progress=progress, workers=2)
    return load_corpus(path)


def build_dataset(
    corpus,
    config: HarmonizationConfig,
    split: str,
    bars: int | None,
    augment: bool = False,
    cap: int | None = None,
):
    """Windows of one split; a seeded subset of ``cap`` windows when capped."""
    hop = None if bars is None or split == "train" else bars  # test windows do not overlap
    ds = WindowDataset(
        corpus,
        split,
        bars=bars,
        hop_bars=hop,
        context=config.context,
        transpose=(config.transpose[0], config.transpose[1]) if augment and config.transpose
        else None,
        features=tuple(config.input_features),
    )
    if cap is not None and len(ds) > cap:
        keep = np.random.default_rng(0).permutation(len(ds))[:cap]
        ds.index = ds.index[np.sort(keep)]
    return ds


def model_inputs(batch: dict) -> torch.Tensor:
    """What the model reads: ``inputs [B, T, 256]``, with ``features [B, T, F]`` appended when
    the task reads structure as input (``HarmonizationConfig.input_features``)."""
    if "features" not in batch:
        return batch["inputs"]
    return torch.cat([batch["inputs"], batch["features"].to(batch["inputs"].dtype)], dim=-1)
