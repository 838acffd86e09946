"""Bach chorales in the shared sample schema (music21's corpus, no POP909 needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stripes.music.chorales import (
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


def test_chorale_chords_come_from_the_four_voices(chorales):
    songs, vocab = chorales
    song = songs[0]
    chroma = vocab.chroma(song.labels["chord"])
    for _, start, _, pitch in song.notes[:40]:
        assert (chroma[start] >> (pitch % 12)) & 1  # every sounding pitch is in the chord
    bass = song.notes[song.notes[:, 0] == 3]
    assert np.all(vocab.bass1(song.labels["chord"][bass[:, 1]]) == bass[:, 3] % 12 + 1)


def test_non_four_four_and_non_satb_chorales_raise():
    with pytest.raises(UnsupportedMeterError, match="3/4"):
        read_chorale("bach/bwv269")
    with pytest.raises(MissingTrackError, match="Soprano"):
        read_chorale("bach/bwv281")


def test_split_keeps_tune_groups_together(chorales):
    songs = chorales[0] * 2  # the same chorales twice: each pair must share a split
    songs = [type(s)(**{**vars(s), "name": s.name}) for s in songs]
    n = group_tunes(songs, {})
    assert n == 4
    split = split_by_group(songs, seed=1)
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
    assert corpus.manifest["parsing"]["skipped"]  # e.g. the 3/4 chorale bwv269
