"""A corpus in memory: every piece of one data set as flat arrays, its splits, labels and
windows. The cache that stores it on disk is :mod:`stripes.music.datasets`; the torch
``Dataset`` of its windows is :mod:`stripes.music.windows`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stripes.music.chords import ChordVocabulary
from stripes.music.midi_io import BAR_STEPS
from stripes.music.structure import STORED_LABELS, complete_labels

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Corpus:
    """Every piece of one data set as flat arrays; piece i has steps ``step_offsets[i:i+2]`` of
    each label array and rows ``note_offsets[i:i+2]`` of ``notes [N, 4]`` (track, start,
    duration, pitch). ``slots`` maps the 2 input and 3 target pianoroll slots to track indices."""

    name: str
    tracks: list[str]
    slots: dict[str, list[list[int]]]
    arrays: dict[str, np.ndarray]
    vocab: ChordVocabulary
    manifest: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.arrays["names"])

    def songs_in(self, split: str | None) -> np.ndarray:
        """Indices of the pieces in a split (``'train'``, ``'val'``, ``'test'``; None = all)."""
        if split is None:
            return np.arange(len(self))
        if split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {SPLIT_NAMES} or None, not {split!r}")
        return np.flatnonzero(self.arrays["split"] == SPLIT_NAMES.index(split))

    def n_steps(self, i: int) -> int:
        """T of piece i."""
        return int(self.arrays["step_offsets"][i + 1] - self.arrays["step_offsets"][i])

    def notes(self, i: int) -> np.ndarray:
        """Notes ``[N_i, 4]`` of piece i."""
        lo, hi = self.arrays["note_offsets"][i : i + 2]
        return self.arrays["notes"][lo:hi]

    def labels(self, i: int, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """Every label of ``structure.LABELS`` as int64 ``[stop - start]`` for piece i."""
        base = self.arrays["step_offsets"][i]
        stop = self.n_steps(i) if stop is None else stop
        stored = {k: self.arrays[f"label_{k}"][base + start : base + stop] for k in STORED_LABELS}
        return complete_labels(
            stored, self.vocab, int(self.arrays["keys"][i]), int(self.arrays["tempos"][i])
        )

    def windows(
        self, split: str | None, bars: int | None, hop_bars: int | None = None
    ) -> np.ndarray:
        """Windows ``[W, 3]`` (piece, start, length) of a split.

        ``bars=None``: one window per piece. Otherwise windows of ``bars`` 4/4 bars start on the
        first bar line (``downbeat % 64``) and every ``hop_bars`` bars (default ``bars - bars //
        8``: the [S24] overlap of 1/8 window, 2 bars for 16, 8 bars for 64); a window must fit.
        """
        rows: list[tuple] = []  # (song, start, size): Python and numpy ints
        for i in self.songs_in(split):
            n = self.n_steps(i)
            if bars is None:
                rows.append((i, 0, n))
                continue
            size, hop = bars * BAR_STEPS, (hop_bars or bars - bars // 8) * BAR_STEPS
            starts = np.arange(int(self.arrays["downbeats"][i]) % BAR_STEPS, n - size + 1, hop)
            rows.extend((i, s, size) for s in starts)
        return np.array(rows, dtype=np.int64).reshape(-1, 3)


__all__ = ["SPLIT_NAMES", "Corpus"]
