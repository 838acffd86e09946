"""Write the example lead sheets of ``examples/``: a melody MIDI and a chords file per tune.

    PYTHONPATH=src python scripts/make_examples.py [--out examples] [--preview DIR]

Each tune is written out here by hand, note by note, from the public-domain score: nothing is
copied from a data set. ``examples/<tune>/melody.mid`` has one track named ``melody`` on the
16-ticks-per-quarter grid of ``stripes.music.midi_io`` with a 4/4 time signature and a tempo;
``examples/<tune>/chords.txt`` lists ``label [pitch classes] bass duration_in_beats`` per chord,
the POP909 ``finalized_chord.txt`` format read by ``stripes harmonize --chords``. The output is
deterministic (the test suite checks that the committed files match). ``--preview DIR`` also
writes, per tune, a PNG of the lead sheet and a WAV of the melody over block chords.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stripes.music.chords import parse_pitch_class
from stripes.music.midi_io import STEPS_PER_QUARTER, notes_to_score, write_midi

# Beethoven, Symphony No. 9 in D minor, Op. 125 (1824), finale: the "Ode to Joy" theme, set in
# C major. One bar per line; a note is NAME+OCTAVE:BEATS (C4 = MIDI 60).
ODE_TO_JOY = """
E4:1 E4:1 F4:1 G4:1
G4:1 F4:1 E4:1 D4:1
C4:1 C4:1 D4:1 E4:1
E4:1.5 D4:0.5 D4:2
E4:1 E4:1 F4:1 G4:1
G4:1 F4:1 E4:1 D4:1
C4:1 C4:1 D4:1 E4:1
D4:1.5 C4:0.5 C4:2
D4:1 D4:1 E4:1 C4:1
D4:1 E4:0.5 F4:0.5 E4:1 C4:1
D4:1 E4:0.5 F4:0.5 E4:1 D4:1
C4:1 D4:1 G3:2
E4:1 E4:1 F4:1 G4:1
G4:1 F4:1 E4:1 D4:1
C4:1 C4:1 D4:1 E4:1
D4:1.5 C4:0.5 C4:2
"""
# one chord per line: LABEL:BEATS (tonic and dominant, a secondary dominant before the half
# cadence of bar 12, a dominant seventh at each full cadence)
ODE_TO_JOY_CHORDS = """
C:maj:4 G:maj:4 C:maj:4 G:maj:4
C:maj:4 G:maj:4 C:maj:4 G:7:2 C:maj:2
G:maj:2 C:maj:2 G:maj:2 C:maj:2 G:maj:4 D:7:2 G:maj:2
C:maj:4 G:maj:4 C:maj:4 G:7:2 C:maj:2
"""
TUNES = {"ode_to_joy": {"melody": ODE_TO_JOY, "chords": ODE_TO_JOY_CHORDS, "qpm": 100.0}}
QUALITY_TONES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10)}
BEATS_PER_BAR = 4


def parse_melody(text: str) -> np.ndarray:
    """Note array ``[N, 3]`` (start, duration, pitch) in grid steps of a bar-per-line melody;
    raises ValueError when a bar does not hold exactly four beats."""
    notes, step = [], 0
    for number, bar in enumerate(text.split("\n")[1:-1], start=1):
        beats = 0.0
        for token in bar.split():
            name, length = token.split(":")
            pitch = 12 * (int(name[-1]) + 1) + parse_pitch_class(name[:-1])
            steps = round(float(length) * STEPS_PER_QUARTER)
            notes.append((step, steps, pitch))
            step, beats = step + steps, beats + float(length)
        if beats != BEATS_PER_BAR:
            raise ValueError(f"bar {number} holds {beats} beats, not {BEATS_PER_BAR}")
    return np.array(notes, dtype=np.int32)


def chord_lines(text: str) -> list[str]:
    """``finalized_chord.txt`` lines (``C:maj [0, 4, 7] 0 4``) of ``LABEL:BEATS`` tokens."""
    lines = []
    for token in text.split():
        label, beats = token.rsplit(":", 1)
        tonic, quality = label.split(":")
        root = parse_pitch_class(tonic)
        tones = sorted((root + t) % 12 for t in QUALITY_TONES[quality])
        lines.append(f"{label} [{', '.join(map(str, tones))}] {root} {int(beats)}")
    return lines


def write_tune(name: str, out: Path) -> dict[str, Path]:
    """Write ``out/<name>/melody.mid`` and ``out/<name>/chords.txt``; returns their paths."""
    tune = TUNES[name]
    melody = parse_melody(tune["melody"])
    lines = chord_lines(tune["chords"])
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    midi = write_midi(notes_to_score([melody], ["melody"], qpm=tune["qpm"]), folder / "melody.mid")
    chords = folder / "chords.txt"
    chords.write_text("\n".join(lines) + "\n")
    return {"melody": midi, "chords": chords}


def write_preview(paths: dict[str, Path], out: Path) -> list[Path]:
    """A PNG of the melody with its chord symbols and a WAV of it over block chords."""
    from stripes.analysis.arrangement_plot import chord_symbols, plot_arrangement
    from stripes.arranger.arrange import chords_from_file
    from stripes.music.audio import render_wav
    from stripes.music.midi_io import read_midi, track_to_notes
    from stripes.music.pianoroll import notes_to_onsets, notes_to_pianoroll

    score = read_midi(paths["melody"])
    melody, qpm = track_to_notes(score.tracks[0]), score.tempos[0].qpm
    n = int((melody[:, 0] + melody[:, 1]).max())
    bass1, chroma = chords_from_file(paths["chords"], n)
    bounds = [(s, e) for s, e, _ in chord_symbols(bass1, chroma)]
    # each chord's tones from C3 up, and its bass an octave under C3
    tones = [(s, e - s, 48 + pc) for s, e in bounds for pc in range(12) if chroma[s] >> pc & 1]
    basses = [(s, e - s, 36 + bass1[s] - 1) for s, e in bounds if bass1[s]]
    block = np.array(tones + basses, dtype=np.int32)
    name = paths["melody"].parent.name
    out.mkdir(parents=True, exist_ok=True)
    tracks = {"melody": melody, "chords": block}
    rolls = {k: notes_to_pianoroll(v, n) > 0 for k, v in tracks.items()}
    onsets = {k: notes_to_onsets(v, n) > 0 for k, v in tracks.items()}
    symbols = chord_symbols(bass1, chroma)
    png = plot_arrangement(rolls, out / f"{name}.png", chords=symbols, title=name, onsets=onsets)
    score = notes_to_score([melody, block], ["melody", "chords"], programs=[0, 48], qpm=qpm)
    wav = render_wav(score, out / f"{name}.wav")["path"]
    return [png, Path(wav)]


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "examples"))
    parser.add_argument("--preview", help="also write a PNG and a WAV per tune in this folder")
    args = parser.parse_args(argv)
    written = []
    for name in TUNES:
        paths = write_tune(name, Path(args.out))
        written += list(paths.values())
        if args.preview:
            written += write_preview(paths, Path(args.preview))
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()
