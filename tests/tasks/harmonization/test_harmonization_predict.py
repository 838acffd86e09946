"""Harmonization inference: binarization by a threshold, merging short gaps, the grid search."""

import numpy as np

from stripes.evaluation.harmonization.binarization import (
    choose_binarization,
    fill_gaps,
    frame_f1,
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
    best = choose_binarization([probs], [target], "f1", thresholds=(0.2, 0.5),
                               merge_gaps=(0, 1), criteria={"f1": frame_f1})
    assert (best["threshold"], best["merge_gap"]) == (0.2, 1)
    assert best["score"] == 1.0 and len(best["grid"]) == 4
