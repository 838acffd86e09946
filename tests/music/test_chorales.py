"""Bach chorales in the shared sample schema (music21's corpus, no POP909 needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stripes.music.chorales import (
    drop_duplicates,
    group_tunes,
    index_chords,
    read_chorale,
    split_by_group,
)
from stripes.music.datasets import load_corpus
from stripes.music.errors import MissingTrackError, UnsupportedMeterError
from stripes.music.structure import LABELS, PHRASE_LETTERS, STORED_LABELS
from stripes.music.windows import WindowDataset

FILES = ["bach/bwv347", "bach/bwv153.1", "bach/bwv86.6", "bach/bwv267"]


@pytest.fixture(scope="module")
def chorales():
    songs = [read_chorale(f, n) for n, f in enumerate(FILES, 2)]
    vocab = index_chords(songs)
    return songs, vocab


def test_chorales_follow_the_song_schema(chorales):
    songs, vocab = chorales
    for song in songs:
        assert set(np.unique(song.notes[:, 0])) == {0, 1, 2, 3}  # Soprano, Alto, Tenor, Bass
        assert (song.notes[:, 1] + song.notes[:, 2]).max() == song.n_steps
        assert all(len(song.labels[k]) == song.n_steps for k in STORED_LABELS)
        assert song.labels["chord"].max() < len(vocab) and 0 <= song.key < 24
        sop = song.notes[song.notes[:, 0] == 0]
        assert np.all(song.labels["melody"][sop[:, 1]] == sop[:, 3])  # melody = soprano


def test_bwv347_key_phrases_and_bars(chorales):
    song = chorales[0][0]
    assert song.name == "bwv347" and song.key == 9  # A major
    # six fermatas; the last one ends the piece, so six phrases
    assert song.labels["phrase_index"].max() == 5 and song.n_steps == 832
    ends = np.flatnonzero(np.diff(song.labels["phrase_index"])) + 1
    np.testing.assert_array_equal(ends, [128, 256, 384, 512, 640])
    assert {PHRASE_LETTERS[x] for x in song.labels["phrase"]} <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert song.downbeat == 16 and song.labels["beat"][0] == 3 and song.labels["bar"][16] == 1


def test_chorale_chords_are_one_functional_chord_per_beat(chorales):
    songs, vocab = chorales
    for song in songs:
        chord, beat = song.labels["chord"], song.labels["beat"]
        changes = np.flatnonzero(np.diff(chord)) + 1
        assert np.all(np.diff(beat)[changes - 1] != 0)  # a label changes only on a beat
        assert np.all(vocab.bass1(chord) == song.labels["root"])  # root position: no inversion
        n_tones = np.array([bin(int(c)).count("1") for c in vocab.chroma(chord)])
        assert set(n_tones.tolist()) <= {0, 3, 4}  # a triad or a seventh chord
    # no longer the sounding pitch classes: passing tones of the lower voices are left out
    song = songs[0]
    chroma = vocab.chroma(song.labels["chord"])
    lower = song.notes[song.notes[:, 0] > 0]
    inside = (chroma[lower[:, 1]] >> (lower[:, 3] % 12)) & 1
    assert 0.8 < inside.mean() < 1.0


def test_vertical_chords_keep_the_labels_of_the_shipped_weights():
    song = read_chorale(FILES[0], chords="vertical")
    bass = song.notes[song.notes[:, 0] == 3]
    assert np.all(song.labels["chord"][bass[:, 1]] // 4096 == bass[:, 3] % 12 + 1)
    with pytest.raises(ValueError, match="chords must be one of"):
        read_chorale(FILES[0], chords="chordify")


def test_non_four_four_and_non_satb_chorales_raise():
    with pytest.raises(UnsupportedMeterError, match="3/4"):
        read_chorale("bach/bwv269")
    with pytest.raises(MissingTrackError, match="Soprano"):
        read_chorale("bach/bwv281")


def test_split_keeps_tune_groups_together_and_drops_duplicates(chorales):
    songs = chorales[0]
    copies = [type(s)(**{**vars(s), "name": f"{s.name}-copy"}) for s in songs]
    for c in copies:  # a transposed copy under another name and title
        c.notes = c.notes.copy()
        c.notes[:, 3] += 3
        c.labels = {**c.labels, "melody": np.where(c.labels["melody"] > 0,
                                                   c.labels["melody"] + 3, 0)}
    kept, dropped = drop_duplicates(songs + copies + songs[:1])
    assert [s.name for s in kept] == [s.name for s in songs] and len(dropped) == 5
    report = group_tunes(songs + copies, {})
    assert report["tune_groups"] == 4 and len(report["melody_links"]) == 4
    split = split_by_group(songs + copies, seed=1)
    assert np.array_equal(split[:4], split[4:])


def test_chorale_cache_windows_put_soprano_in_and_satb_out(chorale_cache):
    corpus = load_corpus(chorale_cache / "chorales")
    assert corpus.tracks == ["Soprano", "Alto", "Tenor", "Bass"] and len(corpus) > 10
    ds = WindowDataset(corpus, split=None, bars=None, context="bin")
    item = ds[0]
    T = corpus.n_steps(int(ds.index[0, 0]))
    assert item["inputs"].shape == (T, 256) and item["targets"].shape == (T, 384)
    assert item["inputs"][:, 128:].sum() == 0  # no bridge input for chorales
    assert torch.equal(item["inputs"][:, :128], item["targets"][:, :128])
    assert item["positions"].shape == (T, 12) and set(item["labels"]) == set(LABELS)
    notes = corpus.notes(int(ds.index[0, 0]))
    alto_tenor = np.isin(notes[:, 0], [1, 2])
    assert item["targets"][notes[alto_tenor, 1], 128 + notes[alto_tenor, 3]].all()
    parsing = corpus.manifest["parsing"]
    assert parsing["skipped"]  # e.g. the 3/4 chorale bwv269
    assert parsing["chords"] == "functional" and parsing["tune_groups"] <= parsing["kept"]
    assert {"duplicates", "melody_links"} <= set(parsing) and corpus.manifest["version"] == 2
