"""Voiced decoding (binarization.decode_voices): a part of k voices sounds at most k pitches,
hand-made probabilities give hand-checked notes, and the chosen binarization carries the voices
so that the arranger decodes as the evaluator did."""

import numpy as np
import pytest

from stripes.evaluation.harmonization.binarization import (
    choose_binarization,
    decode_notes,
    decode_voices,
    decode_window,
)
from stripes.evaluation.harmonization.layout import CHORALE_LAYOUT, POP909_LAYOUT, TrackLayout


def probs(T: int, P: int = 8) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((T, P)), np.zeros((T, P))


def test_one_voice_sounds_the_likelier_of_two_pitches():
    frame, onset = probs(4)
    frame[:, 2], frame[:, 5] = 0.6, 0.7  # two candidates all along: a singer sings one
    onset[0, 2] = onset[0, 5] = 0.9
    on, fr = decode_voices(frame, onset, 1, threshold=0.5, onset_threshold=0.5)
    assert fr[:, 5].all() and not fr[:, 2].any()
    assert on[:, 5].tolist() == [True, False, False, False]


def test_a_voice_moves_without_an_onset_and_repeats_with_one():
    frame, onset = probs(6)
    frame[:3, 1] = 0.8
    frame[3:, 4] = 0.8  # moves to pitch 4 at step 3: struck, although no onset is predicted
    onset[0, 1] = 0.9
    onset[5, 4] = 0.9  # a repeated note of pitch 4
    on, fr = decode_voices(frame, onset, 1, threshold=0.5, onset_threshold=0.5)
    assert np.flatnonzero(on[:, 1]).tolist() == [0]
    assert np.flatnonzero(on[:, 4]).tolist() == [3, 5]
    assert fr.sum(axis=1).tolist() == [1] * 6


def test_rests_where_no_pitch_reaches_the_threshold():
    frame, onset = probs(5)
    frame[:2, 3] = 0.9
    frame[2:, 3] = 0.1
    on, fr = decode_voices(frame, onset, 2, threshold=0.5, onset_threshold=0.5)
    assert fr.sum(axis=1).tolist() == [1, 1, 0, 0, 0]
    assert on[0, 3] and on.sum() == 1


def test_hold_keeps_a_sounding_pitch_through_a_near_tie():
    frame, onset = probs(4)
    frame[:, 0] = [0.8, 0.6, 0.8, 0.8]
    frame[:, 1] = [0.1, 0.65, 0.1, 0.1]  # a blip that overtakes pitch 0 at step 1
    flicker = decode_voices(frame, onset, 1, 0.5, 0.5, hold=0.0)[0]
    held = decode_voices(frame, onset, 1, 0.5, 0.5, hold=0.2)[0]
    assert flicker.sum() == 3  # 0, then 1, then 0 again: three notes
    assert held.sum() == 1 and held[0, 0]


@pytest.mark.parametrize("T,count", [(1, 1), (7, 2), (13, 3)])
def test_never_more_pitches_than_voices(T, count):
    rng = np.random.default_rng(T)
    frame, onset = rng.random((T, 128)), rng.random((T, 128))
    on, fr = decode_voices(frame, onset, count, 0.3, 0.5, hold=0.1)
    assert (fr.sum(axis=1) <= count).all()
    assert not (on & ~fr).any()


def test_decode_notes_voices_only_the_voiced_slots():
    rng = np.random.default_rng(0)
    frame, onset = rng.random((16, 384)), rng.random((16, 384))
    free = decode_notes(frame, onset, 0.3, 0.5)
    voiced = decode_notes(frame, onset, 0.3, 0.5, voices=(0, 2, 1))
    assert np.array_equal(free.frames[:, :128], voiced.frames[:, :128])
    assert (voiced.frames[:, 128:256].sum(axis=1) <= 2).all()
    assert (voiced.frames[:, 256:].sum(axis=1) <= 1).all()
    assert free.frames[:, 128:].sum() > voiced.frames[:, 128:].sum()


def test_the_chosen_binarization_carries_the_voices():
    rng = np.random.default_rng(1)
    window = {"probs": rng.random((32, 384)), "onset_probs": rng.random((32, 384)),
              "targets": rng.random((32, 384)) > 0.9, "onsets": rng.random((32, 384)) > 0.95}
    choice = choose_binarization([window], "note_f1", thresholds=[0.3, 0.6],
                                 onset_thresholds=[0.5], voices=CHORALE_LAYOUT.voices,
                                 voice_holds=[0.0, 0.2])
    assert choice["voices"] == [1, 2, 1] and choice["voice_hold"] in (0.0, 0.2)
    assert len(choice["grid"]) == 4 and len(choice["grid"][0]) == 7
    decoded = decode_window(window, choice)
    assert (decoded.frames[:, 128:256].sum(axis=1) <= 2).all()
    unvoiced = choose_binarization([window], "note_f1", thresholds=[0.3],
                                   onset_thresholds=[0.5])
    assert unvoiced["voices"] == []


def test_layout_voices_are_checked():
    assert POP909_LAYOUT.voices == ()
    with pytest.raises(ValueError, match="voices"):
        TrackLayout(("a", "b"), copied=(0,), bass_slot=1, chord_slot=1, voices=(1,))
