"""Training crops of trios with [SPE]'s augmentation, redrawn every epoch (App. C.2).

Each item is one piece, augmented, encoded (``bos`` + events + ``eos``) and cut to its first
``length`` tokens (512 in the paper; the official loader keeps the head of each augmented piece,
so the start varies through the skipped bars only). The augmentation, in the official order:

1. **choose the trio**: each slot's source track at random among its non-empty candidates
   (Groove2Groove: one harmonic track among guitar, piano, strings; POP909: fixed);
2. **skip measures at the start**: with probability 0.25, for a piece of at least 8 bars, drop
   a multiple of 4 bars, drawn uniformly up to ``min(64, bars // 2)`` (notes that start
   earlier are dropped);
3. **drop instruments**: the non-empty slots in random order, all but the first emptied each
   with probability 0.1 (at least one instrument stays);
4. **transpose** the pitched slots by a shift drawn uniformly in -5..+5 semitones (drums stay:
   their pitches are instruments); a pitch leaving 0..127 moves by an octave back inside. The
   official code draws from ``integers(-5, 6, endpoint=True)``, i.e. -5..+6; we follow the
   paper's text.

Randomness: item ``i`` of epoch ``e`` uses ``numpy.random.default_rng([seed, e, i])``, so each
epoch redraws every choice (call :meth:`TrioCropDataset.set_epoch`), the same seed gives the same
items in any worker, and nothing depends on torch's global RNG. Items are ``{"ids": LongTensor
[T'], "shift": int}`` (``T' <= length``), the item layout of the token LM; pad with
``vocab.eos`` (the official padding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from stripes.music.trio_events import TrioVocabulary, clean_notes, encode_notes
from stripes.tasks.groove.pieces import BAR_BEATS, TrioPiece, bar_ticks, drop_before


@dataclass(frozen=True)
class Augmentation:
    """[SPE]'s augmentation of groove trios (the module docstring has the steps).

    Args:
        skip_prob: probability of skipping bars at the start. skip_step_bars: bars skip in
            multiples of this. max_skip_bars: at most this many (and at most half the piece).
        min_bars: pieces shorter than this are never cut.
        drop_prob: probability of emptying each instrument but one.
        transpose: ``(lo, hi)`` semitones, both included.
        bar_beats: beats per bar.
    """

    skip_prob: float = 0.25
    skip_step_bars: int = 4
    max_skip_bars: int = 64
    min_bars: int = 8
    drop_prob: float = 0.1
    transpose: tuple[int, int] = (-5, 5)
    bar_beats: int = BAR_BEATS

    def skip(self, notes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Step 2: maybe drop whole bars at the start of ``notes [N, 4]``."""
        bar = bar_ticks(1, self.bar_beats)
        bars = int((notes[:, 1] + notes[:, 2]).max()) // bar if len(notes) else 0
        if rng.random() >= self.skip_prob or bars < self.min_bars:
            return notes
        most = min(self.max_skip_bars, bars // 2) // self.skip_step_bars
        cut = self.skip_step_bars * int(rng.integers(1, most + 1))
        return drop_before(notes, cut * bar)

    def drop(self, notes: np.ndarray, n_slots: int, rng: np.random.Generator) -> np.ndarray:
        """Step 3: empty some non-empty slots, keeping at least one."""
        present = np.flatnonzero(np.bincount(notes[:, 0], minlength=n_slots) > 0)
        present = present[rng.permutation(len(present))]
        gone = [int(k) for k in present[1:] if rng.random() < self.drop_prob]
        return notes[~np.isin(notes[:, 0], gone)]

    def shift_pitch(self, notes: np.ndarray, drum_slots: Sequence[int],
                    rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Step 4: transpose the pitched slots; returns the notes and the shift."""
        shift = int(rng.integers(self.transpose[0], self.transpose[1] + 1))
        notes = notes.copy()
        pitched = ~np.isin(notes[:, 0], list(drum_slots))
        moved = notes[pitched, 3] + shift
        moved = np.where(moved < 0, moved + 12, np.where(moved > 127, moved - 12, moved))
        notes[pitched, 3] = moved
        return notes, shift

    def apply(self, piece: TrioPiece, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """All four steps: the augmented trio ``[N, 4]`` and its transposition."""
        notes = piece.trio(piece.random_choice(rng))
        notes = self.skip(notes, rng)
        notes = self.drop(notes, len(piece.roles), rng)
        return self.shift_pitch(notes, piece.drum_slots, rng)


class TrioCropDataset(torch.utils.data.Dataset):
    """Crops of ``length`` tokens, one per piece and epoch.

    Args:
        pieces: the pieces of a split.
        vocab: the token vocabulary (``n_tracks`` = slots per trio).
        length: T, tokens per crop (``bos`` included).
        augmentation: the augmentation, or None for plain evaluation crops (the busiest trio,
            nothing skipped, dropped or transposed).
        seed: the seed of every draw.
    """

    def __init__(self, pieces: Sequence[TrioPiece], vocab: TrioVocabulary, length: int = 512,
                 augmentation: Augmentation | None = Augmentation(), seed: int = 0):
        self.pieces = [p for p in pieces if len(p.notes)]
        if not self.pieces:
            raise ValueError("no piece with notes")
        if any(len(p.roles) != vocab.n_tracks for p in self.pieces):
            raise ValueError(f"pieces must have {vocab.n_tracks} slots, as the vocabulary")
        self.vocab, self.length, self.augmentation, self.seed = vocab, length, augmentation, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Redraw the augmentation: items depend on ``(seed, epoch, index)``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pieces)

    def __getitem__(self, i: int) -> dict:
        piece = self.pieces[i]
        if self.augmentation is None:
            notes, shift = piece.trio(), 0
        else:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            notes, shift = self.augmentation.apply(piece, rng)
        # Every note yields a note-on, so notes after the first T (in event order) cannot reach
        # the first T tokens: encoding only those gives the same crop, much faster.
        cleaned = clean_notes(notes)
        head = cleaned[: self.length]
        eos = len(head) == len(cleaned)  # else the crop ends before the piece does
        ids = encode_notes(head, self.vocab, bos=True, eos=eos)[: self.length]
        return {"ids": torch.from_numpy(ids), "shift": shift}
