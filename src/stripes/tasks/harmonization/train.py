"""Training a melody harmonizer ([S24], [FS], [ST]): melody + bridge pianoroll in, three tracks out.

``train_harmonizer(config, out_dir)`` trains a :class:`~stripes.models.StripesTransformer` on
windows of ``train_bars`` bars with BCE on the ``3 × 128`` outputs of every step
(:func:`harmonization_loss`); the resolved config is saved in the run folder (``task.yaml``) and
in every checkpoint, so :func:`load_harmonizer` needs nothing else. Scoring lives in
:mod:`stripes.tasks.harmonization.evaluate`.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from stripes.config import load_config
from stripes.models import StripesTransformer
from stripes.music.windows import collate_windows
from stripes.tasks.harmonization.config import HarmonizationConfig
from stripes.tasks.harmonization.data import model_inputs, training_windows
from stripes.training.checkpoint import load_checkpoint, load_weights, write_config
from stripes.training.config import check_device
from stripes.training.loop import train
from stripes.training.run_dir import claim_run_dir, prepare_run_dir


def harmonization_loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Binary cross-entropy of the ``[B, T, 384]`` logits on the real (unpadded) steps."""
    mask = batch["mask"]
    padding = None if bool(mask.all()) else ~mask
    logits, _ = model(model_inputs(batch), positions=batch.get("positions"),
                      key_padding_mask=padding)
    return F.binary_cross_entropy_with_logits(logits[mask], batch["targets"][mask])


def train_harmonizer(config: HarmonizationConfig, out_dir: str | Path, progress: bool = True,
                     *, resume: bool = False, overwrite: bool = False) -> dict:
    """Train one harmonizer; the run folder gets ``task.yaml`` (this config) and checkpoints.

    Everything is checked before the folder is touched (config, the prepared corpus, window
    counts, device); an existing non-empty folder is refused unless ``resume`` (from its
    ``checkpoints/last.pt``, with the same task config; also when ``train.resume_from`` is set)
    or ``overwrite``. The corpus must be prepared (``stripes data prepare NAME``).
    """
    out = Path(out_dir)
    # train.resume_from set by the caller (the experiment runner) names the checkpoint itself
    last = None if config.train.get("resume_from") else claim_run_dir(
        out, resume=resume, overwrite=overwrite)
    if last is not None:
        check_same_task(config, out)
        config = replace(config, train={**config.train, "resume_from": str(last)})
    train_ds, val_ds = training_windows(config)  # the prepared corpus, asked for by name
    tcfg = config.train_config(out)
    tcfg.progress = progress and tcfg.progress
    check_device(tcfg.device)
    prepare_run_dir(out, overwrite=overwrite)
    if not tcfg.resume_from:
        write_config(asdict(config), out / "task.yaml")
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


def check_same_task(config: HarmonizationConfig, run: Path) -> None:
    """ValueError when ``config`` differs from the run's ``task.yaml`` beyond how and how far it
    trains (device, max_steps, progress...): resuming must not mix two configs in one run."""
    saved = load_config(HarmonizationConfig, run / "task.yaml")
    free = {"device", "resume_from", "progress", "max_steps", "tensorboard", "num_workers"}
    mine, theirs = asdict(config), asdict(saved)
    for d in (mine, theirs):
        d["train"] = {k: v for k, v in d["train"].items() if k not in free}
    diff = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    if diff:
        raise ValueError(f"{run}: --resume with a config that differs from the run's task.yaml "
                         f"in {', '.join(diff)}")


def load_harmonizer(run_dir: str | Path) -> tuple[StripesTransformer, HarmonizationConfig]:
    """The model of a run folder (its last checkpoint) and the run's task config."""
    run = Path(run_dir)
    config = load_config(HarmonizationConfig, run / "task.yaml")
    path = run / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(path)
    model = StripesTransformer(config.model_config())
    load_weights(model, ckpt["model"], path)
    return model.eval(), config
