"""Content-context mutual information ([ST] Table I): the estimator on known distributions, then
the table on real POP909 songs."""

import math

import numpy as np
import pytest

from stripes.analysis.content_context import (
    content_context_mi,
    context_index,
    mutual_information,
    onset_samples,
)


def test_mutual_information_of_a_hand_computed_joint():
    # p(x, y) = [[.4, .1], [.1, .4]]: MI = .8 log 1.6 + .2 log .4
    x = np.array([0] * 4 + [0] + [1] + [1] * 4)
    y = np.array([0] * 4 + [1] + [0] + [1] * 4)
    expected = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)
    assert mutual_information(x, y) == pytest.approx(expected, abs=1e-12)
    # labels are names only: renaming values changes nothing
    assert mutual_information(x * 7 + 60, np.where(y, "C", "G")) == pytest.approx(expected)


def test_mutual_information_is_the_entropy_on_the_diagonal_and_near_zero_when_independent():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 8, 200_000)
    assert mutual_information(x, x) == pytest.approx(math.log(8), abs=1e-3)
    y = rng.integers(0, 5, 200_000)
    mi = mutual_information(x, y)
    bias = 7 * 4 / (2 * len(x))  # Miller-Madow: what the plug-in adds on average
    assert 0 <= mi < 5 * bias


def test_mutual_information_refuses_unpaired_or_empty_samples():
    with pytest.raises(ValueError, match="pair up"):
        mutual_information([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        mutual_information([], [])


def test_context_index_counts_each_distinct_vector_once():
    pos = np.array([[0, 1, 1], [1, 0, 0], [0, 1, 1], [0, 0, 0]], dtype=np.float32)
    idx = context_index(pos)
    assert idx[0] == idx[2] and len(set(idx.tolist())) == 3
    with pytest.raises(ValueError, match=r"\[N, L\]"):
        context_index(np.zeros(3))


def test_onsets_are_the_target_notes_inside_each_window(small_corpus):
    pitch, pos = onset_samples(small_corpus, "time", split="train", bars=16)
    assert len(pitch) == len(pos) > 100
    assert pos.min() >= 0 and pos.max() < 16 * 64  # the step inside a 16-bar window
    pc, _ = onset_samples(small_corpus, "time", split="train", bars=16, content="pitch_class")
    np.testing.assert_array_equal(pc, pitch % 12)
    with pytest.raises(ValueError, match="content"):
        onset_samples(small_corpus, "time", "train", 16, content="velocity")


def test_chords_tell_more_about_pitch_than_the_time_step_on_pop909(small_corpus):
    rows = {r.context: r for r in content_context_mi(small_corpus, split=None, bars=16)}
    assert set(rows) == {"time", "rep", "rep_sorted", "key", "bin", "chord", "phrase"}
    assert all(r.n == rows["time"].n and r.mi >= 0 for r in rows.values())
    # [ST] Table I's reading: harmony contexts carry information about the content, the position
    # in the window (after its estimator bias) hardly any.
    assert rows["chord"].corrected > 2 * max(rows["time"].corrected, 0.01)
    assert rows["bin"].corrected > 2 * max(rows["time"].corrected, 0.01)
    assert rows["time"].context_values > rows["chord"].context_values
    with pytest.raises(ValueError, match="unknown contexts"):
        content_context_mi(small_corpus, contexts=["tempo"])


def test_rep_readings_number_the_same_chords_by_first_appearance_or_by_identity(small_corpus):
    rows = {r.context: r for r in content_context_mi(
        small_corpus, ["rep", "rep_first", "rep_sorted", "chord"], split=None, bars=16)}
    assert rows["rep"] == rows["rep_first"].__class__(**{**rows["rep_first"].__dict__,
                                                        "context": "rep"})
    # both readings take as many values as the most chords in a window, far fewer than chord ids
    assert rows["rep_sorted"].context_values == rows["rep"].context_values
    assert rows["rep_sorted"].context_values < rows["chord"].context_values
    assert rows["rep_sorted"].mi != rows["rep"].mi
