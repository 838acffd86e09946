"""Structure files, per-step labels and the structure contexts."""

from __future__ import annotations

import numpy as np
import pytest

from stripes.music.chords import tones_to_chroma
from stripes.music.errors import LabelParseError
from stripes.music.pop909 import read_structure
from stripes.music.structure import (
    CONTEXT_DIMS,
    CONTEXTS,
    PAD_PHRASE,
    PHRASE_LETTERS,
    parse_melody,
    parse_phrases,
    place_runs,
    renumber,
    segment_labels,
    structure_positions,
    tempo_bucket,
)


def test_every_structure_file_of_the_909_songs_parses(data_root, vocab):
    folders = sorted(p for p in (data_root / "pop909_structure").iterdir() if p.name.isdigit())
    assert len(folders) == 909
    for folder in folders:
        for annotator in (1, 2):
            ann = read_structure(folder, annotator)
            assert len(ann["melody"]) and ann["chords"] and ann["phrases"]
            assert 0 <= ann["key"] < 24 and ann["tempo"] > 0
        chords = ann["chords"]
        ids = vocab.ids([c.bass + 1 for c in chords], [c.chroma for c in chords])
        assert ids.max() < 395  # every chord of the files is a chord_db row


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("melody.txt", "60 4\n62 x\n"),
        ("melody.txt", "60 4 1\n"),
        ("melody.txt", "200 4\n"),
        ("human_label1.txt", "i4A4B\n"),
        ("human_label1.txt", "i4A0\n"),
        ("analyzed_key.txt", "H:maj\n"),
        ("tempo.txt", "fast\n"),
        ("finalized_chord.txt", "C:maj [0, 4, 7] 0 two\n"),
    ],
)
def test_label_file_with_a_bad_token_raises(data_root, tmp_path, name, text):
    src = data_root / "pop909_structure" / "001"
    for f in src.iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / name).write_text(text)
    with pytest.raises(LabelParseError, match=name.split(".")[0]):
        read_structure(tmp_path)


def test_missing_label_file_raises(data_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing label file"):
        read_structure(tmp_path)


def test_parsers_read_runs():
    np.testing.assert_array_equal(parse_melody("0 2\n67 4\n"), [[0, 2], [67, 4]])
    assert parse_phrases("i4A8x1o12") == [("i", 4), ("A", 8), ("x", 1), ("o", 12)]


def test_place_runs_pads_and_crops():
    out = place_runs([1, 2], [2, 3], start=2, n_steps=6, fill=9)
    np.testing.assert_array_equal(out, [9, 9, 1, 1, 2, 2])
    np.testing.assert_array_equal(place_runs([1, 2], [2, 3], -1, 4, 9), [1, 2, 2, 2])


def test_segments_cover_every_step_with_lead_in_and_tail():
    lab = segment_labels(np.array([2, 5, 7]), np.array([26, 27]), 10)
    np.testing.assert_array_equal(
        lab["phrase"], [PAD_PHRASE] * 2 + [26] * 3 + [27] * 2 + [PAD_PHRASE] * 3
    )
    np.testing.assert_array_equal(lab["phrase_index"], [0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    np.testing.assert_array_equal(lab["phrase_pos"], [0, 1, 0, 1, 2, 0, 1, 0, 1, 2])


def test_tempo_buckets():
    assert [tempo_bucket(b) for b in (20, 59, 60, 119, 120, 196)] == [0, 0, 1, 2, 3, 3]


def test_renumber_by_first_appearance_or_sorted():
    v = np.array([7, 7, 3, 9, 3])
    np.testing.assert_array_equal(renumber(v, "first"), [0, 0, 1, 2, 1])
    np.testing.assert_array_equal(renumber(v, "sorted"), [1, 1, 0, 2, 0])


def _labels(vocab):
    chord = vocab.ids(
        [1, 1, 8, 1],
        [tones_to_chroma([0, 4, 7])] * 2
        + [tones_to_chroma([7, 11, 2])]
        + [tones_to_chroma([0, 4, 7])],
    )
    return {
        "chord": chord,
        "key_chord": vocab.normalise(chord, 7),
        "chroma": vocab.chroma(chord),
        "melody": np.array([60, 0, 62, 64]),
        "phrase": np.array([26, 26, 27, 27]),
    }


def test_structure_positions_shapes_and_values(vocab):
    lab = _labels(vocab)
    widths = {
        "time": 1,
        "rep": 1,
        "key": 1,
        "bin": 12,
        "melody": 1,
        "chord": 1,
        "phrase": 1,
        "fs": 3,
    }
    assert set(widths) <= set(CONTEXTS)
    assert {name: CONTEXT_DIMS[name] for name in widths} == widths
    for name in CONTEXTS:  # every registered context produces its declared L
        pos = structure_positions(lab, name)
        assert pos.shape == (4, CONTEXT_DIMS[name]) and pos.dtype == np.float32
    np.testing.assert_array_equal(structure_positions(lab, "rep")[:, 0], [0, 0, 1, 0])
    np.testing.assert_array_equal(structure_positions(lab, "bin")[0].nonzero()[0], [0, 4, 7])
    np.testing.assert_array_equal(structure_positions(lab, "fs")[:, 0], [60, 0, 62, 64])
    np.testing.assert_array_equal(structure_positions(lab, "time")[:, 0], [0, 1, 2, 3])
    assert PHRASE_LETTERS[26] == "A"


def test_unknown_context_raises(vocab):
    with pytest.raises(ValueError, match="unknown context"):
        structure_positions(_labels(vocab), "nope")


def test_rep_sorted_context_numbers_chords_by_identity():
    from stripes.music.structure import CONTEXT_DIMS, structure_positions

    labels = {"chord": np.array([7, 7, 3, 9, 3])}
    assert structure_positions(labels, "rep")[:, 0].tolist() == [0, 0, 1, 2, 1]
    assert structure_positions(labels, "rep_sorted")[:, 0].tolist() == [1, 1, 0, 2, 0]
    assert CONTEXT_DIMS["rep_sorted"] == 1
