"""Binary pianorolls <-> note arrays and MIDI scores, on the grid of 16 steps per quarter.

A pianoroll is a bool array ``[T, 128]`` (time first, as the models consume it); several tracks
are stacked along the pitch axis, ``[T, K * 128]``, track k in columns ``k*128 .. k*128+127``.
Frame pianorolls merge repeated notes of one pitch; pass an onset roll to keep them apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stripes.extras import needs
from stripes.music.midi_io import (
    STEPS_PER_QUARTER,
    find_track,
    notes_to_score,
    resample_score,
    track_to_notes,
)

with needs("music"):
    from symusic.core import ScoreTick

N_PITCHES = 128


def notes_to_pianoroll(notes: np.ndarray, n_steps: int | None = None, start: int = 0) -> np.ndarray:
    """Frame pianoroll ``[T, 128]`` bool of note array ``[N, 3]`` (start, duration, pitch).

    Covers steps ``start .. start + T`` (T = ``n_steps``, default: up to the last note end);
    notes are clipped to that window.
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 3)
    if n_steps is None:
        n_steps = int((notes[:, 0] + notes[:, 1]).max()) - start if len(notes) else 0
    on = np.clip(notes[:, 0] - start, 0, n_steps)
    off = np.clip(notes[:, 0] + notes[:, 1] - start, 0, n_steps)
    keep = (on < off) & (notes[:, 2] >= 0) & (notes[:, 2] < N_PITCHES)
    on, length, pitch = on[keep], (off - on)[keep], notes[keep, 2]
    # one index per active cell: cost grows with the notes, not with the T x 128 grid
    first = np.repeat(np.cumsum(length) - length, length)
    steps = np.repeat(on, length) + np.arange(int(length.sum())) - first
    roll = np.zeros((n_steps, N_PITCHES), dtype=bool)
    roll[steps, np.repeat(pitch, length)] = True
    return roll


def notes_to_onsets(notes: np.ndarray, n_steps: int, start: int = 0) -> np.ndarray:
    """Onset roll ``[T, 128]`` bool: True where a note of the array ``[N, 3]`` begins."""
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 3)
    t = notes[:, 0] - start
    keep = (t >= 0) & (t < n_steps)
    roll = np.zeros((n_steps, N_PITCHES), dtype=bool)
    roll[t[keep], notes[keep, 2]] = True
    return roll


def pianoroll_to_notes(roll: np.ndarray, onsets: np.ndarray | None = None) -> np.ndarray:
    """Note array ``[N, 3]`` int32 of a pianoroll ``[T, 128]``: one note per run of active steps.

    With an onset roll ``[T, 128]``, a run is also split where an onset falls inside it, so
    repeated notes survive the round trip.
    """
    roll = np.asarray(roll, dtype=bool)
    prev = np.zeros_like(roll)
    prev[1:] = roll[:-1]
    begins = roll & ~prev
    if onsets is not None:
        begins |= roll & np.asarray(onsets, dtype=bool)
    nxt_on = np.zeros_like(roll)
    nxt_on[:-1] = roll[1:]
    nxt_begin = np.zeros_like(roll)
    nxt_begin[:-1] = begins[1:]
    ends = roll & (~nxt_on | nxt_begin)
    # nonzero of the transpose is sorted by pitch, then time: begins and ends pair up in order
    p_on, t_on = np.nonzero(begins.T)
    _, t_off = np.nonzero(ends.T)
    notes = np.stack([t_on, t_off + 1 - t_on, p_on], axis=1).astype(np.int32)
    order = np.lexsort((notes[:, 2], notes[:, 0]))
    return notes[order]


def score_to_pianoroll(
    score: ScoreTick, track_names: Sequence[str], n_steps: int | None = None
) -> np.ndarray:
    """Stacked pianoroll ``[T, K * 128]`` bool of the named tracks, resampled to 16 per quarter.

    T defaults to the end of the last note of the named tracks; a missing name raises
    :class:`~stripes.music.errors.MissingTrackError`.
    """
    score = resample_score(score, STEPS_PER_QUARTER)
    tracks = [track_to_notes(find_track(score, name)) for name in track_names]
    if n_steps is None:
        ends = [int((n[:, 0] + n[:, 1]).max()) for n in tracks if len(n)]
        n_steps = max(ends, default=0)
    return np.concatenate([notes_to_pianoroll(n, n_steps) for n in tracks], axis=1)


def split_tracks(roll: np.ndarray) -> list[np.ndarray]:
    """The K single-track pianorolls ``[T, 128]`` of a stacked pianoroll ``[T, K * 128]``."""
    if roll.shape[1] % N_PITCHES:
        raise ValueError(f"pianoroll has {roll.shape[1]} columns, not a multiple of {N_PITCHES}")
    return [roll[:, k : k + N_PITCHES] for k in range(0, roll.shape[1], N_PITCHES)]


def pianoroll_to_score(
    roll: np.ndarray,
    track_names: Sequence[str],
    programs: Sequence[int] | None = None,
    onsets: np.ndarray | None = None,
) -> ScoreTick:
    """A 4/4 score at 16 ticks per quarter of a stacked pianoroll ``[T, K * 128]``.

    One track per 128-column block, named by ``track_names``; ``onsets`` (same shape) splits
    repeated notes. ``score_to_pianoroll(pianoroll_to_score(r, names), names, len(r))`` equals
    ``r``: the round trip is lossless on the grid.
    """
    rolls = split_tracks(np.asarray(roll, dtype=bool))
    if len(rolls) != len(track_names):
        raise ValueError(f"{len(rolls)} tracks in the pianoroll but {len(track_names)} names")
    onset_rolls = (
        split_tracks(np.asarray(onsets, bool)) if onsets is not None else [None] * len(rolls)
    )
    tracks = [pianoroll_to_notes(r, o) for r, o in zip(rolls, onset_rolls, strict=True)]
    return notes_to_score(tracks, track_names, programs)


def transpose_pianoroll(roll: np.ndarray, shift: int) -> np.ndarray:
    """Pianoroll ``[T, K * 128]`` moved by ``shift`` semitones per track; notes pushed out of
    0..127 are dropped (no wrap-around)."""
    out = np.zeros_like(roll)
    for k in range(0, roll.shape[1], N_PITCHES):
        block = roll[:, k : k + N_PITCHES]
        if shift >= 0:
            out[:, k + shift : k + N_PITCHES] = block[:, : N_PITCHES - shift]
        else:
            out[:, k : k + N_PITCHES + shift] = block[:, -shift:]
    return out
