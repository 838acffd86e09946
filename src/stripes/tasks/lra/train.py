"""Training an LRA classifier, resuming it, loading it back and scoring it.

- :func:`lra_loss`: cross-entropy of the class logits; in training mode it first counts the step
  for the FAVOR+ redraws (:meth:`~.model.LRAClassifier.redraw_if_due`).
- :func:`train_lra`: the run folder holds ``task.yaml`` (the resolved recipe, without run
  settings) beside the loop's ``config.yaml``, ``log.csv`` and ``checkpoints/``. Training again
  into a folder whose ``task.yaml`` equals the recipe resumes it from ``checkpoints/last.pt``
  (bit for bit on CPU, :mod:`stripes.training.loop`); another recipe there is refused.
- :func:`load_classifier`: the model from a checkpoint alone. :func:`evaluate_lra`: accuracy on
  the validation and test splits with a frozen PE code (``eval_seed``), of the final weights as
  LRA scores them, beside the majority-class floor (the training set's most frequent label), into
  ``evaluation.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import Tensor
from torch.utils.data import DataLoader

from stripes.config import ConfigError
from stripes.tasks.lra.config import LRAConfig, load_lra_config
from stripes.tasks.lra.data import LRASplit, collate_lra, load_split
from stripes.tasks.lra.model import ClassifierConfig, LRAClassifier
from stripes.training.checkpoint import (
    atomic_write,
    load_checkpoint,
    load_weights,
    to_plain,
    unwrap,
)
from stripes.training.config import check_device
from stripes.training.loop import train
from stripes.training.run_dir import claim_run_dir, prepare_run_dir


def class_logits(model: torch.nn.Module, batch: Mapping[str, Tensor],
                 code: list[Any] | None = None) -> Tensor:
    """``[B, n_classes]`` of a :func:`~.data.collate_lra` batch."""
    return model(batch["ids"], batch["mask"], batch.get("ids2"), batch.get("mask2"), code=code)


def lra_loss(model: torch.nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """Mean cross-entropy of the class logits (counting the step for FAVOR+ redraws)."""
    if model.training:
        classifier = unwrap(model)
        assert isinstance(classifier, LRAClassifier)
        classifier.redraw_if_due()
    return F.cross_entropy(class_logits(model, batch).float(), batch["labels"])


def train_lra(config: LRAConfig | str | Path, out_dir: str | Path | None = None,
              overrides: Sequence[str] = (), *, overwrite: bool = False,
              max_steps: int | None = None) -> Path:
    """Train (or resume) one LRA run; returns its folder (default ``config.run.out_dir``).

    ``max_steps`` ends this invocation after so many steps in all (resume later with more)."""
    cfg = config if isinstance(config, LRAConfig) else load_lra_config(config, overrides)
    out = Path(out_dir or cfg.run.out_dir)
    resume = _resumable(out, cfg) and not overwrite
    last = claim_run_dir(out, resume=resume, overwrite=overwrite)
    check_device(cfg.run.device)
    train_set = load_split(cfg, "train").head(cfg.data.train_examples)
    val_set = load_split(cfg, "val")
    run = replace(cfg.run, out_dir=str(out), resume_from=str(last) if last else None,
                  max_steps=max_steps or cfg.run.max_steps)
    cfg = replace(cfg, run=run)
    prepare_run_dir(out, overwrite=overwrite)
    torch.manual_seed(cfg.train.seed)  # the initial weights
    summary = train(LRAClassifier(cfg.classifier), lra_loss, train_set, val_set, cfg.train,
                    cfg.run, collate_lra, model_config=cfg.classifier, recipe=cfg.recipe())
    return Path(summary["run_dir"])


def _resumable(out: Path, cfg: LRAConfig) -> bool:
    """Whether ``out`` is a run of this very recipe with a checkpoint to continue."""
    saved = out / "task.yaml"
    if not (saved.is_file() and (out / "checkpoints" / "last.pt").is_file()):
        return False
    if yaml.safe_load(saved.read_text()) != to_plain(cfg.recipe()):
        raise ConfigError(f"{out}: holds a run of another recipe (its task.yaml differs); "
                          "choose another --out or pass --overwrite")
    return True


def load_run_config(run: str | Path, data_root: str | None = None) -> LRAConfig:
    """The recipe saved in a run folder (``task.yaml``) with the data locations the run was
    trained with (``run.data_root``, ``run.cache_dir`` of its ``config.yaml``); ``data_root``
    replaces the first."""
    run = Path(run)
    cfg = load_lra_config(run / "task.yaml")
    saved = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() \
        else {}
    settings = saved.get("run", {}) if isinstance(saved, dict) else {}
    return replace(cfg, run=replace(cfg.run, data_root=data_root or settings.get("data_root"),
                                    cache_dir=settings.get("cache_dir")))


def load_classifier(checkpoint: str | Path, device: str = "cpu",
                    config: ClassifierConfig | None = None) -> LRAClassifier:
    """The classifier of a checkpoint, in eval mode; ``config`` is needed for the kept
    weights-only checkpoints (``step_NNNNNN.pt``), the others hold it."""
    ckpt = load_checkpoint(checkpoint, map_location=device)
    if config is None:
        if "model" not in ckpt.get("config", {}):
            raise ValueError(f"{checkpoint}: holds no model config; pass the run's classifier "
                             "config")
        config = ClassifierConfig.from_dict(ckpt["config"]["model"])
    model = LRAClassifier(config)
    load_weights(model, ckpt["model"], checkpoint)
    return model.to(device).eval()


@torch.no_grad()
def accuracy(model: LRAClassifier, split: LRASplit, seed: int, batch_size: int = 32,
             device: str = "cpu") -> float:
    """Share of ``split`` classified right, with one frozen PE code drawn from ``seed``."""
    model.eval()
    code = model.encoder.draw_pe_code(model.config.model.max_len,
                                      torch.Generator().manual_seed(seed))
    right = 0
    for batch in DataLoader(split, batch_size=batch_size, collate_fn=collate_lra):
        batch = {k: v.to(device) for k, v in batch.items()}
        right += int((class_logits(model, batch, code).argmax(-1) == batch["labels"]).sum())
    return right / max(len(split), 1)


def evaluate_lra(run: str | Path, checkpoint: str = "last.pt", device: str = "cpu",
                 data_root: str | None = None, batch_size: int = 32) -> dict[str, Any]:
    """Accuracy of a run on ``val`` and ``test`` beside the majority-class floor; written to
    ``<run>/evaluation.json`` and returned. ``checkpoint``: a name in ``checkpoints/``; the
    default, the final weights, is what LRA's ``test_only`` scores (``best.pt``: the lowest
    validation loss)."""
    run = Path(run)
    cfg = load_run_config(run, data_root)
    path = run / "checkpoints" / checkpoint
    model = load_classifier(path, device)
    majority = load_split(cfg, "train").head(cfg.data.train_examples).majority_class()
    result: dict[str, Any] = {"checkpoint": path.name, "step": load_checkpoint(path)["step"],
                              "majority_class": majority, "eval_seed": cfg.eval_seed}
    for split in ("val", "test"):
        data = load_split(cfg, split)
        result[split] = {"accuracy": accuracy(model, data, cfg.eval_seed, batch_size, device),
                         "majority_floor": float((data.labels == majority).mean()),
                         "examples": len(data)}
    text = json.dumps(result, indent=1)
    atomic_write(run / "evaluation.json", lambda f: f.write(text.encode()))
    return result
