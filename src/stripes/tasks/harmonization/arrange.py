"""Harmonize a user's song: a melody MIDI plus chords in, a three-track arrangement out.

``harmonize_song`` reads the melody (a named track, or the only non-empty one), takes the chords
from a text file in POP909's ``finalized_chord.txt`` format (``label [pitch classes] bass
duration_in_beats`` per line, from the first bar) or from a MIDI track of block chords (one
chord per beat: the pitch classes sounding on it, the lowest note as bass), builds the structure
labels and positions the trained model expects, predicts, binarizes with the run's validated
grid, and writes the arrangement as MIDI (the input melody kept as the first track) and a PNG.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from stripes.analysis.plots import plot_pianoroll_triptych
from stripes.evaluation.harmonization import merge_tracks
from stripes.music.chords import chord_keys, parse_chord_line, parse_key
from stripes.music.errors import MissingTrackError, UnsupportedMeterError
from stripes.music.midi_io import find_track, read_midi, track_to_notes, write_midi
from stripes.music.pianoroll import notes_to_pianoroll, pianoroll_to_score
from stripes.music.structure import (
    PAD_PHRASE,
    bar_labels,
    complete_labels,
    structure_positions,
    tempo_bucket,
)
from stripes.tasks.harmonization.data import load_task_corpus
from stripes.tasks.harmonization.predict import harmonize_pianoroll
from stripes.tasks.harmonization.train import load_harmonizer

STEPS_PER_BEAT = 16


def read_melody(score, track: str | None) -> np.ndarray:
    """Melody notes ``[N, 3]`` (start, duration, pitch) on the 16-per-quarter grid."""
    for ts in score.time_signatures:
        if (ts.numerator, ts.denominator) != (4, 4):
            raise UnsupportedMeterError(
                f"meter {ts.numerator}/{ts.denominator} at tick {ts.time} is not supported "
                "(the harmonizer works on 4/4 bars)"
            )
    if track is not None:
        notes = track_to_notes(find_track(score, track))
    else:
        filled = [t for t in score.tracks if len(t.notes)]
        named = [t for t in filled if t.name.strip().lower() == "melody"]
        if len(named) != 1 and len(filled) != 1:
            raise MissingTrackError(
                f"cannot tell the melody among tracks {[t.name for t in score.tracks]}: "
                "name it with --melody-track"
            )
        notes = track_to_notes((named or filled)[0])
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
    become "no chord"; phrases are unknown and get the unlabelled letter)."""
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
    mel = np.zeros(n, np.int64)
    for start, dur, pitch in melody:
        mel[start : start + dur] = pitch
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


def harmonize_song(
    run_dir: str | Path,
    midi_path: str | Path,
    out_path: str | Path,
    *,
    chords: str | Path | None = None,
    chord_track: str | None = None,
    melody_track: str | None = None,
    key: str = "C:maj",
    seed: int = 0,
) -> dict:
    """Arrange ``midi_path`` with the harmonizer of ``run_dir``; returns paths and warnings."""
    if (chords is None) == (chord_track is None):
        raise ValueError("give exactly one of --chords FILE or --chord-track NAME")
    model, cfg = load_harmonizer(run_dir)
    score = read_midi(midi_path)
    melody = read_melody(score, melody_track)
    n = int((melody[:, 0] + melody[:, 1]).max())
    bass1, chroma = (
        chords_from_file(chords, n)
        if chords is not None
        else chords_from_track(score, chord_track, n)
    )
    bpm = score.tempos[0].qpm if len(score.tempos) else 120.0
    vocab = load_task_corpus(cfg).vocab
    labels, warnings = song_labels(melody, bass1, chroma, vocab, parse_key(key), tempo_bucket(bpm))
    roll = notes_to_pianoroll(melody, n) > 0
    inputs = torch.zeros(1, n, 256)
    inputs[0, :, :128] = torch.from_numpy(roll.astype(np.float32))
    positions = torch.from_numpy(structure_positions(labels, cfg.context))[None]
    choice = _binarization(run_dir)
    pred = harmonize_pianoroll(model, inputs, positions, choice, seed)
    pred[:, :128] = roll  # keep the user's melody as the first track
    out = Path(out_path)
    write_midi(pianoroll_to_score(pred, ["Melody", "Harmony", "Bass/Piano"]), out)
    png = plot_pianoroll_triptych(
        roll,
        merge_tracks(pred[:, 128:]),
        merge_tracks(pred),
        out.with_suffix(".png"),
        titles=("melody", "generated accompaniment", "arrangement"),
    )
    return {"midi": str(out), "png": str(png), "steps": n, "warnings": warnings, **choice}


def _binarization(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "evaluation.json"
    if path.exists():
        b = json.loads(path.read_text())["binarization"]
        return {"threshold": b["threshold"], "merge_gap": b["merge_gap"]}
    return {"threshold": 0.5, "merge_gap": 0}


def _no_chord_id(vocab) -> int:
    try:
        return int(vocab.ids_of_keys(np.array([0]))[0])
    except KeyError:  # a vocabulary without the empty chord: fall back to its first row
        return 0
