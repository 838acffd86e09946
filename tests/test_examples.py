"""The example lead sheets of examples/: they read with the project's own readers, the chords
cover the melody exactly, and scripts/make_examples.py still writes the committed files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from stripes.arranger.arrange import chords_from_file, read_melody
from stripes.music.chords import parse_chord_line
from stripes.music.midi_io import STEPS_PER_QUARTER, read_midi, track_to_notes

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"
TUNES = sorted(p.parent.name for p in EXAMPLES.glob("*/melody.mid"))


def _make_examples():
    path = ROOT / "scripts" / "make_examples.py"
    spec = importlib.util.spec_from_file_location("make_examples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_is_an_example_tune():
    assert "ode_to_joy" in TUNES


@pytest.mark.parametrize("tune", TUNES)
def test_example_melody_reads_as_one_4_4_track_named_melody(tune):
    score = read_midi(EXAMPLES / tune / "melody.mid")
    assert score.ticks_per_quarter == STEPS_PER_QUARTER
    assert [t.name for t in score.tracks] == ["melody"]
    assert [(ts.numerator, ts.denominator) for ts in score.time_signatures] == [(4, 4)]
    assert len(score.tempos) >= 1
    notes = read_melody(score, None)  # what `stripes harmonize` picks without --melody-track
    assert np.array_equal(notes, track_to_notes(score.tracks[0]))
    end = int((notes[:, 0] + notes[:, 1]).max())
    assert end == 16 * 4 * STEPS_PER_QUARTER  # 16 bars of 4/4


@pytest.mark.parametrize("tune", TUNES)
def test_example_chords_parse_and_cover_the_melody_exactly(tune):
    path = EXAMPLES / tune / "chords.txt"
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    chords = [parse_chord_line(ln, source=str(path)) for ln in lines]
    notes = track_to_notes(read_midi(EXAMPLES / tune / "melody.mid").tracks[0])
    end = int((notes[:, 0] + notes[:, 1]).max())
    assert sum(c.beats for c in chords) * STEPS_PER_QUARTER == end
    bass1, chroma = chords_from_file(path, end)
    assert (bass1 > 0).all() and (chroma > 0).all()  # no step left without a chord


@pytest.mark.parametrize("tune", TUNES)
def test_example_melody_downbeats_are_mostly_tones_of_their_chord(tune):
    """A check on the hand-written harmony: the melody note sounding at the start of each bar
    belongs to the bar's first chord (one appoggiatura allowed: Ode to Joy's bar 4)."""
    notes = track_to_notes(read_midi(EXAMPLES / tune / "melody.mid").tracks[0])
    end = int((notes[:, 0] + notes[:, 1]).max())
    _, chroma = chords_from_file(EXAMPLES / tune / "chords.txt", end)
    downbeats = notes[notes[:, 0] % (4 * STEPS_PER_QUARTER) == 0]
    in_chord = [(chroma[s] >> (p % 12)) & 1 for s, _, p in downbeats]
    assert len(in_chord) == end // (4 * STEPS_PER_QUARTER)  # a note starts every bar
    assert sum(in_chord) >= len(in_chord) - 1


def test_make_examples_writes_the_committed_files(tmp_path):
    written = _make_examples().main(["--out", str(tmp_path)])
    assert written
    for path in written:
        committed = EXAMPLES / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), f"{committed} is stale: rerun script"
