"""Training a melody harmonizer ([S24], [FS], [ST]): melody + bridge pianoroll in, three tracks out.

``train_harmonizer(config, out_dir)`` trains a :class:`~stripes.models.StripesTransformer` on
windows of ``train_bars`` bars with BCE on the ``3 × 128`` outputs of every step
(:func:`harmonization_loss`); the resolved config is saved in the run folder (``task.yaml``) and
in every checkpoint, so :func:`load_harmonizer` needs nothing else. Scoring lives in
:mod:`stripes.tasks.harmonization.evaluate`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from stripes.config import load_config
from stripes.models import StripesTransformer
from stripes.music.datasets import collate_windows
from stripes.tasks.harmonization.config import HarmonizationConfig
from stripes.tasks.harmonization.data import build_dataset, load_task_corpus, model_inputs
from stripes.training.checkpoint import load_checkpoint
from stripes.training.loop import train


def harmonization_loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Binary cross-entropy of the ``[B, T, 384]`` logits on the real (unpadded) steps."""
    mask = batch["mask"]
    padding = None if bool(mask.all()) else ~mask
    logits, _ = model(model_inputs(batch), positions=batch.get("positions"),
                      key_padding_mask=padding)
    return F.binary_cross_entropy_with_logits(logits[mask], batch["targets"][mask])


def train_harmonizer(
    config: HarmonizationConfig, out_dir: str | Path, progress: bool = True
) -> dict:
    """Train one harmonizer; the run folder gets ``task.yaml`` (this config) and checkpoints."""
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
    run = Path(run_dir)
    config = load_config(HarmonizationConfig, run / "task.yaml")
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    model = StripesTransformer(config.model_config())
    model.load_state_dict(ckpt["model"])
    return model.eval(), config
