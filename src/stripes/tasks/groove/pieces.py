"""Pieces before their trio is chosen, shared by the POP909 and Groove2Groove loaders.

A :class:`TrioPiece` keeps every *source* track of a file on the 12-per-beat grid, and for each
of the three trio slots the source tracks that may fill it: Groove2Groove's harmonic slot can be
its guitar, piano or strings track, redrawn every epoch ([SPE] App. C.2), while POP909's slots
are fixed. :meth:`TrioPiece.trio` builds the ``[N, 4]`` trio of :mod:`stripes.music.trio_events`
for one choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stripes.extras import needs
from stripes.music.errors import EmptyMidiError, UnreadableMidiError
from stripes.music.trio_events import TICKS_PER_BEAT, score_to_trio

with needs("music"):
    from symusic.core import ScoreTick

BAR_BEATS = 4  # both corpora are used in 4/4 (Groove2Groove keeps 4-beat styles only)


@dataclass
class TrioPiece:
    """One file, all its source tracks on the grid.

    Attributes:
        name: file stem. style: the style label (Groove2Groove style; POP909: the song itself).
        notes: ``[N, 4]`` int64 (source track, start, duration, pitch), 12 ticks per beat.
        sources: names of the source tracks (the first column of ``notes`` indexes them).
        roles: for each trio slot, the source tracks that may fill it.
        slot_names: names of the trio slots. drum_slots: slots that hold drums.
        qpm: tempo (quarters per minute) of the file's first tempo event.
    """

    name: str
    style: str
    notes: np.ndarray
    sources: tuple[str, ...]
    roles: tuple[tuple[int, ...], ...]
    slot_names: tuple[str, ...]
    drum_slots: tuple[int, ...] = ()
    qpm: float = 120.0

    def counts(self) -> np.ndarray:
        """Notes per source track ``[len(sources)]``."""
        return np.bincount(self.notes[:, 0], minlength=len(self.sources))

    def busiest_choice(self) -> list[int]:
        """For each slot, its candidate with the most notes (the official evaluation's pick for
        the harmonic track; ties go to the first candidate)."""
        counts = self.counts()
        return [max(cands, key=lambda s: (counts[s], -s)) for cands in self.roles]

    def random_choice(self, rng: np.random.Generator) -> list[int]:
        """For each slot, a candidate drawn uniformly among its non-empty ones (among all if
        every candidate is empty)."""
        counts = self.counts()
        out = []
        for cands in self.roles:
            full = [s for s in cands if counts[s] > 0] or list(cands)
            out.append(int(full[int(rng.integers(len(full)))]))
        return out

    def trio(self, choice: Sequence[int] | None = None) -> np.ndarray:
        """The trio ``[N, 4]`` (slot, start, duration, pitch) for ``choice`` (source track per
        slot; the busiest by default), sorted by start, slot, pitch."""
        choice = self.busiest_choice() if choice is None else list(choice)
        parts = []
        for slot, source in enumerate(choice):
            mine = self.notes[self.notes[:, 0] == source].copy()
            mine[:, 0] = slot
            parts.append(mine)
        notes = np.concatenate(parts) if parts else np.zeros((0, 4), np.int64)
        return notes[np.lexsort((notes[:, 3], notes[:, 0], notes[:, 1]))]


def read_score(path: Path) -> ScoreTick:
    """A MIDI file at its own resolution (no resampling: :func:`score_to_trio` rounds each onset
    and each end to the grid). Errors as :func:`stripes.music.midi_io.read_midi` raises them."""
    if not path.is_file():
        raise FileNotFoundError(f"no MIDI file at {path}")
    try:
        score = ScoreTick.from_file(path)
    except RuntimeError as err:  # symusic reports every parse failure as RuntimeError
        raise UnreadableMidiError(f"{path}: unreadable MIDI ({err})") from err
    if score.note_num() == 0:
        raise EmptyMidiError(f"{path}: the MIDI file has no notes")
    return score


def tracks_named(score: ScoreTick, name: str) -> list[int]:
    """Indices of every track named ``name`` (case and surrounding spaces ignored): tracks of
    one name are merged, as the official Groove2Groove preparation does."""
    key = name.strip().lower()
    return [i for i, t in enumerate(score.tracks) if t.name.strip().lower() == key]


def grid_notes(score: ScoreTick, sources: Sequence[str]) -> np.ndarray:
    """Notes ``[N, 4]`` (source track, start, duration, pitch) of the tracks named ``sources``
    on the 12-per-beat grid (a missing name gives an empty source track)."""
    return score_to_trio(score, [tracks_named(score, name) for name in sources])


def first_tempo(score: ScoreTick) -> float:
    """Quarters per minute of the first tempo event (120 if the file has none)."""
    return float(score.tempos[0].qpm) if len(score.tempos) else 120.0


def bar_ticks(bars: int = 1, bar_beats: int = BAR_BEATS) -> int:
    """Grid ticks in ``bars`` bars."""
    return bars * bar_beats * TICKS_PER_BEAT


def drop_before(notes: np.ndarray, tick: int) -> np.ndarray:
    """Notes starting at or after ``tick``, moved back by ``tick`` (a note that starts earlier is
    dropped even if it still sounds at ``tick``, so every crop starts clean)."""
    kept = notes[notes[:, 1] >= tick].copy()
    kept[:, 1] -= tick
    return kept
