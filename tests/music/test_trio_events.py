"""The trio event format ([SPE] App. C.2): vocabulary, encoding, decoding, MIDI round trips."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from stripes.music.trio_events import (
    TrioVocabulary,
    clean_notes,
    decode_tokens,
    encode_notes,
    quantize_ticks,
    score_to_trio,
    shift_tokens,
    trio_to_score,
)

V = TrioVocabulary()


def test_three_tracks_give_the_papers_794_tokens():
    assert (V.size, V.n_shifts, V.eos, V.bos) == (794, 24, 792, 793)
    assert TrioVocabulary(n_tracks=1).size == 2 * 128 + 24 + 2


def test_token_ids_follow_the_official_order_and_describe_themselves():
    assert V.note_on(0, 0) == 0 and V.note_on(2, 127) == 383
    assert V.note_off(0, 0) == 384 and V.note_off(2, 127) == 767
    assert V.time_shift(0, 1) == 768 and V.time_shift(0, 11) == 778
    assert V.time_shift(1, 0) == 779 and V.time_shift(2, 0) == 791
    assert V.describe(V.time_shift(1, 5)) == ("time_shift", 1, 5)
    assert V.describe(V.note_off(1, 36)) == ("note_off", 1, 36)
    assert V.describe(V.bos) == ("bos",)
    described = {V.describe(i) for i in range(V.size)}
    assert len(described) == V.size  # every id means something different


@pytest.mark.parametrize("beats,offset", [(0, 0), (2, 1), (3, 0), (0, 12), (-1, 3)])
def test_time_shifts_outside_the_format_are_refused(beats, offset):
    with pytest.raises(ValueError):
        V.time_shift(beats, offset)


def test_shifts_land_on_the_target_tick_through_beat_offsets():
    # From tick 5 of beat 0 to tick 3 of beat 5: two (2, 0) steps reach beat 4, then (1, 3).
    assert shift_tokens(5, 63, V) == [V.time_shift(2, 0)] * 2 + [V.time_shift(1, 3)]
    assert shift_tokens(5, 9, V) == [V.time_shift(0, 9)]  # same beat: absolute offset 9
    assert shift_tokens(5, 48, V) == [V.time_shift(2, 0)] * 2  # exactly a beat start
    assert shift_tokens(7, 7, V) == []
    with pytest.raises(ValueError):
        shift_tokens(8, 7, V)


def test_a_hand_made_trio_encodes_to_the_expected_tokens():
    notes = np.array([[0, 0, 12, 60], [1, 0, 3, 36], [0, 12, 6, 60]])  # repeated C, a drum hit
    expected = [V.bos, V.note_on(0, 60), V.note_on(1, 36), V.time_shift(0, 3), V.note_off(1, 36),
                V.time_shift(1, 0), V.note_off(0, 60), V.note_on(0, 60), V.time_shift(0, 6),
                V.note_off(0, 60), V.eos]
    tokens = encode_notes(notes, V, bos=True, eos=True)
    assert tokens.tolist() == expected
    np.testing.assert_array_equal(decode_tokens(tokens, V), clean_notes(notes))


def test_cleaning_cuts_overlaps_of_one_pitch_and_keeps_the_longest_duplicate():
    notes = np.array([[0, 0, 24, 60], [0, 12, 24, 60], [0, 12, 6, 60], [1, 0, 24, 60],
                      [0, 30, 0, 62]])
    np.testing.assert_array_equal(
        clean_notes(notes),
        [[0, 0, 12, 60], [1, 0, 24, 60], [0, 12, 24, 60], [0, 30, 1, 62]])


def test_random_trios_round_trip_through_tokens():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 80))
        notes = np.stack([rng.integers(0, 3, n), rng.integers(0, 400, n), rng.integers(1, 60, n),
                          rng.integers(0, 128, n)], axis=1)
        cleaned = clean_notes(notes)
        np.testing.assert_array_equal(decode_tokens(encode_notes(notes, V), V), cleaned)


def test_decoding_is_lenient_where_the_grammar_is_not():
    tokens = [V.note_off(0, 60), V.note_on(0, 60), V.time_shift(0, 6), V.time_shift(0, 2),
              V.note_on(0, 60), V.time_shift(1, 0), V.note_off(0, 60), V.eos, V.note_on(2, 1)]
    # Stray off ignored, backward shift ignored, FIFO close, the open note closed at the end.
    np.testing.assert_array_equal(decode_tokens(tokens, V), [[0, 0, 12, 60], [0, 6, 6, 60]])
    assert len(decode_tokens(tokens[:6], V, close_open=False)) == 0


def test_quantization_rounds_onsets_and_ends_to_the_nearest_twelfth_of_a_beat():
    ticks = [0, 19, 20, 21, 40, 480]
    np.testing.assert_array_equal(quantize_ticks(ticks, 480), [0, 0, 1, 1, 1, 12])


def test_a_score_round_trips_through_tokens_and_midi(tmp_path):
    score = symusic.Score(480)
    for name, notes in (("bass", [(0, 470, 36), (480, 240, 38)]), ("drums", [(0, 10, 36)]),
                        ("keys", [(965, 475, 64), (965, 475, 67)])):
        track = symusic.Track(name=name)
        for t, d, p in notes:
            track.notes.append(symusic.Note(t, d, p, 90))
        score.tracks.append(track)
    trio = score_to_trio(score, [[0], [1], [2]])
    np.testing.assert_array_equal(trio, [[0, 0, 12, 36], [1, 0, 1, 36], [0, 12, 6, 38],
                                         [2, 24, 12, 64], [2, 24, 12, 67]])
    out = trio_to_score(decode_tokens(encode_notes(trio, V), V), ["bass", "drums", "keys"],
                        drums=[False, True, False], qpm=100.0)
    out.dump_midi(str(tmp_path / "t.mid"))
    back = symusic.Score(str(tmp_path / "t.mid"))
    assert back.ticks_per_quarter == 12 and back.tracks[1].is_drum
    assert [t.name for t in back.tracks] == ["bass", "drums", "keys"]
    np.testing.assert_array_equal(score_to_trio(back, [[0], [1], [2]]), trio)


def raw_notes(score: symusic.Score) -> np.ndarray:
    """``[N, 4]`` (track, start, duration, pitch) in the file's own ticks."""
    parts = []
    for k, track in enumerate(score.tracks):
        a = track.notes.numpy()
        parts.append(np.stack([np.full(len(a["time"]), k), a["time"], a["duration"], a["pitch"]],
                              axis=1))
    return np.concatenate(parts).astype(np.int64)


