"""Melody harmonization ([S24], [FS], [ST]): melody + bridge pianoroll in, three tracks out.

``train_harmonizer(config, out_dir)`` trains a :class:`~stripes.models.StripesTransformer` on
16-bar windows with BCE on the ``3 × 128`` outputs of every step, then
``evaluate_harmonizer(run_dir)`` picks the binarization on the validation set and scores the
test windows (16 and 64 bars on POP909, whole pieces on the chorales) with CS, SSMD, GS, NDD.
The resolved :class:`HarmonizationConfig` is saved in the run folder and every checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from stripes.evaluation.harmonization import aggregate, evaluate_harmonization
from stripes.models import ModelConfig, StripesTransformer
from stripes.music.structure import CONTEXT_DIMS
from stripes.tasks.harmonization.predict import binarize, choose_binarization, predict_probabilities
from stripes.training.loop import TrainConfig, train

DATASETS = ("chorales", "pop909")


@dataclass
class HarmonizationConfig:
    """One harmonization run: data, context, model and training (YAML-loadable).

    Attributes:
        data: ``"chorales"`` (offline default, music21) or ``"pop909"``.
        data_root: the POP909 data folder (holding ``pop909/``, ``pop909_structure/``,
            ``pop909_alignment/``); ``None`` uses ``$STRIPES_POP909_ROOT``.
        cache_dir: where prepared corpora live (``None``: ``$STRIPES_CACHE`` or ~/.cache).
        context: structure positions fed to the PE: ``time``, ``rep``, ``key``, ``bin``,
            ``melody``, ``chord``, ``phrase``, ``fs`` (MATH.md §3).
        train_bars: window length for training (16 in the papers; ``None``: whole pieces).
        test_bars: window lengths for testing (16 and 64 in the papers; ``None``: whole pieces).
        transpose: training augmentation range in semitones (``[-6, 6]``; ``None`` disables).
        max_train_windows / max_eval_windows: cap the windows used (reduced scales; ``None``:
            all). Capped subsets are the first windows in a seeded permutation.
        eval_tracks: ``"all"`` scores the three predicted tracks against the three target
            tracks (the papers' setting); ``"accompaniment"`` leaves the melody track out.
        model: :class:`~stripes.models.ModelConfig` fields (input/output sizes and
            ``position_dim`` are set from the task).
        train: :class:`~stripes.training.loop.TrainConfig` fields.
        thresholds, merge_gaps: the binarization grid searched on the validation set.
    """

    data: str = "chorales"
    data_root: str | None = None
    cache_dir: str | None = None
    context: str = "time"
    train_bars: int | None = 16
    test_bars: list[int | None] = field(default_factory=lambda: [16, 64])
    transpose: list[int] | None = field(default_factory=lambda: [-6, 6])
    max_train_windows: int | None = None
    max_eval_windows: int | None = None
    eval_tracks: str = "all"
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    thresholds: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5])
    merge_gaps: list[int] = field(default_factory=lambda: [0, 2, 4])

    def __post_init__(self):
        if self.data not in DATASETS:
            raise ValueError(f"data must be one of {DATASETS}, got {self.data!r}")
        if self.context not in CONTEXT_DIMS:
            raise ValueError(f"unknown context {self.context!r}; choose from {list(CONTEXT_DIMS)}")
        if self.eval_tracks not in ("all", "accompaniment"):
            raise ValueError(
                f"eval_tracks must be 'all' or 'accompaniment', got {self.eval_tracks!r}"
            )

    def model_config(self) -> ModelConfig:
        fixed = {
            "input_kind": "pianoroll",
            "input_dim": 256,
            "output_dim": 384,
            "position_dim": CONTEXT_DIMS[self.context],
        }
        return ModelConfig.from_dict({**self.model, **fixed})

    def train_config(self, out_dir: str | Path) -> TrainConfig:
        return TrainConfig(**{**self.train, "out_dir": str(out_dir)})

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> HarmonizationConfig:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls(**{**data, **overrides})


def load_task_corpus(config: HarmonizationConfig, progress: bool = False):
    """Load the corpus the config names, preparing it first when no cache exists yet.

    An existing cache is used as it is (whatever options built it, e.g. a subset for tests);
    ``stripes data prepare ... --force`` rebuilds one.
    """
    from stripes.music.datasets import (
        default_cache_dir,
        load_corpus,
        prepare_chorales,
        prepare_pop909,
    )

    out = (Path(config.cache_dir) if config.cache_dir else default_cache_dir()) / config.data
    if (out / "manifest.json").exists():
        return load_corpus(out)
    if config.data == "chorales":
        path = prepare_chorales(out, progress=progress)
    else:
        path = prepare_pop909(config.data_root, out, progress=progress, workers=2)
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
    from stripes.music.datasets import WindowDataset

    hop = None if bars is None or split == "train" else bars  # test windows do not overlap
    ds = WindowDataset(
        corpus,
        split,
        bars=bars,
        hop_bars=hop,
        context=config.context,
        transpose=tuple(config.transpose) if augment and config.transpose else None,
    )
    if cap is not None and len(ds) > cap:
        keep = np.random.default_rng(0).permutation(len(ds))[:cap]
        ds.index = ds.index[np.sort(keep)]
    return ds


def harmonization_loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Binary cross-entropy of the ``[B, T, 384]`` logits on the real (unpadded) steps."""
    mask = batch["mask"]
    padding = None if bool(mask.all()) else ~mask
    logits, _ = model(batch["inputs"], positions=batch.get("positions"), key_padding_mask=padding)
    return F.binary_cross_entropy_with_logits(logits[mask], batch["targets"][mask])


def train_harmonizer(
    config: HarmonizationConfig, out_dir: str | Path, progress: bool = True
) -> dict:
    """Train one harmonizer; the run folder gets ``task.yaml`` (this config) and checkpoints."""
    from stripes.music.datasets import collate_windows

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "task.yaml").write_text(yaml.safe_dump(asdict(config), sort_keys=False))
    corpus = load_task_corpus(config, progress)
    train_ds = build_dataset(
        corpus, config, "train", config.train_bars, augment=True, cap=config.max_train_windows
    )
    val_ds = build_dataset(corpus, config, "val", config.train_bars, cap=config.max_eval_windows)
    tcfg = config.train_config(out)
    tcfg.progress = progress and tcfg.progress
    torch.manual_seed(tcfg.seed)
    model = StripesTransformer(config.model_config())
    summary = train(
        model,
        harmonization_loss,
        train_ds,
        val_ds,
        tcfg,
        collate_windows,
        model_config={"model": config.model_config().to_dict(), "task": asdict(config)},
    )
    return {**summary, "parameters": model.num_parameters()}


def load_harmonizer(run_dir: str | Path) -> tuple[StripesTransformer, HarmonizationConfig]:
    """The model of a run folder (its last checkpoint) and the run's task config."""
    from stripes.training.checkpoint import load_checkpoint

    run = Path(run_dir)
    config = HarmonizationConfig(**yaml.safe_load((run / "task.yaml").read_text()))
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    model = StripesTransformer(config.model_config())
    model.load_state_dict(ckpt["model"])
    return model.eval(), config


def _collect(model, dataset, batch_size: int = 8):
    """Probabilities and targets ``[T, 384]`` (numpy) of every window, with its song id."""
    from stripes.music.datasets import collate_windows

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
