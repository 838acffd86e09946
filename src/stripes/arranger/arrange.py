"""Harmonize a user's song: a melody MIDI plus chords in, an arrangement and its warnings out.

``arrange_song`` reads the melody (a named track, or the one ``arranger.melody`` picks), the
POP909 harmonizer's second input, the bridge (a named track, or one called "bridge"; else an
empty bridge, said in the warnings), and the chords (``arranger.song_chords``: a text file in
POP909's ``finalized_chord.txt`` format or a MIDI track of block chords; the root named by the
chord, not its bass); builds the structure labels and positions the trained model expects,
predicts, binarizes with the run's validated grid, runs the musical sanity check, and returns an
:class:`Arrangement` whose ``warnings`` say in plain words what the user should know.
``write_song`` writes it as MIDI (the melody and bridge tracks kept note for note, the song's
tempo map and time signatures), a WAV and a PNG; ``harmonize_song`` is the two, for
``stripes harmonize``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stripes.arranger.melody import (
    bridge_for_model,
    check_four_four,
    choose_bridge,
    choose_melody,
    melody_for_model,
)
from stripes.arranger.notices import (
    BRIDGE_INPUT,
    no_bridge_notice,
    render_notices,
    sanity_notices,
)
from stripes.arranger.song_chords import chord_span_warning, read_chord_track, read_chords_file
from stripes.evaluation.harmonization.binarization import DECODE_KEYS
from stripes.evaluation.harmonization.layout import KNOWN_LAYOUTS
from stripes.evaluation.harmonization.sanity import sanity_check
from stripes.extras import needs
from stripes.files import check_outputs
from stripes.music.chords import chord_keys, chord_root, parse_key
from stripes.music.errors import MissingTrackError
from stripes.music.midi_io import (
    find_track,
    read_midi,
    resample_score,
    track_to_notes,
)
from stripes.music.structure import (
    PAD_PHRASE,
    bar_labels,
    complete_labels,
    structure_features,
    structure_positions,
    tempo_bucket,
)
from stripes.tasks.harmonization.data import task_corpus
from stripes.tasks.harmonization.predict import Texture, harmonize_pianoroll

with needs("music"):
    from symusic.core import ScoreTick, TrackTick


def read_melody(score: ScoreTick, track: str | None) -> np.ndarray:
    """Melody notes ``[N, 3]`` (start, duration, pitch) on the 16-per-quarter grid of the track
    :func:`choose_melody` picks."""
    check_four_four(score)
    index, _ = choose_melody(score, track)
    notes = track_to_notes(score.tracks[index])
    if len(notes) == 0:
        raise MissingTrackError("the melody track has no notes")
    return notes


def chords_from_file(path: str | Path, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(bass1 [T], chroma [T])`` from a ``finalized_chord.txt``-style file
    (:func:`~stripes.arranger.song_chords.read_chords_file` keeps the roots and the end too)."""
    chords = read_chords_file(path, n_steps)
    return chords.bass1, chords.chroma


