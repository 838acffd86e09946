"""Chord labels: parsing, chord_db ids, transposition and key normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from stripes.music.chords import (
    chord_root,
    chroma_to_bits,
    label_root,
    parse_chord_line,
    parse_key,
    parse_pitch_class,
    rotate_chroma,
    tones_to_chroma,
)
from stripes.music.errors import LabelParseError


def test_chord_ids_round_trip_through_chord_db(data_root, vocab):
    db = np.load(data_root / "pop909_alignment" / "chord_db.npz")["chord_db"].astype(int)
    chroma = (db[:, 1:] << np.arange(12)).sum(axis=1)
    np.testing.assert_array_equal(vocab.ids(db[:, 0], chroma), np.arange(len(db)))
    np.testing.assert_array_equal(vocab.table[: len(db)], db)
    np.testing.assert_array_equal(vocab.bass1(np.arange(len(db))), db[:, 0])
    np.testing.assert_array_equal(chroma_to_bits(vocab.chroma(np.arange(len(db)))), db[:, 1:])


def test_vocabulary_is_closed_under_transposition(vocab):
    ids = np.arange(len(vocab))
    for shift in (1, 5, -6):
        moved = vocab.transpose(ids, shift)
        np.testing.assert_array_equal(vocab.transpose(moved, -shift), ids)
        np.testing.assert_array_equal(vocab.chroma(moved), rotate_chroma(vocab.chroma(ids), shift))
    with pytest.raises(KeyError):
        vocab.ids([1], [0b10])  # bass C+1 with only C# sounding: not a chord of the vocabulary


def test_parse_chord_line_formats():
    c = parse_chord_line("B:maj/3 [3, 6, 11] 3 2 ")
    assert (c.root, c.bass, c.beats) == (11, 3, 2)
    assert c.chroma == tones_to_chroma([3, 6, 11])
    assert parse_chord_line("N []  32 ").beats == 32
    assert parse_chord_line("N [10] 18 2").chroma == 0  # N keeps only its duration
    assert parse_chord_line("Ab:maj [0, 3, 8] 8 4 2").beats == 4  # song 803: as [S24]
    assert parse_chord_line("B:sus4(b7, [1, 3, 6, 9, 11] 11 1").root == 11


@pytest.mark.parametrize("label,root", [("C/E", 0), ("C:maj/3", 0), ("Am7/G", 9),
                                        ("A:min7/b7", 9), ("Bb/D", 10), ("F#m", 6)])
def test_the_root_is_the_chord_name_never_the_slash_bass(label, root):
    assert label_root(label) == root
    chord = parse_chord_line(f"{label} [0, 4, 7] 4 4")
    assert (chord.root, chord.bass) == (root, 4)  # the bass column stays the bass


@pytest.mark.parametrize("tones,bass,root", [
    ([0, 4, 7], 4, 0),          # C/E
    ([9, 0, 4, 7], 7, 9),       # Am7/G
    ([0, 4, 7, 9], 0, 0),       # C6 over its root
    ([7, 11, 2, 5], 5, 7),      # G7/F
    ([0, 5, 7], 0, 0),          # Csus4: no triad, the bass
])
def test_chord_root_of_block_chord_tones(tones, bass, root):
    assert chord_root(tones_to_chroma(tones), bass) == root


@pytest.mark.parametrize(
    "line",
    [
        "B:maj [3, 6, x] 11 2",
        "B:maj 3 6 11 2",
        "H:maj [3] 3 2",
        "B:maj [3, 6, 11] 11",
        "B:maj [3, 14] 3 2",
    ],
)
def test_parse_chord_line_rejects_bad_tokens(line):
    with pytest.raises(LabelParseError, match="chord"):
        parse_chord_line(line, "chord.txt")


def test_parse_key_and_pitch_classes():
    assert parse_key("Gb:maj") == 6 and parse_key("C#:min") == 13 and parse_key("Cb:maj") == 11
    assert parse_pitch_class("E#") == 5
    with pytest.raises(LabelParseError):
        parse_key("Gb:major")


def test_key_normalised_chord_of_song_001_is_f_major(data_root, vocab):
    # 001 is in Gb major; its first chord B major (IV) becomes F major (IV of C) by hand:
    # bass F = 5, pitch classes {F, A, C} = {5, 9, 0}.
    key = parse_key((data_root / "pop909_structure/001/analyzed_key.txt").read_text())
    first = parse_chord_line(
        (data_root / "pop909_structure/001/finalized_chord.txt").open().readline()
    )
    chord = vocab.ids([first.bass + 1], [first.chroma])
    norm = vocab.normalise(chord, key)
    assert key == 6 and vocab.bass1(norm)[0] == 5 + 1
    assert vocab.chroma(norm)[0] == tones_to_chroma([5, 9, 0])
    assert vocab.describe(int(norm[0])) == "F{C F A}"


def test_key_normalisation_of_minor_key_moves_tonic_to_c(vocab):
    # E minor (key 4 + 12): the tonic chord E-G-B becomes C-Eb-G
    em = vocab.ids([4 + 1], [tones_to_chroma([4, 7, 11])])
    cm = vocab.normalise(em, 4 + 12)
    assert vocab.chroma(cm)[0] == tones_to_chroma([0, 3, 7]) and vocab.bass1(cm)[0] == 1
