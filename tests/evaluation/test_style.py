"""Style profiles: binning, invariances, and similarity of a continuation to its prompt."""

import numpy as np
import pytest
import symusic

from stripes.evaluation.style import (
    as_notes,
    cosine_similarity,
    note_pairs,
    notes_from_score,
    onset_duration_histogram,
    split_notes_by_time,
    style_similarity,
    style_similarity_curve,
    time_pitch_histogram,
)


def _groove(n_bars=8, seed=0):
    """A little bass-and-chords pattern: eighth notes, a triplet, a held chord, per 4/4 bar."""
    rng = np.random.default_rng(seed)
    onsets, durs, pitches = [], [], []
    for bar in range(n_bars):
        base = 4.0 * bar
        root = 40 + int(rng.integers(0, 5))
        for i in range(4):  # eighth notes on beats 1-2
            onsets.append(base + 0.5 * i)
            durs.append(0.5)
            pitches.append(root + (0, 7, 12, 7)[i])
        for i in range(3):  # a quarter-note triplet on beat 3
            onsets.append(base + 2 + i * 2 / 3)
            durs.append(2 / 3)
            pitches.append(root + 12 + 2 * i)
        for p in (0, 4, 7):  # a chord held for a half note
            onsets.append(base + 2)
            durs.append(2.0)
            pitches.append(root + 24 + p)
    return as_notes(onsets, durs, pitches)


def test_histograms_have_the_documented_shapes():
    notes = _groove()
    assert onset_duration_histogram(notes).shape == (24, 12)
    assert time_pitch_histogram(notes).shape == (24, 41)


def test_onset_duration_bins_follow_the_documented_rule():
    # onsets: downbeat, 2nd 16th, a triplet eighth, the 5th beat (= downbeat of bar 2), 3.999..
    notes = as_notes(
        [0.0, 0.25, 1 / 3, 4.0, 7.9999999999, 1.0],
        [1.0, 0.25, 1 / 3, 2.0, 0.1, 2.5],
        [60] * 6,
    )
    hist = onset_duration_histogram(notes)
    assert hist.sum() == 5  # the 2.5-beat note is too long
    assert hist[0, 6] == 1  # onset 0, duration 1 beat = 6 sixths
    assert hist[1, 1] == 1  # onset 0.25 -> bin 1 (0.1667..0.333), duration 0.25 -> bin 1
    assert hist[2, 2] == 1  # triplet: 1/3 beat sits exactly on the edge of bin 2
    assert hist[0, 11] == 1  # onset 4 = next downbeat; a 2-beat duration is in the last bin
    assert hist[0, 0] == 1  # float rounding just below a bar line counts as the downbeat


def test_time_pitch_pairs_count_later_minus_earlier_and_chords_both_ways():
    notes = as_notes([0.0, 1.0, 1.0, 5.0], [1.0] * 4, [60, 64, 67, 60])
    lags, intervals = note_pairs(notes)
    pairs = sorted(zip(lags.tolist(), intervals.tolist(), strict=True))
    # 1->5 and 2->5 are 4 beats apart or more: left out; 0->5 is 5 beats apart.
    assert pairs == [(0.0, -3.0), (0.0, 3.0), (1.0, 4.0), (1.0, 7.0)]
    hist = time_pitch_histogram(notes)
    assert hist.sum() == 4
    assert hist[0, 20 - 3] == 1 and hist[0, 20 + 3] == 1
    assert hist[6, 20 + 4] == 1 and hist[6, 20 + 7] == 1


def test_time_pitch_histogram_drops_large_intervals():
    notes = as_notes([0.0, 0.5], [0.5, 0.5], [40, 70])
    assert time_pitch_histogram(notes).sum() == 0
    assert time_pitch_histogram(notes, max_interval=30)[3, 60] == 1


def test_note_pairs_match_the_quadratic_definition():
    rng = np.random.default_rng(3)
    notes = as_notes(
        np.round(rng.uniform(0, 20, 80) * 4) / 4, np.ones(80), rng.integers(40, 80, 80)
    )
    lags, intervals = note_pairs(notes)
    lag = notes[None, :, 0] - notes[:, None, 0]  # [i, j] = onset_j - onset_i
    ok = (lag >= 0) & (lag < 4) & ~np.eye(80, dtype=bool)
    expected = sorted(zip(lag[ok], (notes[None, :, 2] - notes[:, None, 2])[ok], strict=True))
    assert sorted(zip(lags, intervals, strict=True)) == expected


