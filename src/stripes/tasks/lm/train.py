"""Training a token language model, and loading one back from nothing but its checkpoint.

- the loss is :func:`stripes.training.tokens.lm_loss` (next-token cross-entropy, padding
  ignored), shared with the groove task.
- :func:`train_language_model` builds the model, trains it with
  :func:`stripes.training.loop.train` and stores the experiment config and the tokenizer inside
  every checkpoint, so :func:`load_language_model` and :func:`load_checkpoint_tokenizer` need
  nothing else.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from stripes.config import migration_note
from stripes.models import ModelConfig, StripesTransformer, build_model
from stripes.tasks.lm.config import LMExperimentConfig, load_experiment, resolve_model_config
from stripes.tasks.lm.data import (
    CropDataset,
    PitchTable,
    PrefixDataset,
    TokenCorpus,
    load_token_corpus,
)
from stripes.training.checkpoint import (
    CheckpointError,
    atomic_write,
    load_checkpoint,
    load_weights,
    to_plain,
    write_config,
)
from stripes.training.config import check_device
from stripes.training.loop import train
from stripes.training.run_dir import claim_run_dir, hold_run_dir, prepare_run_dir
from stripes.training.tokens import collate_tokens, lm_loss


def lm_datasets(exp: LMExperimentConfig, corpus: TokenCorpus,
                tokenizer) -> tuple[CropDataset, PrefixDataset]:
    """Training crops and the in-training validation windows (``train_length`` tokens)."""
    d = exp.data
    bar_id = tokenizer.vocab.get("Bar_None") if d.align_to_bar else None
    table = PitchTable.from_vocab(tokenizer.vocab)
    train_set = CropDataset(corpus.pieces("train"), d.train_length, table, d.transpose, bar_id,
                            d.crops_per_piece)
    return train_set, PrefixDataset(corpus.pieces("val")[: d.max_val_pieces], d.train_length)


def train_language_model(config: LMExperimentConfig | str | Path, out_dir: str | Path | None = None,
                         overrides: Sequence[str] = (), *, resume: bool = False,
                         overwrite: bool = False) -> Path:
    """Train one language model; returns its run folder (see :mod:`stripes.training.loop`).

    Args:
        config: an experiment, or the path of its YAML. out_dir: the run folder (default
            ``config.run.out_dir``). overrides: ``section.key=value`` (YAML path only).

    The run folder also gets ``experiment.yaml`` and ``tokenizer.json``; every checkpoint holds
    the experiment (``config["experiment"]``) and the tokenizer (``config["tokenizer"]``).
    Everything is checked before the run folder is touched; an existing non-empty one is refused
    unless ``resume`` (from its ``checkpoints/last.pt``) or ``overwrite``.
    """
    exp = config if isinstance(config, LMExperimentConfig) else load_experiment(config, overrides)
    corpus = load_token_corpus(exp.data.corpus, exp.run.cache_dir)
    tokenizer = corpus.tokenizer()
    train_set, val_set = lm_datasets(exp, corpus, tokenizer)
    for split, ds in (("train", train_set), ("val", val_set)):
        if len(ds) == 0:
            raise ValueError(f"{exp.data.corpus}: no {split} piece to train on")
    out = Path(out_dir or exp.run.out_dir)
    last = None if exp.run.resume_from else claim_run_dir(out, resume=resume,
                                                            overwrite=overwrite)
    check_device(exp.run.device)
    exp = replace(exp, model=resolve_model_config(exp, len(tokenizer)),
                  run=replace(exp.run, out_dir=str(out),
                              resume_from=str(last) if last else exp.run.resume_from))
    torch.manual_seed(exp.train.seed)  # the initial weights
    model = build_model(exp.model)  # before the folder: a model it cannot build writes none
    with hold_run_dir(out, fresh=not (exp.run.resume_from or overwrite)):
        prepare_run_dir(out, overwrite=overwrite)
        summary = train(model, lm_loss, train_set, val_set, exp.train,
                        exp.run, collate_tokens, model_config=exp.model)
        run = Path(summary["run_dir"])
        write_config(exp, run / "experiment.yaml")
        tok_json = json.loads((corpus.folder / "tokenizer.json").read_text())
        text = json.dumps(tok_json, indent=1)
        atomic_write(run / "tokenizer.json", lambda f: f.write(text.encode()))
        for path in sorted((run / "checkpoints").glob("*.pt")):
            attach_to_checkpoint(path, experiment=to_plain(exp), tokenizer=tok_json)
    return run


def attach_to_checkpoint(path: Path, **entries: Any) -> None:
    """Add plain entries to a checkpoint's ``config`` dict (atomically rewritten)."""
    ckpt = load_checkpoint(path)
    ckpt["config"] = {**ckpt.get("config", {}), **to_plain(entries)}
    atomic_write(Path(path), lambda f: torch.save(ckpt, f))


def resolve_lm_checkpoint(checkpoint: str | Path) -> Path:
    """One ``--checkpoint`` meaning: a checkpoint file, or a run folder (its
    ``checkpoints/best.pt``, else ``checkpoints/last.pt``)."""
    path = Path(checkpoint)
    if not path.is_dir():
        return path
    for name in ("best.pt", "last.pt"):
        if (path / "checkpoints" / name).is_file():
            return path / "checkpoints" / name
    raise FileNotFoundError(f"{path}: not a run folder (no checkpoints/best.pt or last.pt)")


def load_language_model(checkpoint: str | Path, device: str | torch.device = "cpu"
                        ) -> tuple[StripesTransformer, LMExperimentConfig | None]:
    """The model of a checkpoint (a file or a run folder; in eval mode) and its experiment
    config (None if absent)."""
    checkpoint = resolve_lm_checkpoint(checkpoint)
    ckpt = load_checkpoint(checkpoint, map_location=device)
    cfg = ckpt.get("config", {})
    if not isinstance(cfg, dict) or "model" not in cfg:
        raise ValueError(f"{checkpoint}: no model config inside the checkpoint")
    with migration_note(str(checkpoint)):  # a checkpoint of an older shape: one note
        try:
            model_config = ModelConfig.from_dict(cfg["model"])
        except ValueError as err:
            raise CheckpointError(f"{checkpoint}: not a language-model checkpoint of `stripes lm "
                                  f"train` ({err})") from None
        exp = LMExperimentConfig.from_dict(cfg["experiment"]) if "experiment" in cfg else None
    model = StripesTransformer(model_config)
    load_weights(model, ckpt["model"], checkpoint)
    model.to(device).eval()
    return model, exp


def load_checkpoint_tokenizer(checkpoint: str | Path):
    """The tokenizer stored inside a checkpoint (written by :func:`train_language_model`)."""
    from stripes.music.tokenizer import load_tokenizer

    cfg = load_checkpoint(resolve_lm_checkpoint(checkpoint)).get("config", {})
    if not isinstance(cfg, dict) or "tokenizer" not in cfg:
        raise ValueError(f"{checkpoint}: no tokenizer inside the checkpoint")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        path.write_text(json.dumps(cfg["tokenizer"]))
        return load_tokenizer(path)
