"""Training a trio model for groove continuation ([SPE] App. C.2) and loading it back.

:func:`train_groove` reads the pieces of the recipe's source (:func:`load_groove_pieces`),
trains on :class:`~stripes.tasks.groove.dataset.TrioCropDataset` crops (the augmentation redrawn
every epoch: the loop calls the dataset's ``set_epoch``) with the next-token loss of the token
LM (:func:`stripes.training.tokens.lm_loss`, padding ignored) and scores plain validation crops.
The run folder holds ``task.yaml`` (the recipe, without run settings) beside the loop's
``config.yaml``, ``log.csv`` and ``checkpoints/``; training again into a folder whose
``task.yaml`` equals the recipe resumes it from ``checkpoints/last.pt``, another recipe there is
refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch
import yaml

from stripes.config import ConfigError
from stripes.models import StripesTransformer, build_model
from stripes.music.trio_events import TrioVocabulary
from stripes.tasks.groove.config import GrooveConfig, load_groove_config
from stripes.tasks.groove.dataset import TrioCropDataset
from stripes.tasks.groove.groove2groove import load_groove2groove_trios
from stripes.tasks.groove.pieces import TrioPiece
from stripes.tasks.groove.pop909_trios import load_pop909_trios
from stripes.training.checkpoint import load_checkpoint, load_weights, to_plain, write_config
from stripes.training.config import check_device
from stripes.training.loop import train
from stripes.training.run_dir import claim_run_dir, prepare_run_dir
from stripes.training.tokens import collate_tokens, lm_loss

Pieces = Mapping[str, Sequence[TrioPiece]]


def data_root(cfg: GrooveConfig) -> Path:
    """``run.data_root``, else ``$STRIPES_DATA``; FileNotFoundError naming both when unset."""
    root = cfg.run.data_root or os.environ.get("STRIPES_DATA")
    if not root:
        raise FileNotFoundError(f"no data folder for {cfg.data.source}: set run.data_root "
                                "(--data-root) or STRIPES_DATA")
    return Path(root).expanduser()


def load_groove_pieces(cfg: GrooveConfig) -> dict[str, list[TrioPiece]]:
    """``{"train", "val", "test"}`` -> pieces of the recipe's source, split as it says."""
    d = cfg.data
    if d.source == "pop909":
        return load_pop909_trios(data_root(cfg), d.n_val, d.n_test, d.split_seed)
    return load_groove2groove_trios(data_root(cfg), d.n_val, d.n_test, d.split_seed)


def groove_datasets(cfg: GrooveConfig, pieces: Pieces, vocab: TrioVocabulary
                    ) -> tuple[TrioCropDataset, TrioCropDataset]:
    """Augmented training crops (seeded by ``train.seed``) and plain validation crops."""
    d = cfg.data
    train_set = TrioCropDataset(pieces["train"], vocab, d.train_length, d.augmentation,
                                seed=cfg.train.seed)
    val_set = TrioCropDataset(list(pieces["val"])[: d.max_val_pieces], vocab, d.train_length,
                              augmentation=None)
    return train_set, val_set


def train_groove(config: GrooveConfig | str | Path, out_dir: str | Path | None = None,
                 overrides: Sequence[str] = (), *, overwrite: bool = False,
                 pieces: Pieces | None = None) -> Path:
    """Train (or resume) one groove model; returns its run folder (default
    ``config.run.out_dir``).

    Args:
        config: the recipe, or the path of its YAML. overrides: ``section.key=value`` (YAML
            path only). pieces: the split (default: :func:`load_groove_pieces`).
    """
    cfg = config if isinstance(config, GrooveConfig) else load_groove_config(config, overrides)
    out = Path(out_dir or cfg.run.out_dir)
    resume = resumable(out, cfg) and not overwrite
    check_device(cfg.run.device)
    vocab = TrioVocabulary()
    train_set, val_set = groove_datasets(cfg, pieces or load_groove_pieces(cfg), vocab)
    torch.manual_seed(cfg.train.seed)  # the initial weights
    model = build_model(cfg.model)  # before the folder: a model it cannot build writes none
    last = claim_run_dir(out, resume=resume, overwrite=overwrite)
    cfg = replace(cfg, run=replace(cfg.run, out_dir=str(out),
                                   resume_from=str(last) if last else None))
    prepare_run_dir(out, overwrite=overwrite)
    write_config(cfg.recipe(), out / "task.yaml")
    summary = train(model, lm_loss, train_set, val_set, cfg.train, cfg.run,
                    partial(collate_tokens, pad_id=vocab.eos), model_config=cfg.model)
    return Path(summary["run_dir"])


def resumable(out: Path, cfg: GrooveConfig) -> bool:
    """Whether ``out`` is a run of this very recipe with a checkpoint to continue; ConfigError
    when it holds another recipe."""
    saved = out / "task.yaml"
    if not (saved.is_file() and (out / "checkpoints" / "last.pt").is_file()):
        return False
    if yaml.safe_load(saved.read_text()) != to_plain(cfg.recipe()):
        raise ConfigError(f"{out}: holds a run of another recipe (its task.yaml differs); "
                          "choose another --out or pass --overwrite")
    return True


def finished(out: Path, cfg: GrooveConfig) -> bool:
    """Whether the run in ``out`` trained all its epochs (its ``last.pt`` says so)."""
    if not resumable(out, cfg):
        return False
    return int(load_checkpoint(out / "checkpoints" / "last.pt")["epoch"]) >= cfg.train.epochs


def load_groove_model(checkpoint: str | Path, device: str = "cpu") -> StripesTransformer:
    """The model of a checkpoint of :func:`train_groove`, in eval mode."""
    from stripes.models import ModelConfig

    ckpt = load_checkpoint(checkpoint, map_location=device)
    if "model" not in ckpt.get("config", {}):
        raise ValueError(f"{checkpoint}: holds no model config (not a `stripes groove train` "
                         "checkpoint)")
    model = StripesTransformer(ModelConfig.from_dict(ckpt["config"]["model"]))
    load_weights(model, ckpt["model"], checkpoint)
    return model.to(device).eval()
