"""Harmonization inference: binarization by a threshold, merging short gaps, the grid search."""

import numpy as np

from stripes.evaluation.harmonization.binarization import (
    choose_binarization,
    fill_gaps,
    frame_f1,
    on_frames,
)
from stripes.tasks.harmonization.predict import binarize


def test_fill_gaps_merges_short_gaps_only():
    roll = np.zeros((12, 2), dtype=bool)
    roll[[0, 1, 3, 4, 9], 0] = True  # gap of 1 (step 2), gap of 4 (steps 5..8)
    roll[[5], 1] = True  # a single note: nothing to merge
    out = fill_gaps(roll, 2)
    assert out[:, 0].tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0]
    assert out[:, 1].sum() == 1
    assert fill_gaps(roll, 4)[:, 0].tolist() == [1] * 10 + [0, 0]
    assert np.array_equal(fill_gaps(roll, 0), roll)


def test_binarize_thresholds_then_merges_and_refuses_bad_thresholds():
    probs = np.array([[0.9], [0.2], [0.8], [0.1], [0.1], [0.7]])
    assert binarize(probs, 0.5)[:, 0].tolist() == [1, 0, 1, 0, 0, 1]
    assert binarize(probs, 0.5, merge_gap=1)[:, 0].tolist() == [1, 1, 1, 0, 0, 1]
    assert binarize(probs, 0.15, merge_gap=2)[:, 0].all()
    try:
        binarize(probs, 1.5)
    except ValueError as err:
        assert "threshold" in str(err)
    else:
        raise AssertionError("a threshold of 1.5 was accepted")


def test_choose_binarization_finds_the_best_grid_point():
    target = np.zeros((20, 3), dtype=bool)
    target[5:15, 1] = True
    probs = np.where(target, 0.35, 0.05)
    probs[10, 1] = 0.02  # a dip that merging repairs
    best = choose_binarization([{"probs": probs, "targets": target}], "f1",
                               thresholds=(0.2, 0.5), merge_gaps=(0, 1),
                               criteria={"f1": on_frames(frame_f1)})
    assert (best["threshold"], best["merge_gap"]) == (0.2, 1)
    assert best["score"] == 1.0 and len(best["grid"]) == 4


def test_decode_notes_strikes_from_onsets_and_holds_on_frames():
    from stripes.evaluation.harmonization.binarization import decode_notes

    frames = np.full((12, 2), 0.7)          # a flat "on": what frame BCE makes of a figure
    onsets = np.zeros((12, 2))
    onsets[[0, 4, 8], 0] = 0.9               # three strikes of pitch 0
    onsets[[5, 6], 1] = 0.6                  # one run of onset steps: one note of pitch 1
    notes = decode_notes(frames, onsets, threshold=0.5, onset_threshold=0.5)
    # pitch 0: three notes, each released one step before the next strike
    assert notes.frames[:, 0].astype(int).tolist() == [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1]
    assert np.flatnonzero(notes.onsets[:, 0]).tolist() == [0, 4, 8]
    # pitch 1: frames alone never start a note; the onset run starts one at its first step
    assert np.flatnonzero(notes.frames[:, 1]).tolist() == list(range(5, 12))
    assert np.flatnonzero(notes.onsets[:, 1]).tolist() == [5]
    frames[7:, 0] = 0.1                      # the frame drops: the note ends there
    short = decode_notes(frames, onsets, threshold=0.5, onset_threshold=0.5)
    assert short.frames[:, 0].astype(int).tolist() == [1, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0]
    try:
        decode_notes(frames, onsets[:5], 0.5, 0.5)
    except ValueError as err:
        assert "differ" in str(err)
    else:
        raise AssertionError("mismatched shapes were accepted")


