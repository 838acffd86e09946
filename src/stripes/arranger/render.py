"""An arrangement as a musician receives it: MIDI, a WAV to listen to, and a readable piano roll.

``write_arrangement(pred, names, out)`` writes the MIDI at ``out`` (``.mid`` or ``.midi`` as
given; ``.mid`` added to a bare name), one track per slot, ``out.wav`` (FluidSynth with a General
MIDI soundfont where installed, else the built-in synthesizer: ``music.audio``) and ``out.png``
(tracks in colours, numbered bars, chord symbols; optionally the original arrangement below it).
With a user's ``song`` the MIDI is on the song's tick grid with its tempo map, time and key
signatures, the ``melody`` track (and any other user's track given in ``kept``, such as a
bridge) is the user's track note for note, and the WAV follows that tempo map. The three files
are written together (all or none, ``stripes.files.OutputSet``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from stripes.analysis.arrangement_plot import chord_symbols, plot_arrangement
from stripes.extras import needs
from stripes.files import OutputSet, check_outputs
from stripes.music.audio import render_wav, wav_stats
from stripes.music.midi_io import STEPS_PER_QUARTER
from stripes.music.pianoroll import N_PITCHES, pianoroll_to_score

with needs("music"):
    from symusic.core import ScoreTick, TempoTick, TrackTick

#: General MIDI programs per task: POP909 (flute melody, clarinet bridge, piano) and the
#: chorales (church organ for every voice).
GM_PROGRAMS = {"pop909": [73, 71, 0], "chorales": [19, 19, 19]}
#: The track names an arrangement's MIDI and plot show, per task.
TRACK_TITLES = {"pop909": ("Melody", "Bridge", "Piano"),
                "chorales": ("Soprano", "Alto+Tenor", "Bass")}
MIDI_SUFFIXES = (".mid", ".midi")


def split_slots(roll: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``[T, n*128]`` -> ``{name: [T, 128] bool}``, skipping silent slots."""
    roll = np.asarray(roll) > 0.5
    out = {name: roll[:, k * N_PITCHES:(k + 1) * N_PITCHES] for k, name in enumerate(names)}
    return {k: v for k, v in out.items() if v.any()}


def arrangement_paths(out: str | Path) -> dict[str, Path]:
    """The files an arrangement writes for ``out``: the MIDI at ``out`` itself (``.mid`` added to
    a name without a MIDI suffix), the WAV and the PNG beside it."""
    out = Path(out)
    midi = out if out.suffix.lower() in MIDI_SUFFIXES else out.with_name(out.name + ".mid")
    return {"midi": midi, "wav": midi.with_suffix(".wav"), "png": midi.with_suffix(".png")}


def arrangement_score(pred: np.ndarray, names: Sequence[str], programs: Sequence[int] | None,
                      qpm: float, song: ScoreTick | None = None,
                      melody: TrackTick | None = None,
                      kept: Mapping[int, TrackTick] | None = None,
                      onsets: np.ndarray | None = None) -> ScoreTick:
    """The arrangement ``[T, n*128]`` as a score (``onsets``, same shape, split repeated
    notes); with a user's ``song`` (any tick grid), on its grid with its tempos, time and key
    signatures, ``melody`` (a track of ``song``) as the first track and each track of ``kept``
    (slot index -> a track of ``song``) in its slot, their notes, durations and velocities as
    written, named and voiced as the slot."""
    score = pianoroll_to_score(np.asarray(pred, bool), list(names), programs, onsets=onsets)
    if song is None:
        score.tempos[0].qpm = float(qpm)
        return score
    if song.ticks_per_quarter != STEPS_PER_QUARTER:
        score = score.resample(song.ticks_per_quarter, min_dur=1)
    if len(song.tempos):
        score.tempos = song.tempos.copy()
    if len(song.time_signatures):
        score.time_signatures = song.time_signatures.copy()
    score.key_signatures = song.key_signatures.copy()
    if not len(score.tempos):
        score.tempos.append(TempoTick(0, float(qpm)))
    users = {**({0: melody} if melody is not None else {}), **(kept or {})}
    for slot, track in users.items():
        copy = track.copy()
        copy.name, copy.program, copy.is_drum = names[slot], score.tracks[slot].program, False
        score.tracks[slot] = copy
    return score


def write_arrangement(pred: np.ndarray, names: Sequence[str], out: str | Path, *,
                      root: np.ndarray | None = None, chroma: np.ndarray | None = None,
                      qpm: float = 120.0, programs: Sequence[int] | None = None,
                      reference: np.ndarray | None = None, title: str | None = None,
                      renderer: str = "auto", song: ScoreTick | None = None,
                      melody: TrackTick | None = None, kept: Mapping[int, TrackTick] | None = None,
                      inputs: Sequence[str | Path] = (), overwrite: bool = False,
                      onsets: np.ndarray | None = None) -> dict:
    """Write the MIDI, WAV and PNG of :func:`arrangement_paths` (all or none).

    pred, reference: binary ``[T, n*128]`` (``n = len(names)``), ``onsets`` (same shape) where
    the notes of ``pred`` begin (repeated notes kept apart); root, chroma: ``[T]`` chord
    labels (root pitch class + 1, 12-bit chroma) for the chord symbols; song, melody, kept: see
    :func:`arrangement_score`. Refuses (before writing) a file that is one of ``inputs``, or one
    that exists without ``overwrite``. Returns the paths, the renderer used, the WAV's
    ``wav_stats`` (duration, loudness, silent share) and ``inaudible_notes`` (notes the built-in
    synthesizer cannot sound). A render that is not finite or is silent raises
    ``music.audio.RenderError`` and writes none of the three files.
    """
    paths = arrangement_paths(out)
    check_outputs(list(paths.values()), inputs, overwrite)
    score = arrangement_score(pred, names, programs, qpm, song, melody, kept, onsets)
    chords = chord_symbols(root, chroma) if root is not None and chroma is not None else None
    with OutputSet() as files:
        score.dump_midi(str(files.stage(paths["midi"])))
        audio = render_wav(score, files.stage(paths["wav"]),
                           programs=list(programs or []) or None, renderer=renderer)
        stats = wav_stats(audio["path"])
        plot_arrangement(split_slots(pred, names), files.stage(paths["png"]), chords=chords,
                         title=title,
                         reference=None if reference is None else split_slots(reference, names),
                         panel_titles=("stripes arrangement", "original"))
    return {"midi": str(paths["midi"]), "wav": str(paths["wav"]), "png": str(paths["png"]),
            "renderer": audio["renderer"], "wav_stats": stats,
            "inaudible_notes": audio["inaudible_notes"]}
