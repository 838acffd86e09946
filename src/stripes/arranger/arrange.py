"""Harmonize a user's song: a melody MIDI plus chords in, a three-track arrangement out.

``harmonize_song`` reads the melody (a named track, or the one ``arranger.melody`` picks), takes
the chords from a text file in POP909's ``finalized_chord.txt`` format (``label [pitch classes] bass
duration_in_beats`` per line, from the first bar) or from a MIDI track of block chords (one
chord per beat: the pitch classes sounding on it, the lowest note as bass), builds the structure
labels and positions the trained model expects, predicts, binarizes with the run's validated
grid, and writes the arrangement as MIDI (the input melody track kept note for note as the first
track, the song's tempo map and time signatures), a WAV and a PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from stripes.arranger.melody import check_four_four, choose_melody, melody_for_model
from stripes.extras import needs
from stripes.files import check_outputs
from stripes.music.chords import chord_keys, parse_chord_line, parse_key
from stripes.music.errors import MissingTrackError
from stripes.music.midi_io import (
    STEPS_PER_QUARTER,
    find_track,
    read_midi,
    resample_score,
    track_to_notes,
)
from stripes.music.pianoroll import notes_to_pianoroll
from stripes.music.structure import (
    PAD_PHRASE,
    bar_labels,
    complete_labels,
    structure_features,
    structure_positions,
    tempo_bucket,
)
from stripes.tasks.harmonization.data import task_corpus
from stripes.tasks.harmonization.predict import harmonize_pianoroll

with needs("music"):
    from symusic.core import ScoreTick

STEPS_PER_BEAT = STEPS_PER_QUARTER  # the chords file counts quarter-note beats


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
    """``(bass1 [T], chroma [T])`` from a ``finalized_chord.txt``-style file."""
    bass1, chroma = np.zeros(n_steps, np.int64), np.zeros(n_steps, np.int64)
    step = 0
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: no chord lines")
    for line in lines:
        chord = parse_chord_line(line, source=str(path))
        end = min(step + chord.beats * STEPS_PER_BEAT, n_steps)
        bass1[step:end] = chord.bass + 1
        chroma[step:end] = chord.chroma
        step = end
    return bass1, chroma


def chords_from_track(score, name: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(bass1 [T], chroma [T])``: per beat, the pitch classes sounding and the lowest pitch."""
    roll = notes_to_pianoroll(track_to_notes(find_track(score, name)), n_steps) > 0
    bass1, chroma = np.zeros(n_steps, np.int64), np.zeros(n_steps, np.int64)
    for start in range(0, n_steps, STEPS_PER_BEAT):
        pitches = np.flatnonzero(roll[start : start + STEPS_PER_BEAT].any(axis=0))
        if len(pitches):
            bass1[start : start + STEPS_PER_BEAT] = pitches.min() % 12 + 1
            chroma[start : start + STEPS_PER_BEAT] = sum(1 << int(pc) for pc in set(pitches % 12))
    if not chroma.any():
        raise MissingTrackError(f"chord track {name!r} has no notes")
    return bass1, chroma


def song_labels(
    melody: np.ndarray, bass1: np.ndarray, chroma: np.ndarray, vocab, key: int, tempo_bucket: int
) -> tuple[dict, list[str]]:
    """Every structure label ``[T]`` of the song, and warnings (chords outside the vocabulary
    become "no chord"; phrases are unknown and get the unlabelled letter).

    melody: the binary pianoroll ``[T, 128]`` the harmonizer hears (its highest pitch per step
    is the melody label)."""
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
        "root": np.where(chroma > 0, bass1, 0),
        "melody": mel,
        "phrase": np.full(n, PAD_PHRASE),
        "phrase_index": np.zeros(n, np.int64),
        "phrase_pos": np.arange(n),
        **bar_labels(0, n),
    }
    return complete_labels(base, vocab, key, tempo_bucket), warnings


def chord_coverage_warning(bass1: np.ndarray, chroma: np.ndarray) -> str | None:
    """A warning naming the bars at the end of the melody that the chords leave uncovered."""
    covered = np.flatnonzero((bass1 > 0) | (chroma > 0))
    end = int(covered[-1]) + 1 if len(covered) else 0
    if end >= len(chroma):
        return None
    bar = STEPS_PER_BEAT * 4
    return (f"the chords end at bar {end // bar + 1} but the melody runs to bar "
            f"{-(-len(chroma) // bar)}: steps {end}..{len(chroma) - 1} are treated as no chord")


