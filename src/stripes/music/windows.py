"""Harmonization windows of a prepared corpus as a torch ``Dataset``: pianorolls, labels and
structure positions cut on the fly (``WindowDataset``), padded into batches
(``collate_windows``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from stripes.music.pianoroll import N_PITCHES, notes_to_onsets, notes_to_pianoroll
from stripes.music.structure import (
    check_features,
    structure_features,
    structure_positions,
    transpose_labels,
)

if TYPE_CHECKING:
    from stripes.music.datasets import Corpus


def window_pianoroll(notes: np.ndarray, slots: list[list[int]], start: int, length: int,
                     rolls: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Stacked pianoroll ``[T, len(slots) * 128]`` float32 of notes ``[N, 4]``; slot k holds the
    union of its tracks (an empty slot stays zero). ``rolls`` caches the per-track ``[T, 128]``."""
    rolls = {} if rolls is None else rolls
    out = np.zeros((length, len(slots) * N_PITCHES), dtype=np.float32)
    for k, slot in enumerate(slots):
        for track in slot:
            if track not in rolls:
                rolls[track] = notes_to_pianoroll(notes[notes[:, 0] == track, 1:], length, start)
            out[:, k * N_PITCHES : (k + 1) * N_PITCHES] += rolls[track]
    return np.minimum(out, 1.0)


def window_onsets(notes: np.ndarray, slots: list[list[int]], start: int,
                  length: int) -> np.ndarray:
    """Stacked onset roll ``[T, len(slots) * 128]`` float32 of notes ``[N, 4]``: 1 where a note
    of a slot's tracks begins (what an onset harmonizer learns to strike)."""
    out = np.zeros((length, len(slots) * N_PITCHES), dtype=np.float32)
    for k, slot in enumerate(slots):
        for track in slot:
            out[:, k * N_PITCHES:(k + 1) * N_PITCHES] += notes_to_onsets(
                notes[notes[:, 0] == track, 1:], length, start)
    return np.minimum(out, 1.0)


class WindowDataset(torch.utils.data.Dataset):
    """Harmonization windows of a corpus split.

    An item is a dict: ``inputs`` float ``[T, 256]`` (input slots), ``targets`` float
    ``[T, 384]`` (melody | bridge | piano slots), ``onsets`` float ``[T, 384]`` (where the
    target notes begin), ``labels`` {name: LongTensor ``[T]``} (all of
    ``structure.LABELS``), ``positions`` float ``[T, L]`` when ``context`` is given, and
    ``song``, ``start``, ``shift`` (ints), and ``features`` float ``[T, F]`` when ``features``
    names structure features to read as input (``structure.FEATURE_DIMS``).
    ``transpose=(lo, hi)`` draws a shift in lo..hi per item (torch's RNG) and moves notes and
    labels together; windows: :meth:`Corpus.windows`.
    """

    def __init__(
        self,
        corpus: Corpus,
        split: str | None = "train",
        bars: int | None = 16,
        hop_bars: int | None = None,
        context: str | None = None,
        transpose: tuple[int, int] | None = None,
        rep_order: str = "first",
        features: tuple[str, ...] = (),
    ):
        self.corpus, self.context, self.transpose = corpus, context, transpose
        self.rep_order, self.features = rep_order, tuple(features)
        check_features(self.features)
        self.index = corpus.windows(split, bars, hop_bars)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, n: int) -> dict:
        song, start, length = (int(x) for x in self.index[n])
        shift = 0
        if self.transpose is not None:
            shift = int(torch.randint(self.transpose[0], self.transpose[1] + 1, ()).item())
        return self.item(song, start, length, shift)

    def item(self, song: int, start: int, length: int, shift: int = 0) -> dict:
        """The item of piece ``song``, steps ``start .. start + length``, moved by ``shift``."""
        notes = self.corpus.notes(song).copy()
        notes[:, 3] += shift
        notes = notes[(notes[:, 3] >= 0) & (notes[:, 3] < N_PITCHES)]
        labels = self.corpus.labels(song, start, start + length)
        if shift:
            labels = transpose_labels(labels, shift, self.corpus.vocab)
        slots = self.corpus.slots
        rolls: dict[int, np.ndarray] = {}  # per-track pianorolls, shared by inputs and targets
        item: dict[str, Any] = {
            k: torch.from_numpy(window_pianoroll(notes, slots[k], start, length, rolls))
            for k in ("inputs", "targets")}
        item["onsets"] = torch.from_numpy(window_onsets(notes, slots["targets"], start, length))
        item["labels"] = {k: torch.from_numpy(np.asarray(v, np.int64)) for k, v in labels.items()}
        item.update(song=song, start=start, shift=shift)
        if self.context is not None:
            pos = structure_positions(labels, self.context, **self._options())
            item["positions"] = torch.from_numpy(pos)
        if self.features:
            item["features"] = torch.from_numpy(structure_features(labels, self.features))
        return item

    def _options(self) -> dict:
        return {"rep_order": self.rep_order} if self.context == "rep" else {}


def collate_windows(items: list[dict]) -> dict:
    """Batch of items padded to the longest T: ``inputs [B, T, 256]``, ``targets`` and
    ``onsets [B, T, 384]``,
    ``labels`` {name: ``[B, T]``}, ``positions [B, T, L]`` and ``features [B, T, F]`` (if
    present), ``mask [B, T]`` bool
    (True on real steps), ``song``, ``start``, ``shift`` ``[B]``."""
    T = max(len(it["inputs"]) for it in items)

    def pad(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, 0) * (x.dim() - 1) + (0, T - len(x)))

    batch: dict[str, Any] = {
        k: torch.stack([pad(it[k]) for it in items]) for k in ("inputs", "targets")}
    for k in ("positions", "features", "onsets"):
        if k in items[0]:
            batch[k] = torch.stack([pad(it[k]) for it in items])
    batch["labels"] = {
        k: torch.stack([pad(it["labels"][k]) for it in items]) for k in items[0]["labels"]
    }
    batch["mask"] = torch.stack([torch.arange(T) < len(it["inputs"]) for it in items])
    for k in ("song", "start", "shift"):
        batch[k] = torch.tensor([it[k] for it in items])
    return batch


__all__ = ["WindowDataset", "collate_windows", "window_onsets", "window_pianoroll"]