def test_a_piece_is_perfectly_similar_to_itself():
    notes = _groove()
    sims = style_similarity(notes, notes)
    assert sims["onset_duration"] == pytest.approx(1.0)
    assert sims["time_pitch"] == pytest.approx(1.0)


def test_transposition_keeps_both_similarities_at_one():
    notes = _groove()
    transposed = notes.copy()
    transposed[:, 2] += 5
    sims = style_similarity(transposed, notes)
    assert sims["onset_duration"] == pytest.approx(1.0)
    assert sims["time_pitch"] == pytest.approx(1.0)


def test_rhythm_change_lowers_onset_duration_similarity():
    notes = _groove()
    swung = notes.copy()
    offbeat = np.isclose(np.mod(swung[:, 0], 1.0), 0.5)
    swung[offbeat, 0] += 1 / 6  # swing the off-beat eighths
    sims = style_similarity(swung, notes)
    assert sims["onset_duration"] < 0.95
    assert sims["time_pitch"] < 0.999


def test_different_intervals_lower_time_pitch_similarity_only():
    notes = _groove()
    inverted = notes.copy()
    inverted[:, 2] = 100 - inverted[:, 2]  # mirror the pitches: every interval changes sign
    sims = style_similarity(inverted, notes)
    assert sims["onset_duration"] == pytest.approx(1.0)
    assert sims["time_pitch"] < 0.9


def test_cosine_similarity_of_an_empty_profile_is_nan():
    assert np.isnan(cosine_similarity(np.zeros((2, 2)), np.ones((2, 2))))
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([0.0, 2.0])) == 0.0


def test_split_by_time_keeps_absolute_onsets_and_drops_outside_notes():
    notes = as_notes([1.0, 16.0, 17.0, 31.9, 40.0], [1] * 5, [60] * 5)
    chunks = split_notes_by_time(notes, chunk_beats=16.0, start_beats=16.0)
    assert [c[:, 0].tolist() for c in chunks] == [[16.0, 17.0, 31.9], [40.0]]
    assert len(split_notes_by_time(notes, 16.0, 16.0, n_chunks=4)) == 4


def test_similarity_curve_drops_where_the_continuation_changes_style():
    prompt = _groove(4, seed=1)
    same = _groove(8, seed=2)
    same[:, 0] += 16.0  # the continuation starts after the 4-bar prompt
    drift = as_notes(np.arange(48.0, 80.0, 0.25), np.full(128, 0.25), np.tile([60, 61], 64))
    continuation = np.concatenate([same[same[:, 0] < 48.0], drift])
    curve = style_similarity_curve(continuation, prompt, chunk_beats=16.0, start_beats=16.0)
    assert curve["onset_duration"].shape == (4,)
    assert np.all(curve["onset_duration"][:2] > 0.99)
    assert np.all(curve["onset_duration"][2:] < 0.5)
    assert np.all(curve["time_pitch"][2:] < curve["time_pitch"][:2].min())


def _score(ttype_quarter=False):
    score = symusic.Score(480)
    track = symusic.Track("bass", 33, False)
    for time, dur, pitch in [(0, 240, 40), (240, 240, 47), (960, 1920, 52)]:
        track.notes.append(symusic.Note(time, dur, pitch, 90))
    drums = symusic.Track("drums", 0, True)
    drums.notes.append(symusic.Note(0, 120, 36, 100))
    score.tracks.append(track)
    score.tracks.append(drums)
    return score.to("quarter") if ttype_quarter else score


@pytest.mark.parametrize("quarter", [False, True])
def test_notes_from_score_converts_ticks_to_beats(quarter):
    notes = notes_from_score(_score(quarter))
    np.testing.assert_allclose(notes, [[0.0, 0.5, 40], [0.5, 0.5, 47], [2.0, 4.0, 52]])
    assert len(notes_from_score(_score(quarter), include_drums=True)) == 4


def test_notes_from_score_refuses_second_time():
    with pytest.raises(ValueError, match="tick or quarter"):
        notes_from_score(_score().to("second"))