def test_onset_criteria_see_rhythm_and_the_grid_reads_onset_thresholds():
    from stripes.evaluation.harmonization.binarization import (
        BINARIZATION_CRITERIA,
        NoteRoll,
        onset_f1,
    )

    target = np.zeros((16, 1), bool)
    target[[0, 4, 8, 12]] = True
    assert onset_f1(np.roll(target, 1, axis=0), target) == 1.0   # ±1 step is played timing
    assert onset_f1(np.roll(target, 2, axis=0), target) == 0.0
    pad = NoteRoll(np.ones((16, 1), bool))                          # one held note
    figure = NoteRoll(np.ones((16, 1), bool), target)               # four strikes
    fn = BINARIZATION_CRITERIA["onset_frame_f1"]
    assert fn(figure, figure) == 1.0 and fn(pad, figure) < 0.75
    assert BINARIZATION_CRITERIA["frame_f1"](pad, figure) == 1.0   # frames alone cannot tell
    window = {"probs": np.full((16, 1), 0.8), "onset_probs": np.where(target, 0.35, 0.05),
              "targets": target.astype(float), "onsets": target.astype(float)}
    best = choose_binarization([window], "onset_frame_f1", thresholds=(0.5,),
                               onset_thresholds=(0.2, 0.5))
    assert best["onset_threshold"] == 0.2 and best["merge_gap"] == 0
    assert [row[1] for row in best["grid"]] == [0.2, 0.5]


def test_texture_moves_onset_odds_and_a_variation_repeats_per_bar():
    from stripes.tasks.harmonization.predict import Texture, apply_texture

    probs = np.full((128, 3), 0.2)
    assert apply_texture(probs, Texture()) is probs
    busier = apply_texture(probs, Texture(density=4.0))
    assert np.allclose(busier, 0.5)                       # odds 0.25 x 4 = 1
    a = apply_texture(probs, Texture(variation=1))
    b = apply_texture(probs, Texture(variation=2))
    assert np.allclose(a[:64], a[64:]) and not np.allclose(a, b)   # one figure per bar
    assert np.allclose(a[:, 0], a[:, 2])                  # an emphasis in time, for every pitch
    for bad in ({"density": 0.0}, {"variation": -1}):
        try:
            Texture(**bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{bad} was accepted")


def test_note_f1_matches_onsets_and_ends_and_punishes_pads_and_flurries():
    from stripes.evaluation.harmonization.binarization import NoteRoll, note_f1

    def roll(notes, steps=32):
        frames, onsets = np.zeros((steps, 2), bool), np.zeros((steps, 2), bool)
        for start, length, pitch in notes:
            frames[start:start + length, pitch] = True
            onsets[start, pitch] = True
        return NoteRoll(frames, onsets)

    figure = roll([(0, 8, 0), (8, 8, 0), (16, 8, 0), (24, 8, 0)])   # four repeated notes
    assert note_f1(figure, figure) == 1.0
    assert note_f1(roll([(1, 7, 0), (8, 9, 0), (16, 8, 0), (24, 8, 0)]), figure) == 1.0
    assert note_f1(roll([(0, 32, 0)]), figure) == 0.0              # a pad: one wrong note
    assert note_f1(roll([(0, 8, 1), (8, 8, 0), (16, 8, 0), (24, 8, 0)]), figure) == 0.75
    flurry = roll([(t, 2, 0) for t in range(0, 32, 2)])
    assert note_f1(flurry, figure) == 0.0
    assert note_f1(roll([]), roll([])) == 1.0


def test_a_strike_cap_keeps_the_likeliest_notes_of_a_step():
    from stripes.evaluation.harmonization.binarization import decode_notes

    frames = np.full((4, 256), 0.9)
    onsets = np.zeros((4, 256))
    onsets[0, [60, 64, 67, 72]] = [0.5, 0.9, 0.7, 0.6]       # four candidates in slot 0
    onsets[0, 128 + 40] = 0.8                                # one in slot 1: its own cap
    capped = decode_notes(frames, onsets, 0.5, 0.4, max_strikes=2)
    assert np.flatnonzero(capped.onsets[0]).tolist() == [64, 67, 168]
    assert np.flatnonzero(decode_notes(frames, onsets, 0.5, 0.4).onsets[0]).tolist() == [
        60, 64, 67, 72, 168]
