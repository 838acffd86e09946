"""A user's chords on the harmonizer's grid, with the root each chord is named by.

``read_chords_file`` reads POP909's ``finalized_chord.txt`` format (``label [pitch classes] bass
duration_in_beats`` per line, from the first beat of bar 1); the root is the note the label starts
with (``C:maj/3``, ``C/E``: C; ``Am7/G``: A), never the slash bass. ``read_chord_track`` reads a
MIDI track of block chords, one chord per beat (the pitch classes sounding on it, the lowest as
bass, the root from the tones: :func:`~stripes.music.chords.chord_root`). Both keep where the
chords themselves end, so that chords stopping before the melody, or running past it, are said
(:func:`chord_span_warning`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stripes.extras import needs
from stripes.music.chords import chord_root, parse_chord_line
from stripes.music.errors import MissingTrackError
from stripes.music.midi_io import STEPS_PER_QUARTER, find_track, track_to_notes
from stripes.music.pianoroll import notes_to_pianoroll

STEPS_PER_BEAT = STEPS_PER_QUARTER  # the chords file counts quarter-note beats
STEPS_PER_BAR = 4 * STEPS_PER_BEAT  # 4/4 only (the melody's meter is checked)

with needs("music"):
    from symusic.core import ScoreTick


@dataclass(frozen=True)
class SongChords:
    """Chords per step of the melody's grid, ``[T]`` each: ``bass1`` (bass + 1), ``root1``
    (root + 1; 0 = no chord), ``chroma`` (12-bit); ``end``: the step where the chords themselves
    end (may be past ``T``, the melody's length)."""

    bass1: np.ndarray
    root1: np.ndarray
    chroma: np.ndarray
    end: int


def read_chords_file(path: str | Path, n_steps: int) -> SongChords:
    """The chords of a ``finalized_chord.txt``-style file over ``n_steps`` steps."""
    bass1, root1, chroma = (np.zeros(n_steps, np.int64) for _ in range(3))
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: no chord lines")
    step = 0
    for line in lines:
        chord = parse_chord_line(line, source=str(path))
        lo, hi = min(step, n_steps), min(step + chord.beats * STEPS_PER_BEAT, n_steps)
        bass1[lo:hi], root1[lo:hi], chroma[lo:hi] = chord.bass + 1, chord.root + 1, chord.chroma
        step += chord.beats * STEPS_PER_BEAT
    return SongChords(bass1, root1, chroma, end=step)


def read_chord_track(score: ScoreTick, name: str, n_steps: int) -> SongChords:
    """The block chords of track ``name`` of a score on the 16-per-quarter grid: per beat, the
    pitch classes sounding, the lowest pitch as bass, the root named by the tones."""
    notes = track_to_notes(find_track(score, name))
    roll = notes_to_pianoroll(notes, n_steps) > 0
    bass1, root1, chroma = (np.zeros(n_steps, np.int64) for _ in range(3))
    for start in range(0, n_steps, STEPS_PER_BEAT):
        beat = slice(start, start + STEPS_PER_BEAT)
        pitches = np.flatnonzero(roll[beat].any(axis=0))
        if len(pitches):
            bits = sum(1 << int(pc) for pc in set(pitches % 12))
            bass = int(pitches.min()) % 12
            bass1[beat], chroma[beat] = bass + 1, bits
            root1[beat] = chord_root(bits, bass) + 1
    if not chroma.any():
        raise MissingTrackError(f"chord track {name!r} has no notes")
    end = int((notes[:, 0] + notes[:, 1]).max())
    return SongChords(bass1, root1, chroma, end=-(-end // STEPS_PER_BEAT) * STEPS_PER_BEAT)


def bar_of(step: int) -> int:
    """The bar (1-based, as musicians count) that holds the step before ``step``: the last bar
    of something that ends at ``step``."""
    return max(step - 1, 0) // STEPS_PER_BAR + 1


def beat_of(step: int) -> int:
    """The beat (1-based) within its bar that holds the step before ``step``."""
    return max(step - 1, 0) % STEPS_PER_BAR // STEPS_PER_BEAT + 1


def _bars(first: int, last: int) -> str:
    return f"bar {first}" if first == last else f"bars {first}-{last}"


def chord_span_warning(chords_end: int, melody_end: int) -> str | None:
    """One line when the chords stop before the melody or run whole bars past it, with bar
    numbers counted from 1; None when they end together (or in the melody's last bar)."""
    chords_bar, melody_bar = bar_of(chords_end), bar_of(melody_end)
    if chords_end < melody_end and chords_bar < melody_bar:
        gets = "gets" if chords_bar + 1 == melody_bar else "get"
        return (f"chords end at bar {chords_bar} but the melody goes on to bar {melody_bar}: "
                f"{_bars(chords_bar + 1, melody_bar)} {gets} no chord")
    if chords_end < melody_end:
        return (f"chords end at beat {beat_of(chords_end)} of bar {chords_bar} but the melody "
                f"goes on to beat {beat_of(melody_end)}: the rest of bar {chords_bar} gets no "
                "chord")
    if chords_bar > melody_bar:
        return (f"chords go on to bar {chords_bar} but the melody ends at bar {melody_bar}: the "
                f"chords of {_bars(melody_bar + 1, chords_bar)} are not used (the arrangement "
                "ends with the melody)")
    return None
