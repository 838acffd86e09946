"""POP909 loading: the split mapping, aligned labels, alignment agreement, errors."""

from __future__ import annotations

import numpy as np
import pytest

from stripes.music.errors import AlignmentError, UnsupportedMeterError
from stripes.music.pop909 import (
    load_song,
    melody_agreement,
    read_meters,
    read_split,
    read_structure,
    resolve_root,
)
from stripes.music.structure import PHRASE_LETTERS, STORED_LABELS


def test_split_indices_are_song_ids_of_startpos(data_root, startpos):
    split = read_split(data_root)
    assert {k: len(v) for k, v in split.items()} == {"train": 692, "val": 86, "test": 88}
    ids = np.concatenate(list(split.values()))
    assert ids.max() == 909 and ids.min() >= 1  # 909 > 865: ids, not positions among 866 songs
    assert len(set(ids.tolist())) == 866 and set(ids.tolist()) == set(startpos)


def test_resolve_root_reads_env_and_reports_missing(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("STRIPES_DATA", str(data_root))
    assert resolve_root() == data_root
    with pytest.raises(FileNotFoundError, match="pop909_structure"):
        resolve_root(tmp_path)


def test_labels_and_notes_of_a_song_cover_the_same_steps(few_songs):
    for song in few_songs:
        ends = song.notes[:, 1] + song.notes[:, 2]
        assert song.notes[:, 1].min() >= 0 and ends.max() == song.n_steps
        assert all(len(song.labels[k]) == song.n_steps for k in STORED_LABELS)


def test_song_001_labels_start_at_its_startpos(few_songs, data_root, vocab):
    song = few_songs[0]
    assert song.downbeat == 8 and song.key == 6  # startpos 8 steps, Gb major
    assert song.labels["bar"][8] == 1 and song.labels["beat"][8] == 0 and song.labels["bar"][0] == 0
    phrases = read_structure(data_root / "pop909_structure" / "001")["phrases"]
    assert phrases[0] == ("i", 4)
    assert PHRASE_LETTERS[song.labels["phrase"][8]] == "i"
    assert PHRASE_LETTERS[song.labels["phrase"][8 + 4 * 64]] == "A"
    assert song.labels["phrase_pos"][8 + 4 * 64] == 0
    first = vocab.describe(int(song.labels["chord"][8]))
    assert first == "B{Eb F# B}" and song.labels["root"][8] == 11 + 1
    assert song.info["onset_agreement"] == 1.0


def test_chord_labels_agree_with_piano_notes_where_the_melody_is_aligned(few_songs, vocab):
    # most piano onsets belong to the chord labelled at their step when the melodies agree;
    # song 005 (melody onset agreement 0.29 at its startpos) shows what misalignment does
    share = {}
    for song in few_songs:
        piano = song.notes[song.notes[:, 0] == 2]
        chroma = vocab.chroma(song.labels["chord"][piano[:, 1]])
        inside = (chroma >> (piano[:, 3] % 12)) & 1
        share[song.name] = (inside[chroma > 0].mean(), song.info["onset_agreement"])
    aligned = [c for c, onset in share.values() if onset >= 0.95]
    assert len(aligned) == 5 and min(aligned) > 0.8
    assert share["005"][1] < 0.5 and share["005"][0] < min(aligned) - 0.1


def test_melody_agreement_finds_a_shift(few_songs):
    song = few_songs[0]
    melody = song.notes[song.notes[:, 0] == 0, 1:]
    runs = np.array([[60, 4], [0, 4], [62, 8], [64, 4]])
    notes = np.array([[100, 16, 60], [132, 32, 62], [164, 16, 64]])  # the runs from step 100
    assert melody_agreement(notes, runs, 100)["onset_agreement"] == 1.0
    moved = melody_agreement(notes, runs, 96)
    assert moved["onset_agreement"] == 0.0 and moved["best_onset_agreement"] == 1.0
    assert 4 - 2 <= moved["best_shift"] <= 4 + 2  # within the tolerance of +-2 steps
    assert melody_agreement(melody, runs, 0)["pitch_agreement"] <= 1.0


def test_songs_outside_startpos_raise(data_root, vocab, startpos):
    meters = read_meters(data_root)
    assert meters[34] == (3, 2) and 34 not in startpos
    with pytest.raises(UnsupportedMeterError, match="034"):
        load_song(data_root, 34, vocab, startpos, meters)
    with pytest.raises(AlignmentError, match="001"):
        load_song(data_root, 1, vocab, {}, meters)
