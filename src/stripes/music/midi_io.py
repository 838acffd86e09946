"""MIDI input and output through symusic, on the tick grid of every task: 16 steps per quarter.

A *note array* is the int32 array ``[N, 3]`` of ``(start, duration, pitch)`` in grid steps, sorted
by start then pitch; it is what :mod:`stripes.music.pianoroll` turns into binary pianorolls.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np

from stripes.extras import needs
from stripes.music.errors import (
    EmptyMidiError,
    MissingTrackError,
    UnreadableMidiError,
    UnsupportedMeterError,
)

with needs("music"):
    import symusic
    from symusic.core import NoteTickList, ScoreTick, TempoTick, TimeSignatureTick, TrackTick

STEPS_PER_QUARTER = 16
BAR_STEPS = 64  # one 4/4 bar
SUPPORTED_METERS = ((4, 4),)


def read_midi(path: str | Path, tpq: int | None = STEPS_PER_QUARTER) -> ScoreTick:
    """Read a MIDI file and resample it to ``tpq`` ticks per quarter (notes keep >= 1 tick);
    ``tpq=None`` keeps the file's own grid (a user's notes exactly as written).

    Raises :class:`UnreadableMidiError` for a file symusic cannot parse (truncated, not MIDI) and
    :class:`EmptyMidiError` for a file without notes; a missing path raises FileNotFoundError.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no MIDI file at {path}")
    try:
        score = cast(ScoreTick, symusic.Score(str(path)))  # the factory's stub erases the unit
    except RuntimeError as err:  # symusic reports every parse failure as RuntimeError
        raise UnreadableMidiError(f"{path}: unreadable MIDI ({err})") from err
    if score.note_num() == 0:
        raise EmptyMidiError(f"{path}: the MIDI file has no notes")
    return score if tpq is None else resample_score(score, tpq)


def resample_score(score: ScoreTick, tpq: int = STEPS_PER_QUARTER) -> ScoreTick:
    """The score on a grid of ``tpq`` ticks per quarter; notes shorter than a tick last one tick."""
    if score.ticks_per_quarter == tpq:
        return score.copy()
    return score.resample(tpq, min_dur=1)


def write_midi(score: ScoreTick, path: str | Path) -> Path:
    """Write ``score`` as a MIDI file (parent folders are created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))
    return path


def find_track(score: ScoreTick, name: str, source: str = "score") -> TrackTick:
    """The track named ``name`` (case and surrounding spaces ignored).

    Raises :class:`MissingTrackError` naming the tracks that exist.
    """
    for track in score.tracks:
        if track.name.strip().lower() == name.strip().lower():
            return track
    names = [t.name for t in score.tracks]
    raise MissingTrackError(f"{source}: no track named {name!r} (tracks: {names})")


def track_to_notes(track: TrackTick) -> np.ndarray:
    """The notes of a tick-grid track as an int32 note array ``[N, 3]`` (start, duration, pitch)."""
    arrays = track.notes.numpy()
    notes = np.stack([arrays["time"], arrays["duration"], arrays["pitch"]], axis=1)
    return sort_notes(notes.astype(np.int32))


def sort_notes(notes: np.ndarray) -> np.ndarray:
    """Note array ``[N, 3]`` (start, duration, pitch) sorted by start, then pitch."""
    notes = np.asarray(notes)
    if len(notes) == 0:
        return notes.reshape(0, notes.shape[1] if notes.ndim == 2 else 3)
    order = np.lexsort((notes[:, 2], notes[:, 0]))
    return notes[order]


def notes_to_score(
    tracks: Sequence[np.ndarray],
    names: Sequence[str],
    programs: Sequence[int] | None = None,
    tpq: int = STEPS_PER_QUARTER,
    velocity: int = 80,
    qpm: float = 120.0,
) -> ScoreTick:
    """A 4/4 score at ``tpq`` ticks per quarter with one track per note array ``[N, 3]``."""
    # the tick classes the factories dispatch to, typed where the factories' stubs are generic
    score = ScoreTick(tpq)
    score.time_signatures.append(TimeSignatureTick(0, 4, 4))
    score.tempos.append(TempoTick(0, qpm))
    programs = programs if programs is not None else [0] * len(tracks)
    for notes, name, program in zip(tracks, names, programs, strict=True):
        track = cast(TrackTick, symusic.Track(name=name, program=int(program)))
        notes = np.asarray(notes, dtype=np.int32).reshape(-1, 3)
        if len(notes):
            track.notes.extend(
                NoteTickList.from_numpy(
                    notes[:, 0].copy(),
                    notes[:, 1].copy(),
                    notes[:, 2].astype(np.int8),
                    np.full(len(notes), velocity, dtype=np.int8),
                )
            )
        score.tracks.append(track)
    return score


def check_meter(numerator: int, denominator: int, source: str = "score") -> int:
    """Bar length in steps of a supported meter (only 4/4: 64 steps).

    Raises :class:`UnsupportedMeterError` for any other meter: windows, bar and beat labels and
    the papers' metrics all assume 4/4 bars of 64 steps.
    """
    if (int(numerator), int(denominator)) not in SUPPORTED_METERS:
        raise UnsupportedMeterError(
            f"{source}: meter {numerator}/{denominator} is not supported (only 4/4: the tasks "
            f"use bars of {BAR_STEPS} steps)"
        )
    return BAR_STEPS
