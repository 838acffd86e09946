"""Training a melody harmonizer ([S24], [FS], [ST]): melody + bridge pianoroll in, three tracks out.

``train_harmonizer(config, out_dir)`` trains a :class:`~stripes.models.StripesTransformer` on
windows of ``train_bars`` bars with BCE on the ``3 × 128`` frame outputs of every step, and on
as many onset outputs for an onset harmonizer (:func:`harmonization_loss`); the recipe is saved in the run folder (``task.yaml``) and in every
checkpoint (with the run settings), so :func:`load_harmonizer` needs nothing else. Scoring lives in
:mod:`stripes.tasks.harmonization.evaluate`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from stripes.config import load_config
from stripes.models import StripesTransformer, build_model
from stripes.music.windows import collate_windows
from stripes.tasks.harmonization.config import HarmonizationConfig
from stripes.tasks.harmonization.data import model_inputs, training_windows
from stripes.training.checkpoint import load_checkpoint, load_weights, write_config
from stripes.training.config import RunConfig, check_device
from stripes.training.loop import train
from stripes.training.run_dir import claim_run_dir, hold_run_dir, prepare_run_dir


def harmonization_loss(model: torch.nn.Module, batch: dict,
                       onset_weight: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy of the logits on the real (unpadded) steps: ``[B, T, 384]`` frame
    logits against ``targets``, or ``[B, T, 768]`` frame | onset logits against ``targets`` |
    ``onsets`` (the two BCEs summed, as Onsets and Frames does; a strike weighs
    ``onset_weight``)."""
    mask = batch["mask"]
    padding = None if bool(mask.all()) else ~mask
    logits, _ = model(model_inputs(batch), positions=batch.get("positions"),
                      key_padding_mask=padding)
    targets = batch["targets"]
    if logits.shape[-1] == 2 * targets.shape[-1]:  # an onsets_frames harmonizer
        frames, onsets = logits.split(targets.shape[-1], dim=-1)
        return (F.binary_cross_entropy_with_logits(frames[mask], targets[mask])
                + F.binary_cross_entropy_with_logits(
                    onsets[mask], batch["onsets"][mask],
                    pos_weight=onsets.new_tensor(onset_weight)))
    return F.binary_cross_entropy_with_logits(logits[mask], targets[mask])


def train_harmonizer(config: HarmonizationConfig, out_dir: str | Path, progress: bool = True,
                     *, resume: bool = False, overwrite: bool = False) -> dict:
    """Train one harmonizer into ``out_dir``; the run folder gets ``task.yaml`` (the recipe:
    the config less its ``run`` settings) and checkpoints. Bars are shown when ``progress`` and
    ``config.run.progress`` both ask for them.

    Everything is checked before the folder is touched (config, the prepared corpus, window
    counts, device); an existing non-empty folder is refused unless ``resume`` (from its
    ``checkpoints/last.pt``, with the same recipe; also when ``run.resume_from`` is set) or
    ``overwrite``. The corpus must be prepared (``stripes data prepare NAME``).
    """
    out = Path(out_dir)
    run = replace(config.run, out_dir=str(out), progress=progress and config.run.progress)
    # run.resume_from set by the caller (the experiment runner) names the checkpoint itself
    last = None if run.resume_from else claim_run_dir(out, resume=resume, overwrite=overwrite)
    if last is not None:
        check_same_task(config, out)
        run = replace(run, resume_from=str(last))
    config = replace(config, run=run)
    train_ds, val_ds = training_windows(config)  # the prepared corpus, asked for by name
    check_device(run.device)
    torch.manual_seed(config.train.seed)
    model = build_model(config.model)  # before the folder: a model it cannot build writes none
    with hold_run_dir(out, fresh=not (run.resume_from or overwrite)):
        prepare_run_dir(out, overwrite=overwrite)
        if not run.resume_from:
            write_config(config.recipe(), out / "task.yaml")
        summary = train(
            model,
            harmonization_loss if config.output == "frames"
            else partial(harmonization_loss, onset_weight=config.onset_weight),
            train_ds,
            val_ds,
            config.train,
            run,
            collate_windows,
            model_config={"model": config.model.to_dict(), "task": config.recipe()},
        )
    return {**summary, "parameters": model.num_parameters()}


def check_same_task(config: HarmonizationConfig, run: Path) -> None:
    """ValueError when the recipe of ``config`` differs from the run's ``task.yaml`` (its run
    settings, such as device or max_steps, may differ): resuming must not mix two recipes in one
    run."""
    saved = load_config(HarmonizationConfig, run / "task.yaml")
    mine, theirs = config.recipe(), saved.recipe()
    diff = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    if diff:
        raise ValueError(f"{run}: --resume with a config that differs from the run's task.yaml "
                         f"in {', '.join(diff)}")


def load_harmonizer(run_dir: str | Path, settings: RunConfig | None = None,
                    checkpoint: str | Path | None = None
                    ) -> tuple[StripesTransformer, HarmonizationConfig]:
    """The model of a run folder (``checkpoint``, a file of the run, default its last one) and
    the run's task config, whose run settings are ``settings`` (default: ``RunConfig()``, the
    environment's data and cache): never those the folder was trained with, so that a run
    folder cannot redirect where a corpus is read or written."""
    run = Path(run_dir)
    config = load_config(HarmonizationConfig, run / "task.yaml")
    config = replace(config, run=settings or RunConfig(out_dir=str(run)))
    path = Path(checkpoint) if checkpoint is not None else run / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(path)
    model = StripesTransformer(config.model)
    load_weights(model, ckpt["model"], path)
    return model.eval(), config
