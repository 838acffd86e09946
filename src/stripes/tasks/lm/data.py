"""Language modelling on REMI tokens ([SPE] Sec. 3.2, App. C.1): data, loss, config, training.

- Data: :func:`load_token_corpus` reads a prepared cache (``tokens.npz``: ``ids``, ``offsets``;
  ``tokenizer.json``; the corpus split from ``corpus.npz``). :class:`CropDataset` draws random
  crops of ``length`` tokens for training, transposed by a random shift in ``-6..+6`` semitones
  ([SPE] App. C.1); :class:`PrefixDataset` holds fixed validation windows (the first tokens of each
  validation piece, up to an evaluation length, e.g. twice the training length).
- Loss: :func:`lm_loss`, next-token cross-entropy, padding ignored.
- Configuration: :class:`LMExperimentConfig` (``data``, ``model``, ``train``, ``eval``), from YAML.
- :func:`train_language_model` builds the model, trains it with
  :func:`stripes.training.loop.train` and stores the experiment config and the tokenizer inside
  every checkpoint (``stripes.tasks.lm.compare.load_language_model`` needs nothing else).

Choices (documented, configurable): crops start on a ``Bar`` token (``align_to_bar``), so every
crop is a valid REMI sequence on its own; a transposition that would move a pitch outside the
vocabulary is skipped: the crop and the shift are drawn again (up to 8 times, then the crop is kept
untransposed). Randomness comes from torch's global RNG, which the training loop seeds per rank and
stores in checkpoints (resumable). Padding only ever follows the real tokens, so a causal model
needs no key mask: padded steps only affect padded targets, which the loss ignores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import Tensor

from stripes.models import ModelConfig, StripesTransformer
from stripes.training.checkpoint import atomic_write, load_checkpoint, to_plain, write_config
from stripes.training.loop import TrainConfig, train

SPLITS = ("train", "val", "test")
TRANSPOSE_ATTEMPTS = 8


# --- the token corpus ----------------------------------------------------------------------------
@dataclass
class TokenCorpus:
    """Token ids of every piece of a prepared corpus: piece i is ``ids[offsets[i]:offsets[i+1]]``.

    Attributes:
        ids: ``[N]`` all tokens, concatenated. offsets: ``[S+1]``. split: ``[S]`` 0/1/2
        (train/val/test). folder: where ``tokenizer.json`` lies.
    """

    ids: np.ndarray
    offsets: np.ndarray
    split: np.ndarray
    folder: Path

    def pieces(self, split: str | None = None) -> list[np.ndarray]:
        """The int64 id arrays of the pieces of a split (``None``: all pieces)."""
        keep = range(len(self.split)) if split is None else np.flatnonzero(
            self.split == SPLITS.index(split))
        return [self.ids[self.offsets[i] : self.offsets[i + 1]].astype(np.int64) for i in keep]

    def tokenizer(self):
        """The miditok tokenizer saved with the tokens."""
        from stripes.music.tokenizer import load_tokenizer

        return load_tokenizer(self.folder)


def load_token_corpus(path: str | Path) -> TokenCorpus:
    """Tokens of a prepared corpus: a folder with ``tokens.npz``, or a cache name (``'chorales'``).

    The split is read from ``tokens.npz`` (``split``) when present, else from ``corpus.npz``.
    """
    from stripes.music.datasets import default_cache_dir

    folder = Path(path).expanduser()
    if not (folder / "tokens.npz").is_file():
        folder = default_cache_dir() / str(path)
    if not (folder / "tokens.npz").is_file():
        raise FileNotFoundError(f"no tokens.npz at {path} or {folder}: prepare the corpus first "
                                f"(`stripes data prepare {Path(path).name}`)")
    with np.load(folder / "tokens.npz") as tokens:
        ids, offsets = tokens["ids"], tokens["offsets"]
        split = tokens["split"] if "split" in tokens.files else None
    if split is None:
        with np.load(folder / "corpus.npz") as corpus:
            split = corpus["split"]
    if len(split) != len(offsets) - 1:
        raise ValueError(f"{folder}: {len(offsets) - 1} token sequences but {len(split)} splits")
    return TokenCorpus(ids, offsets, np.asarray(split), folder)


def save_token_corpus(folder: str | Path, pieces: Sequence[Sequence[int]], split: Sequence[int],
                      tokenizer) -> Path:
    """Write ``tokens.npz`` (``ids``, ``offsets``, ``split``) and ``tokenizer.json``."""
    from stripes.music.tokenizer import save_tokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + [len(p) for p in pieces])
    ids = np.concatenate([np.asarray(p, dtype=np.int16) for p in pieces])
    np.savez(folder / "tokens.npz", ids=ids, offsets=offsets, split=np.asarray(split, np.int8))
    save_tokenizer(tokenizer, folder)
    return folder


# --- transposition --------------------------------------------------------------------------------
@dataclass
class PitchTable:
    """Pitch tokens of a vocabulary: ``pitch_of [V]`` (MIDI pitch, -1 for other tokens) and
    ``id_of [128]`` (token id, -1 where the vocabulary has no token for that pitch)."""

    pitch_of: np.ndarray
    id_of: np.ndarray

    @classmethod
    def from_vocab(cls, vocab: Mapping[str, int]) -> PitchTable:
        """From a ``{token name: id}`` vocabulary (``'Pitch_60'`` is pitch 60)."""
        pitch_of = np.full(max(vocab.values()) + 1, -1, dtype=np.int64)
        id_of = np.full(128, -1, dtype=np.int64)
        for name, i in vocab.items():
            kind, _, value = name.partition("_")
            if kind == "Pitch":
                pitch_of[i], id_of[int(value)] = int(value), i
        return cls(pitch_of, id_of)


def transpose_ids(ids: np.ndarray, shift: int, table: PitchTable) -> np.ndarray | None:
    """Move every Pitch token of ``ids [T]`` by ``shift`` semitones; None if one leaves range."""
    pitch = table.pitch_of[ids]
    where = pitch >= 0
    moved = pitch[where] + shift
    if ((moved < 0) | (moved > 127)).any() or (table.id_of[moved] < 0).any():
        return None
    out = ids.copy()
    out[where] = table.id_of[moved]
    return out


# --- datasets -------------------------------------------------------------------------------------
class CropDataset(torch.utils.data.Dataset):
    """Random training crops: item ``i`` is a crop of piece ``i % S`` (S pieces).

    Args:
        pieces: token id arrays. length: T, tokens per crop (shorter pieces give shorter items).
        table: the pitch tokens, for transposition. transpose: ``(lo, hi)`` semitones or None.
        bar_id: crops start on this token (a bar line) when given. crops_per_piece: epoch size.

    Items: ``{"ids": LongTensor [T'], "shift": int}`` with ``T' = min(T, len(piece))``.
    """

    def __init__(self, pieces: Sequence[np.ndarray], length: int, table: PitchTable | None = None,
                 transpose: Sequence[int] | None = (-6, 6), bar_id: int | None = None,
                 crops_per_piece: int = 1):
        self.pieces = [p for p in pieces if len(p) >= 2]
        if not self.pieces:
            raise ValueError("no piece with at least 2 tokens")
        self.length, self.table, self.bar_id = length, table, bar_id
        self.transpose = tuple(transpose) if transpose is not None else None
        if self.transpose is not None and table is None:
            raise ValueError("transposition needs a PitchTable")
        self.crops_per_piece = crops_per_piece

    def __len__(self) -> int:
        return len(self.pieces) * self.crops_per_piece

    def starts(self, piece: np.ndarray) -> np.ndarray:
        """Admissible crop starts of a piece (bar lines that leave a full crop, or 0)."""
        last = max(0, len(piece) - self.length)
        if self.bar_id is None:
            return np.arange(last + 1)
        bars = np.flatnonzero(piece[: last + 1] == self.bar_id)
        return bars if len(bars) else np.zeros(1, dtype=np.int64)

    def __getitem__(self, i: int) -> dict:
        piece = self.pieces[i % len(self.pieces)]
        starts = self.starts(piece)
        for _ in range(TRANSPOSE_ATTEMPTS):
            start = int(starts[int(torch.randint(len(starts), ()))])
            crop = piece[start : start + self.length]
            shift = 0
            if self.transpose is not None:
                shift = int(torch.randint(self.transpose[0], self.transpose[1] + 1, ()))
            moved = transpose_ids(crop, shift, self.table) if shift else crop
            if moved is not None:
                return {"ids": torch.from_numpy(moved.astype(np.int64)), "shift": shift}
        return {"ids": torch.from_numpy(crop.astype(np.int64)), "shift": 0}


class PrefixDataset(torch.utils.data.Dataset):
    """Fixed windows: the first ``length`` tokens of each piece (validation, evaluation)."""

    def __init__(self, pieces: Sequence[np.ndarray], length: int):
        self.windows = [torch.from_numpy(p[:length].astype(np.int64))
                        for p in pieces if len(p) >= 2]
        self.length = length

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        return {"ids": self.windows[i], "shift": 0}


def collate_tokens(items: Sequence[dict], pad_id: int = 0) -> dict[str, Tensor]:
    """Pad to the longest item: ``ids [B, T]`` long, ``mask [B, T]`` bool (True on real tokens),
    ``shift [B]``."""
    t = max(len(it["ids"]) for it in items)
    ids = torch.full((len(items), t), pad_id, dtype=torch.long)
    mask = torch.zeros(len(items), t, dtype=torch.bool)
    for b, it in enumerate(items):
        ids[b, : len(it["ids"])], mask[b, : len(it["ids"])] = it["ids"], True
    return {"ids": ids, "mask": mask, "shift": torch.tensor([it["shift"] for it in items])}


# --- loss -----------------------------------------------------------------------------------------
def token_nll(logits: Tensor, ids: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Negative log-likelihood of each next token.

    Args:
        logits: ``[B, T, V]``; ids: ``[B, T]``; mask: ``[B, T]`` True on real tokens (None: all).

    Returns:
        ``(nll [B, T-1], valid [B, T-1])``: entry ``t-1`` is ``-log p(ids[t] | ids[:t])``, and
        whether token ``t`` is real (0 where it is not).
    """
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), ids[:, 1:], reduction="none")
    valid = torch.ones_like(nll, dtype=torch.bool) if mask is None else mask[:, 1:]
    return nll * valid, valid


