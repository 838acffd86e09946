"""The token corpus and its datasets ([SPE] Sec. 3.2, App. C.1).

- :func:`load_token_corpus` reads a prepared cache (``tokens.npz``: ``ids``, ``offsets``;
  ``tokenizer.json``; the corpus split from ``corpus.npz``).
- :class:`CropDataset` draws random crops of ``length`` tokens for training, transposed by a random
  shift in ``-6..+6`` semitones ([SPE] App. C.1); :class:`PrefixDataset` holds fixed validation
  windows (the first tokens of each validation piece, up to an evaluation length).

Choices (documented, configurable): crops start on a ``Bar`` token (``align_to_bar``), so every
crop is a valid REMI sequence on its own; a transposition that would move a pitch outside the
vocabulary is skipped: the crop and the shift are drawn again (up to 8 times, then the crop is kept
untransposed). Randomness comes from torch's global RNG, which the training loop seeds per rank and
stores in checkpoints (resumable). Padding only ever follows the real tokens, so a causal model
needs no key mask: padded steps only affect padded targets, which the loss ignores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stripes.music.datasets import SPLIT_NAMES

TRANSPOSE_ATTEMPTS = 8


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
            self.split == SPLIT_NAMES.index(split))
        return [self.ids[self.offsets[i] : self.offsets[i + 1]].astype(np.int64) for i in keep]

    def tokenizer(self):
        """The miditok tokenizer saved with the tokens."""
        from stripes.music.tokenizer import load_tokenizer

        return load_tokenizer(self.folder)


def load_token_corpus(path: str | Path, cache_dir: str | Path | None = None) -> TokenCorpus:
    """Tokens of a prepared corpus: a folder with ``tokens.npz``, or a cache name (``'chorales'``)
    in ``cache_dir`` (default: ``$STRIPES_CACHE`` or ~/.cache/stripes).

    The split is read from ``tokens.npz`` (``split``) when present, else from ``corpus.npz``.
    """
    from stripes.music.datasets import (
        cache_problems,
        default_cache_dir,
        read_manifest,
        read_npz,
        rebuild_command,
    )

    folder = Path(path).expanduser()
    if not (folder / "tokens.npz").is_file():
        folder = (Path(cache_dir) if cache_dir else default_cache_dir()) / str(path)
    if not (folder / "tokens.npz").is_file():
        raise FileNotFoundError(f"no tokens.npz at {path} or {folder}: prepare the corpus first "
                                f"(`stripes data prepare {Path(path).name}`)")
    name = folder.name
    if (folder / "manifest.json").is_file():
        manifest = read_manifest(folder)
        name = str(manifest.get("corpus", name))
        problems = cache_problems(folder, manifest)
        if problems:
            raise ValueError(f"{folder}: damaged cache ({'; '.join(problems)}); rebuild it: "
                             f"{rebuild_command(folder, name)}")
    tokens = read_npz(folder / "tokens.npz", name)
    ids, offsets, split = tokens["ids"], tokens["offsets"], tokens.get("split")
    if split is None:
        split = read_npz(folder / "corpus.npz", name)["split"]
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
        if transpose is not None and table is None:
            raise ValueError("transposed crops need the tokenizer's pitch table")
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
            moved: np.ndarray | None = crop
            if shift and self.table is not None:  # a table exists whenever transpose is set
                moved = transpose_ids(crop, shift, self.table)
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