@pytest.mark.parametrize("song", [1, 2, 6])
def test_real_pop909_songs_round_trip_up_to_the_twelfth_beat_grid(data_root, tmp_path, song):
    score = symusic.Score(str(data_root / "pop909" / f"{song:03d}" / f"{song:03d}.mid"))
    assert [t.name for t in score.tracks] == ["MELODY", "BRIDGE", "PIANO"]
    trio = score_to_trio(score, [[0], [1], [2]])
    tokens = encode_notes(trio, V, bos=True, eos=True)
    np.testing.assert_array_equal(decode_tokens(tokens, V), trio)  # tokens are lossless
    # The grid against the file: same notes, each onset within half a grid tick (1/24 beat),
    # each end rounded the same way unless the next note of its pitch starts earlier.
    raw, tpq = raw_notes(score), score.ticks_per_quarter
    assert len(raw) == len(trio) > 900
    raw = raw[np.lexsort((raw[:, 3], quantize_ticks(raw[:, 1], tpq), raw[:, 0]))]
    grid = trio[np.lexsort((trio[:, 3], trio[:, 1], trio[:, 0]))]
    np.testing.assert_array_equal(grid[:, [0, 3]], raw[:, [0, 3]])
    assert np.abs(24 * raw[:, 1] - 2 * tpq * grid[:, 1]).max() <= tpq  # |error| <= tpq / 24
    end = grid[:, 1] + grid[:, 2]
    rounded_end = np.maximum(quantize_ticks(raw[:, 1] + raw[:, 2], tpq), grid[:, 1] + 1)
    assert np.mean(end == rounded_end) > 0.99
    starts = set(map(tuple, grid[:, [0, 1, 3]].tolist()))
    cut = grid[end != rounded_end]
    assert (end[end != rounded_end] < rounded_end[end != rounded_end]).all()
    assert all((k, s + d, p) in starts for k, s, d, p in cut.tolist())  # the next note's start
    # And back through a MIDI file at 12 ticks per quarter.
    out = trio_to_score(trio, ["MELODY", "BRIDGE", "PIANO"], qpm=score.tempos[0].qpm)
    out.dump_midi(str(tmp_path / "song.mid"))
    again = symusic.Score(str(tmp_path / "song.mid"))
    np.testing.assert_array_equal(score_to_trio(again, [[0], [1], [2]]), trio)
