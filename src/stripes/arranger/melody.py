"""The user's melody: which track it is, what the harmonizer hears of it, and what is kept.

``choose_melody`` picks the melody track of a score (``--melody-track NAME``, else a track named
"melody", else the only pitched track with notes; drum tracks, channel 10 / ``is_drum``, are never
taken) and says what it could not keep for the harmonizer: zero-length notes are ignored (all of
them: refused), a polyphonic part is reduced to its top line for the model. The arrangement's
melody track is always the chosen track as written (notes, durations, velocities, on the file's own
tick grid); only the model's input is reduced.

``choose_bridge`` finds the bridge, the POP909 harmonizer's second input (``--bridge-track NAME``,
else a pitched track named "bridge"); ``bridge_for_model`` is what the harmonizer hears of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stripes.extras import needs
from stripes.music.errors import MissingTrackError
from stripes.music.midi_io import (
    STEPS_PER_QUARTER,
    check_meter,
    find_track,
    sort_notes,
    track_to_notes,
)
from stripes.music.pianoroll import notes_to_pianoroll

with needs("music"):
    from symusic.core import ScoreTick, TrackTick


def check_four_four(score: ScoreTick) -> None:
    """Refuse any meter but 4/4 (the harmonizer works on 4/4 bars): the corpus's own check,
    :func:`~stripes.music.midi_io.check_meter`, on every time signature."""
    for ts in score.time_signatures:
        check_meter(ts.numerator, ts.denominator, f"time signature at tick {ts.time}")


def choose_melody(score: ScoreTick, name: str | None,
                  exclude: Sequence[int] = ()) -> tuple[int, list[str]]:
    """``(index of the melody track in score.tracks, warnings)``; drum tracks are skipped, and
    so are the tracks at ``exclude`` (the bridge, the chords) when no name is given."""
    tracks = list(score.tracks)
    if name is not None:
        track = find_track(score, name)
        if track.is_drum:
            raise MissingTrackError(f"track {track.name!r} is a drum track (MIDI channel 10), "
                                    "not a melody: name another with --melody-track")
        return tracks.index(track), []
    drums = [t for t in tracks if t.is_drum and len(t.notes)]
    pitched = [t for i, t in enumerate(tracks)
               if not t.is_drum and len(t.notes) and i not in exclude]
    named = [t for t in pitched if t.name.strip().lower() == "melody"]
    if len(named) != 1 and len(pitched) != 1:
        skipped = f" (drum tracks skipped: {[t.name for t in drums]})" if drums else ""
        raise MissingTrackError(
            f"cannot tell the melody among tracks {[t.name for t in tracks]}{skipped}: "
            "name it with --melody-track")
    chosen = (named or pitched)[0]
    warnings = [f"track {t.name!r} is a drum track (MIDI channel 10): not taken for the melody"
                for t in drums]
    return tracks.index(chosen), warnings


def melody_for_model(native: TrackTick, grid: TrackTick) -> tuple[np.ndarray, list[str]]:
    """The melody the harmonizer hears: a binary pianoroll ``[T, 128]`` on the 16-per-quarter
    grid, with warnings naming the track and what was done.

    native: the chosen track on the file's own grid (zero lengths as written); grid: the same
    track resampled to 16 steps per quarter. Zero-length notes are dropped (all zero: refused);
    where several pitches sound at once, only the highest is kept (the top line).
    """
    name = native.name or "(unnamed)"
    if not len(native.notes):
        raise MissingTrackError(f"melody track {name!r} has no notes")
    durations = native.notes.numpy()["duration"]
    zero = durations <= 0
    if zero.all():
        raise MissingTrackError(f"melody track {name!r}: all {len(zero)} notes have zero length "
                                "(nothing to harmonize)")
    warnings = []
    g = grid.notes.numpy()  # the same notes in the same order, on the 16-per-quarter grid
    notes = sort_notes(np.stack([g["time"], g["duration"], g["pitch"]], axis=1)[~zero])
    if zero.any():
        warnings.append(f"melody track {name!r}: {int(zero.sum())} zero-length notes are not "
                        "given to the harmonizer (kept in the MIDI as written)")
    n = int((notes[:, 0] + notes[:, 1]).max())
    roll = notes_to_pianoroll(notes, n) > 0
    chords = roll.sum(axis=1) > 1
    if chords.any():
        roll = top_line(roll)
        warnings.append(f"melody track {name!r} is polyphonic ({int(chords.sum())} of {n} steps "
                        "sound several pitches): the harmonizer follows its top line; the track "
                        "is kept in the MIDI as written")
    return roll, warnings


def top_line(roll: np.ndarray) -> np.ndarray:
    """The highest sounding pitch of each step of a binary pianoroll ``[T, 128]``."""
    out = np.zeros_like(roll, dtype=bool)
    sounding = roll.any(axis=1)
    highest = 127 - np.argmax(roll[:, ::-1], axis=1)
    out[np.flatnonzero(sounding), highest[sounding]] = True
    return out


def choose_bridge(score: ScoreTick, name: str | None) -> int | None:
    """Index of the bridge track in ``score.tracks``: the track named ``name`` (an error when it
    is missing, a drum track or empty), else the one pitched track with notes named "bridge"
    (case ignored; POP909's own files name it BRIDGE), else None."""
    tracks = list(score.tracks)
    if name is not None:
        track = find_track(score, name)
        if track.is_drum or not len(track.notes):
            why = "is a drum track (MIDI channel 10)" if track.is_drum else "has no notes"
            raise MissingTrackError(f"bridge track {track.name!r} {why}: name another with "
                                    "--bridge-track, or leave it out")
        return tracks.index(track)
    named = [i for i, t in enumerate(tracks)
             if t.name.strip().lower() == "bridge" and not t.is_drum and len(t.notes)]
    return named[0] if len(named) == 1 else None


def bridge_for_model(grid: TrackTick, n_steps: int) -> tuple[np.ndarray, list[str]]:
    """The bridge the harmonizer hears: a binary pianoroll ``[n_steps, 128]`` of the track on the
    16-per-quarter grid, every pitch kept (the corpus's bridge is polyphonic too), zero-length
    notes and notes after the melody's last step left out, with a warning naming what was cut."""
    name = grid.name or "(unnamed)"
    notes = track_to_notes(grid)
    notes = notes[notes[:, 1] > 0]
    warnings = []
    end = int((notes[:, 0] + notes[:, 1]).max()) if len(notes) else 0
    if end > n_steps:
        bar = 4 * STEPS_PER_QUARTER
        warnings.append(f"bridge track {name!r} goes on to bar {-(-end // bar)} but the melody "
                        f"ends in bar {-(-n_steps // bar)}: the harmonizer hears the bridge up "
                        "to the melody's end (the MIDI keeps the whole track)")
    return notes_to_pianoroll(notes, n_steps) > 0, warnings