def arrange_melody(model, config, binarization: dict, vocab, melody: np.ndarray,
                   bass1: np.ndarray, chroma: np.ndarray, key: int = 0, qpm: float = 120.0,
                   seed: int = 0) -> tuple[np.ndarray, dict, list[str]]:
    """The harmonizer's arrangement ``[T, 384]`` of a melody over given chords.

    melody: binary pianoroll ``[T, 128]``; bass1, chroma: ``[T]`` chords per step. Returns
    ``(arrangement with the melody roll as its first track, labels, warnings)``.
    """
    n = len(chroma)
    roll = np.asarray(melody, bool)
    labels, warnings = song_labels(roll, bass1, chroma, vocab, key, tempo_bucket(qpm))
    inputs = torch.zeros(1, n, 256)
    inputs[0, :, :128] = torch.from_numpy(roll.astype(np.float32))
    if config.input_features:
        feats = torch.from_numpy(structure_features(labels, config.input_features))[None]
        inputs = torch.cat([inputs, feats], dim=-1)
    positions = torch.from_numpy(structure_positions(labels, config.context))[None]
    pred = harmonize_pianoroll(model, inputs, positions, binarization, seed)
    pred[:, :128] = roll  # the picture and sanity checks; the MIDI keeps the user's track
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


def harmonize_song(
    checkpoint: str | Path,
    midi_path: str | Path,
    out_path: str | Path,
    *,
    chords: str | Path | None = None,
    chord_track: str | None = None,
    melody_track: str | None = None,
    key: str = "C:maj",
    seed: int = 0,
    renderer: str = "auto",
    overwrite: bool = False,
) -> dict:
    """Arrange ``midi_path`` with a harmonizer (a shipped name such as ``pop909``, a weights
    folder, a run folder or a checkpoint in one); writes the MIDI at ``out_path`` (the user's
    melody track note for note, the song's tempo map and time signatures), a WAV that follows
    that tempo map and a PNG beside it (all or none; an input is never replaced, an existing
    output only with ``overwrite``). Returns their paths, the binarization, the warnings, and the
    ``arrangement`` ``[T, 384]`` with the chord ``labels`` (root, chroma ``[T]``) it follows."""
    from stripes.arranger.pretrained import load_any_harmonizer
    from stripes.arranger.render import (
        GM_PROGRAMS,
        TRACK_TITLES,
        arrangement_paths,
        write_arrangement,
    )

    if (chords is None) == (chord_track is None):
        raise ValueError("give exactly one of --chords FILE or --chord-track NAME")
    key_id = parse_key(key, source="--key")  # before any file is read
    inputs = [p for p in (midi_path, chords, checkpoint) if p is not None]
    check_outputs(list(arrangement_paths(out_path).values()), inputs, overwrite)
    song = read_midi(midi_path, tpq=None)  # the user's notes as written
    grid = resample_score(song)  # the same notes on the model's 16-per-quarter grid
    check_four_four(grid)
    index, warnings = choose_melody(grid, melody_track)
    roll, notes_warnings = melody_for_model(song.tracks[index], grid.tracks[index])
    n = len(roll)
    if chords is not None:
        bass1, chroma = chords_from_file(chords, n)
    elif chord_track is not None:  # one of the two, checked above
        bass1, chroma = chords_from_track(grid, chord_track, n)
    qpm = float(song.tempos[0].qpm) if len(song.tempos) else 120.0
    model, cfg, choice, vocab = load_any_harmonizer(checkpoint)
    vocab = vocab if vocab is not None else task_corpus(cfg).vocab
    pred, labels, label_warnings = arrange_melody(model, cfg, choice, vocab, roll, bass1,
                                                  chroma, key_id, qpm, seed)
    gap = chord_coverage_warning(bass1, chroma)
    warnings += notes_warnings + label_warnings + ([gap] if gap else [])
    files = write_arrangement(pred, TRACK_TITLES[cfg.data], out_path, root=labels["root"],
                              chroma=labels["chroma"], qpm=qpm, programs=GM_PROGRAMS[cfg.data],
                              title=Path(midi_path).stem, renderer=renderer, song=song,
                              melody=song.tracks[index], inputs=inputs, overwrite=overwrite)
    return {**files, "steps": n, "qpm": qpm, "warnings": warnings,
            "threshold": choice["threshold"], "merge_gap": choice["merge_gap"],
            "arrangement": pred, "labels": {k: labels[k] for k in ("root", "chroma")}}


def _no_chord_id(vocab) -> int:
    try:
        return int(vocab.ids_of_keys(np.array([0]))[0])
    except KeyError:  # a vocabulary without the empty chord: fall back to its first row
        return 0