def lm_loss(model: torch.nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """Mean next-token cross-entropy (nats) over the real tokens of a batch (``ids``, ``mask``)."""
    logits, _ = model(batch["ids"])
    nll, valid = token_nll(logits, batch["ids"], batch.get("mask"))
    return nll.sum() / valid.sum().clamp_min(1)


# --- configuration --------------------------------------------------------------------------------
@dataclass
class LMDataConfig:
    """Which tokens, and how they are cut.

    Attributes:
        corpus: a cache name (``chorales``, ``pop909``) or a folder holding ``tokens.npz``.
        train_length: tokens per training crop. eval_length: tokens per evaluation window.
        transpose: ``[lo, hi]`` semitone shifts of training crops ([SPE] App. C.1), or None.
        crops_per_piece: crops of each training piece per epoch. align_to_bar: crops start on bars.
        max_val_pieces: use only the first validation pieces (None: all).
    """

    corpus: str = "chorales"
    train_length: int = 256
    eval_length: int = 512
    transpose: list[int] | None = field(default_factory=lambda: [-6, 6])
    crops_per_piece: int = 1
    align_to_bar: bool = True
    max_val_pieces: int | None = None


@dataclass
class LMEvalConfig:
    """What :func:`stripes.tasks.lm.evaluate.evaluate_language_model` measures.

    Attributes:
        checkpoint: ``best.pt`` or ``last.pt`` of a run (for the comparison runner).
        bucket: token positions per bucket of the loss curve. realizations: PE draws averaged
        (stochastic PEs). seed: of every draw. batch_size: evaluation windows per forward.
        probe_length, probe_token: the identical-token probe ([SPE] App. D.3).
        attention_layer, attention_head, attention_length: the map that is plotted.
        prompts, prompt_tokens, continuation_tokens, top_p, temperature: style of continuations
        ([SPE] Sec. 3.3); ``prompts=0`` skips them.
    """

    checkpoint: str = "best.pt"
    bucket: int = 32
    realizations: int = 4
    seed: int = 0
    batch_size: int = 8
    probe_length: int = 256
    probe_token: str = "Bar_None"
    attention_layer: int = 0
    attention_head: int = 0
    attention_length: int = 128
    prompts: int = 4
    prompt_tokens: int = 256
    continuation_tokens: int = 256
    top_p: float = 0.9
    temperature: float = 1.2


def _build(cls, d: Mapping[str, Any] | None, where: str):
    known = {f.name for f in fields(cls)}
    if unknown := sorted(set(d or {}) - known):
        raise ValueError(f"unknown {where} fields {unknown}; known: {sorted(known)}")
    return cls(**(d or {}))


@dataclass
class LMExperimentConfig:
    """One language-model experiment: ``name``, ``data``, ``model`` (a :class:`ModelConfig`;
    ``input_kind``, ``input_dim``, ``output_dim`` are set from the vocabulary), ``train``
    (a :class:`TrainConfig`), ``eval``."""

    name: str = "lm"
    data: LMDataConfig = field(default_factory=LMDataConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(input_kind="tokens"))
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: LMEvalConfig = field(default_factory=LMEvalConfig)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LMExperimentConfig:
        """From a plain dict (sections as dicts); unknown keys are refused by name."""
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown experiment sections {unknown}")
        model = {"input_kind": "tokens", **(d.get("model") or {})}
        return cls(name=str(d.get("name", "lm")),
                   data=_build(LMDataConfig, d.get("data"), "data"),
                   model=ModelConfig.from_dict(model),
                   train=_build(TrainConfig, d.get("train"), "train"),
                   eval=_build(LMEvalConfig, d.get("eval"), "eval"))


def apply_overrides(d: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set ``section.key=value`` entries (values parsed as YAML) in a nested dict, in place."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form section.key=value")
        *path, last = key.strip().split(".")
        node = d
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return d


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> LMExperimentConfig:
    """An :class:`LMExperimentConfig` from a YAML file, with ``section.key=value`` overrides."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    return LMExperimentConfig.from_dict(apply_overrides(raw, overrides))


def resolve_model_config(exp: LMExperimentConfig, vocab_size: int) -> ModelConfig:
    """The experiment's model on tokens of a ``vocab_size`` vocabulary, holding ``eval_length``."""
    return replace(exp.model, input_kind="tokens", input_dim=vocab_size, output_dim=vocab_size,
                   max_len=max(exp.model.max_len, exp.data.eval_length))


# --- training and loading -------------------------------------------------------------------------
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
                         overrides: Sequence[str] = ()) -> Path:
    """Train one language model; returns its run folder (see :mod:`stripes.training.loop`).

    Args:
        config: an experiment, or the path of its YAML. out_dir: the run folder (default
            ``config.train.out_dir``). overrides: ``section.key=value`` (YAML path only).

    The run folder also gets ``experiment.yaml`` and ``tokenizer.json``; every checkpoint holds
    the experiment (``config["experiment"]``) and the tokenizer (``config["tokenizer"]``).
    """
    exp = config if isinstance(config, LMExperimentConfig) else load_experiment(config, overrides)
    corpus = load_token_corpus(exp.data.corpus)
    tokenizer = corpus.tokenizer()
    train_set, val_set = lm_datasets(exp, corpus, tokenizer)
    exp = replace(exp, model=resolve_model_config(exp, len(tokenizer)),
                  train=replace(exp.train, out_dir=str(out_dir or exp.train.out_dir)))
    torch.manual_seed(exp.train.seed)  # the initial weights
    summary = train(StripesTransformer(exp.model), lm_loss, train_set, val_set, exp.train,
                    collate_tokens, model_config=exp.model)
    run = Path(summary["run_dir"])
    write_config(exp, run / "experiment.yaml")
    tok_json = json.loads((corpus.folder / "tokenizer.json").read_text())
    (run / "tokenizer.json").write_text(json.dumps(tok_json, indent=1))
    for path in sorted((run / "checkpoints").glob("*.pt")):
        attach_to_checkpoint(path, experiment=to_plain(exp), tokenizer=tok_json)
    return run


def attach_to_checkpoint(path: Path, **entries: Any) -> None:
    """Add plain entries to a checkpoint's ``config`` dict (atomically rewritten)."""
    ckpt = load_checkpoint(path)
    ckpt["config"] = {**ckpt.get("config", {}), **to_plain(entries)}
    atomic_write(Path(path), lambda f: torch.save(ckpt, f))
