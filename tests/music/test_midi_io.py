"""MIDI I/O and pianorolls: lossless round trips on the grid, clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from stripes.music.errors import (
    EmptyMidiError,
    MissingTrackError,
    UnreadableMidiError,
    UnsupportedMeterError,
)
from stripes.music.midi_io import check_meter, notes_to_score, read_midi, write_midi
from stripes.music.pianoroll import (
    notes_to_onsets,
    notes_to_pianoroll,
    pianoroll_to_notes,
    pianoroll_to_score,
    score_to_pianoroll,
    transpose_pianoroll,
)
from stripes.music.pop909 import TRACKS, read_song_notes


def _midi(data_root):
    return data_root / "pop909" / "001" / "001.mid"


def test_read_midi_resamples_to_16_ticks_per_quarter(data_root):
    score = read_midi(_midi(data_root))
    assert score.ticks_per_quarter == 16
    assert [t.name for t in score.tracks] == list(TRACKS)


def test_pianoroll_to_midi_to_pianoroll_is_lossless_on_real_song(data_root, tmp_path):
    roll = score_to_pianoroll(read_midi(_midi(data_root)), TRACKS)
    assert roll.shape[1] == 384 and roll.any()
    path = write_midi(pianoroll_to_score(roll, TRACKS), tmp_path / "back.mid")
    again = score_to_pianoroll(read_midi(path), TRACKS, n_steps=len(roll))
    np.testing.assert_array_equal(again, roll)


def test_pianoroll_round_trip_on_random_rolls():
    rng = np.random.default_rng(0)
    roll = rng.random((300, 256)) < 0.05
    back = score_to_pianoroll(pianoroll_to_score(roll, ["a", "b"]), ["a", "b"], n_steps=300)
    np.testing.assert_array_equal(back, roll)


def test_onset_roll_keeps_repeated_notes_apart():
    notes = np.array([[0, 4, 60], [4, 4, 60], [8, 2, 60], [2, 10, 64]], dtype=np.int32)
    roll, onsets = notes_to_pianoroll(notes, 16), notes_to_onsets(notes, 16)
    assert len(pianoroll_to_notes(roll)) == 2  # frames alone merge the repeated C
    back = pianoroll_to_notes(roll, onsets)
    np.testing.assert_array_equal(back, notes[np.lexsort((notes[:, 2], notes[:, 0]))])


def test_notes_to_pianoroll_clips_to_window():
    roll = notes_to_pianoroll(np.array([[5, 10, 60]]), n_steps=8, start=10)
    assert roll[:5, 60].all() and not roll[5:, 60].any()


def test_transpose_pianoroll_moves_each_track_and_drops_overflow():
    roll = np.zeros((2, 256), dtype=bool)
    roll[0, 60], roll[1, 128 + 127] = True, True
    up = transpose_pianoroll(roll, 3)
    assert up[0, 63] and up.sum() == 1  # 127 + 3 falls off, it does not wrap into track 0


def test_truncated_midi_raises_unreadable(data_root, tmp_path):
    data = _midi(data_root).read_bytes()
    bad = tmp_path / "truncated.mid"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableMidiError, match="truncated.mid"):
        read_midi(bad)
    (tmp_path / "junk.mid").write_bytes(b"not a midi file at all")
    with pytest.raises(UnreadableMidiError):
        read_midi(tmp_path / "junk.mid")


def test_midi_without_notes_raises_empty(tmp_path):
    score = notes_to_score([np.zeros((0, 3))], ["MELODY"])
    with pytest.raises(EmptyMidiError, match="no notes"):
        read_midi(write_midi(score, tmp_path / "empty.mid"))


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_midi(tmp_path / "nowhere.mid")


def test_song_without_bridge_track_raises_missing_track(data_root, tmp_path):
    score = symusic.Score(str(_midi(data_root)))
    score.tracks = [t for t in score.tracks if t.name != "BRIDGE"]
    path = write_midi(score, tmp_path / "no_bridge.mid")
    with pytest.raises(MissingTrackError, match="BRIDGE"):
        read_song_notes(path)


def test_meters_other_than_four_four_raise():
    assert check_meter(4, 4) == 64
    with pytest.raises(UnsupportedMeterError, match="3/4"):
        check_meter(3, 4)
    with pytest.raises(ValueError):  # every data error is a ValueError for the CLI
        check_meter(6, 8)