def chords_from_track(score, name: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(bass1 [T], chroma [T])``: per beat, the pitch classes sounding and the lowest pitch
    (:func:`~stripes.arranger.song_chords.read_chord_track` keeps the roots and the end too)."""
    chords = read_chord_track(score, name, n_steps)
    return chords.bass1, chords.chroma


def song_labels(
    melody: np.ndarray, bass1: np.ndarray, chroma: np.ndarray, vocab, key: int, tempo_bucket: int,
    root1: np.ndarray | None = None,
) -> tuple[dict, list[str]]:
    """Every structure label ``[T]`` of the song, and warnings (chords outside the vocabulary
    become "no chord"; phrases are unknown and get the unlabelled letter).

    melody: the binary pianoroll ``[T, 128]`` the harmonizer hears (its highest pitch per step
    is the melody label). root1: root + 1 per step ``[T]``, from the chord names (the corpus's
    ROOT label is the named root, not the bass); None: named from the tones (``chord_root``)."""
    n = len(bass1)
    warnings = []
    keys = chord_keys(bass1, chroma)
    ids = np.zeros(n, np.int64)
    for k in np.unique(keys):
        try:
            ids[keys == k] = vocab.ids_of_keys(np.array([k]))[0]
        except KeyError:
            warnings.append(
                f"chord (bass+1={k // 4096}, chroma={k % 4096:#05x}) is not in the "
                "model's vocabulary: treated as no chord"
            )
            ids[keys == k] = _no_chord_id(vocab)
    sounding = melody.any(axis=1)
    mel = np.where(sounding, 127 - np.argmax(melody[:, ::-1], axis=1), 0).astype(np.int64)
    base = {
        "chord": ids,
        "root": np.where(chroma > 0, tone_roots(bass1, chroma) if root1 is None else root1, 0),
        "melody": mel,
        "phrase": np.full(n, PAD_PHRASE),
        "phrase_index": np.zeros(n, np.int64),
        "phrase_pos": np.arange(n),
        **bar_labels(0, n),
    }
    return complete_labels(base, vocab, key, tempo_bucket), warnings


def tone_roots(bass1: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Root + 1 ``[T]`` of chords known by bass + 1 and chroma ``[T]`` (0 where no chord)."""
    keys, inverse = np.unique(chord_keys(bass1, chroma), return_inverse=True)
    roots = [chord_root(int(k % 4096), int(k // 4096) - 1) + 1 if k % 4096 else 0 for k in keys]
    return np.asarray(roots, np.int64)[inverse.reshape(-1)]


def arrange_melody(model, config, binarization: dict, vocab, melody: np.ndarray,
                   bass1: np.ndarray, chroma: np.ndarray, key: int = 0, qpm: float = 120.0,
                   seed: int = 0, *, root1: np.ndarray | None = None,
                   bridge: np.ndarray | None = None,
                   texture: Texture = Texture(),  # noqa: B008 (frozen: one default is safe)
                   ) -> tuple[np.ndarray, dict, list[str]]:
    """The harmonizer's arrangement ``[T, 384]`` of a melody over given chords (``seed`` draws a
    stochastic PE's code; ``texture`` moves an onset harmonizer's strikes).

    melody: binary pianoroll ``[T, 128]``; bass1, chroma, root1: ``[T]`` chords per step (see
    :func:`song_labels`); bridge: binary ``[T, 128]``, the second input slot (POP909's bridge;
    None: silent, as the chorale harmonizer always reads it). Returns ``(arrangement with the
    melody roll as its first track, labels, warnings)``.
    """
    n = len(chroma)
    roll = np.asarray(melody, bool)
    labels, warnings = song_labels(roll, bass1, chroma, vocab, key, tempo_bucket(qpm), root1)
    inputs = torch.zeros(1, n, 256)
    inputs[0, :, :128] = torch.from_numpy(roll.astype(np.float32))
    if bridge is not None:
        inputs[0, :, 128:] = torch.from_numpy(np.asarray(bridge, np.float32))
    if config.input_features:
        feats = torch.from_numpy(structure_features(labels, config.input_features))[None]
        inputs = torch.cat([inputs, feats], dim=-1)
    positions = torch.from_numpy(structure_positions(labels, config.context))[None]
    pred, onsets = harmonize_pianoroll(model, inputs, positions, binarization, seed, texture)
    pred[:, :128] = roll  # the picture and sanity checks; the MIDI keeps the user's track
    if onsets is not None:  # an onset harmonizer strikes its own notes
        return pred, labels, warnings
    return restrike_at_chord_changes(pred, labels["root"], labels["chroma"]), labels, warnings


def restrike_at_chord_changes(pred: np.ndarray, root: np.ndarray, chroma: np.ndarray,
                              first_slot: int = 1) -> np.ndarray:
    """Release every accompaniment note held across a chord change for one step, so that it is
    struck again with the new chord (as a player would), instead of one note tied for bars.

    pred: binary ``[T, n*128]`` (a copy is returned); root, chroma: ``[T]`` chord labels; slots
    from ``first_slot`` on are the accompaniment. Applied to arrangements of users' songs only;
    the evaluation scores the binarized prediction as it is.
    """
    out = np.array(pred, dtype=bool, copy=True)
    change = np.flatnonzero((np.diff(root) != 0) | (np.diff(chroma) != 0)) + 1
    acc = out[:, first_slot * 128:]
    held = acc[change - 1] & acc[change]
    acc[change - 1] &= ~held
    return out


@dataclass
class Arrangement:
    """A user's song arranged by a harmonizer: what ``stripes harmonize`` writes and a page shows.

    roll: binary ``[T, n*128]``, every slot of the harmonizer (POP909: melody | bridge | piano;
    the melody and bridge slots hold what the model heard); root, chroma: the chords ``[T]``
    (root + 1, 12-bit chroma); tracks: the slots the MIDI holds, in order, as
    ``(slot index, track name)``; warnings: plain-language lines (chords that stop early or run
    on, chords outside the vocabulary, what stands in for a missing bridge, the failed sanity
    rules, the WAV's silent notes); sanity: the ``sanity_check`` result; kept: slot index ->
    the user's track written note for note (the melody, the bridge); song: the user's score.
    """

    roll: np.ndarray
    root: np.ndarray
    chroma: np.ndarray
    tracks: tuple[tuple[int, str], ...]
    warnings: list[str]
    sanity: dict
    qpm: float
    binarization: dict
    data: str
    song: ScoreTick
    kept: dict[int, TrackTick]
    title: str = ""

    @property
    def steps(self) -> int:
        """Number of 16-per-quarter steps ``T``."""
        return len(self.roll)

    @property
    def track_names(self) -> tuple[str, ...]:
        """The MIDI's track names, in order."""
        return tuple(name for _, name in self.tracks)


def arrange_song(checkpoint: str | Path, midi_path: str | Path, *,
                 chords: str | Path | None = None, chord_track: str | None = None,
                 melody_track: str | None = None, bridge_track: str | None = None,
                 key: str = "C:maj", seed: int = 0, density: float = 1.0) -> Arrangement:
    """Arrange ``midi_path`` (no file written): the :class:`Arrangement` with its warnings.

    Texture (onset harmonizers, ``tasks.harmonization.predict.Texture``): ``density`` multiplies
    the odds of every strike (2: busier, 0.5: sparser); ``seed`` 0 is the validated decode,
    another seed a variation (another figure, the same in every bar; "try again").

    checkpoint: a shipped name (``pop909``, ``chorales``), a weights folder, a run folder or a
    checkpoint in one. chords (a ``finalized_chord.txt``-style file) or chord_track (a MIDI
    track of block chords): exactly one. bridge_track: the POP909 harmonizer's second input;
    None takes a track named "bridge" when there is one, else the model hears an empty bridge
    (said in the warnings).
    """
    from stripes.arranger.pretrained import load_any_harmonizer
    from stripes.arranger.render import TRACK_TITLES

    if (chords is None) == (chord_track is None):
        raise ValueError("give exactly one of --chords FILE or --chord-track NAME")
    key_id = parse_key(key, source="--key")  # before any file is read
    song = read_midi(midi_path, tpq=None)  # the user's notes as written
    grid = resample_score(song)  # the same notes on the model's 16-per-quarter grid
    check_four_four(grid)
    names = [t.name for t in grid.tracks]
    chord_index = names.index(find_track(grid, chord_track).name) if chord_track else None
    bridge_index = choose_bridge(grid, bridge_track)
    index, warnings = choose_melody(grid, melody_track, exclude=[
        i for i in (bridge_index, chord_index) if i is not None])
    roll, notes_warnings = melody_for_model(song.tracks[index], grid.tracks[index])
    n = len(roll)
    sheet = (read_chords_file(chords, n) if chords is not None
             else read_chord_track(grid, str(chord_track), n))
    model, cfg, choice, vocab = load_any_harmonizer(checkpoint)
    vocab = vocab if vocab is not None else task_corpus(cfg).vocab
    bridge, bridge_warnings = _bridge_input(cfg.data, grid, bridge_index, bridge_track, index, n)
    qpm = float(song.tempos[0].qpm) if len(song.tempos) else 120.0
    pred, labels, label_warnings = arrange_melody(model, cfg, choice, vocab, roll, sheet.bass1,
                                                  sheet.chroma, key_id, qpm, seed,
                                                  root1=sheet.root1, bridge=bridge,
                                                  texture=Texture(density, seed))
    titles = TRACK_TITLES[cfg.data]
    kept, slots = {0: song.tracks[index]}, list(range(len(titles)))
    if cfg.data in BRIDGE_INPUT:  # a copied input slot: what the model heard, not its guess
        pred[:, 128:256] = False if bridge is None else bridge
        if bridge is None or bridge_index is None:
            slots.remove(1)  # no Bridge track in the MIDI
        else:
            kept[1] = song.tracks[bridge_index]
    sanity = sanity_check(pred, labels["root"], labels["chroma"], layout=KNOWN_LAYOUTS[cfg.data])
    part = " and ".join(titles[k].lower() for k in KNOWN_LAYOUTS[cfg.data].accompaniment)
    span = chord_span_warning(sheet.end, n)
    warnings += (notes_warnings + bridge_warnings + label_warnings + ([span] if span else [])
                 + sanity_notices(sanity, f"the {part}"))
    return Arrangement(pred, labels["root"], labels["chroma"],
                       tuple((k, titles[k]) for k in slots), warnings, sanity, qpm,
                       {k: choice[k] for k in DECODE_KEYS if k in choice}, cfg.data, song,
                       kept, Path(midi_path).stem)


def _bridge_input(data: str, grid: ScoreTick, index: int | None, named: str | None,
                  melody: int, n: int) -> tuple[np.ndarray | None, list[str]]:
    """The bridge roll ``[T, 128]`` the harmonizer reads (None: none) and what to say of it."""
    if data not in BRIDGE_INPUT:
        if named is not None:
            raise ValueError(f"the {data} harmonizer reads no bridge track: leave out "
                             "--bridge-track")
        return None, []
    if index is not None and index == melody and named is not None:
        raise ValueError(f"track {named!r} cannot be both the melody and the bridge: name "
                         "another with --melody-track or --bridge-track")
    if index is None or index == melody:  # the melody is never its own bridge
        return None, [str(no_bridge_notice(data))]
    return bridge_for_model(grid.tracks[index], n)


def write_song(arrangement: Arrangement, out_path: str | Path, *, renderer: str = "auto",
               inputs: Sequence[str | Path] = (), overwrite: bool = False) -> dict:
    """Write an :class:`Arrangement` as MIDI at ``out_path`` (its ``tracks``, the user's melody
    and bridge note for note, the song's tempo map and time signatures), a WAV that follows that
    tempo map and a PNG beside it (all or none; see ``render.write_arrangement``). Returns the
    files' record; a line about notes the WAV cannot sound is added to the warnings."""
    from stripes.arranger.render import GM_PROGRAMS, write_arrangement

    a = arrangement
    slots = [k for k, _ in a.tracks]
    cols = np.concatenate([np.arange(k * 128, (k + 1) * 128) for k in slots])
    files = write_arrangement(a.roll[:, cols], a.track_names, out_path, root=a.root,
                              chroma=a.chroma, qpm=a.qpm,
                              programs=[GM_PROGRAMS[a.data][k] for k in slots], title=a.title,
                              renderer=renderer, song=a.song,
                              kept={slots.index(k): t for k, t in a.kept.items()},
                              inputs=inputs, overwrite=overwrite)
    a.warnings += render_notices(files)
    return files


def harmonize_song(
    checkpoint: str | Path,
    midi_path: str | Path,
    out_path: str | Path,
    *,
    chords: str | Path | None = None,
    chord_track: str | None = None,
    melody_track: str | None = None,
    bridge_track: str | None = None,
    key: str = "C:maj",
    seed: int = 0,
    density: float = 1.0,
    renderer: str = "auto",
    overwrite: bool = False,
    title: str | None = None,
) -> dict:
    """``stripes harmonize``: :func:`arrange_song`, then :func:`write_song` at ``out_path`` (an
    input is never replaced, an existing output only with ``overwrite``: checked before the
    model is loaded). Returns the files' paths, ``steps``, ``qpm``, the ``warnings``, the
    ``sanity`` result, the MIDI's ``tracks``, the binarization, and the ``arrangement``
    ``[T, n*128]`` with the chord ``labels`` (root, chroma ``[T]``) it follows. ``title``: the
    piano roll's title (default: the melody file's name)."""
    from stripes.arranger.render import arrangement_paths

    inputs = [p for p in (midi_path, chords, checkpoint) if p is not None]
    check_outputs(list(arrangement_paths(out_path).values()), inputs, overwrite)
    a = arrange_song(checkpoint, midi_path, chords=chords, chord_track=chord_track,
                     melody_track=melody_track, bridge_track=bridge_track, key=key, seed=seed,
                     density=density)
    if title is not None:
        a.title = title
    files = write_song(a, out_path, renderer=renderer, inputs=inputs, overwrite=overwrite)
    return {**files, "steps": a.steps, "qpm": a.qpm, "warnings": a.warnings,
            "sanity": a.sanity, "tracks": list(a.track_names), **a.binarization,
            "arrangement": a.roll, "labels": {"root": a.root, "chroma": a.chroma}}


def _no_chord_id(vocab) -> int:
    try:
        return int(vocab.ids_of_keys(np.array([0]))[0])
    except KeyError:  # a vocabulary without the empty chord: fall back to its first row
        return 0
