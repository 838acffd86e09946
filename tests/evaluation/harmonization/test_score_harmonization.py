"""The one entry of harmonization scoring: the binarization chosen on validation windows (or
given), every test length scored in both flavours beside the floors, the rule and sanity."""

import numpy as np
import pytest

from stripes.evaluation.harmonization import score_harmonization, score_windows
from stripes.evaluation.harmonization.baselines import BASELINES, rule_harmonization
from stripes.evaluation.harmonization.layout import POP909_LAYOUT

C_MAJOR = 0b000010010001


def window(song: int, steps: int = 64, seed: int = 0) -> dict:
    """A POP909-shaped window whose target is the rule's arrangement, predicted with noise."""
    rng = np.random.default_rng(seed)
    root, chroma = np.full(steps, 1), np.full(steps, C_MAJOR)
    inputs = np.zeros((steps, 256))
    inputs[::8, 72] = 1
    target = rule_harmonization(inputs, root, chroma).astype(float)
    probs = np.clip(0.7 * target + 0.2 * rng.random(target.shape), 0, 1)
    return {"probs": probs, "targets": target, "inputs": inputs, "root": root, "chroma": chroma,
            "song": song}


def test_the_binarization_is_chosen_on_validation_and_applied_to_every_length():
    validation = [window(0, seed=1), window(1, seed=2)]
    tests = {"4": [window(2, seed=3), window(3, seed=4)], "None": [window(4, 128, seed=5)]}
    lazily = ((length, windows) for length, windows in tests.items())
    result = score_harmonization(lazily, POP909_LAYOUT, validation=validation,
                                 thresholds=(0.1, 0.6, 0.95), merge_gaps=(0,))
    choice = result["binarization"]
    assert choice["criterion"] == "frame_f1" and choice["threshold"] == 0.6
    assert result["layout"] == {"names": ["melody", "bridge", "piano"], "accompaniment": [2]}
    assert list(result["test"]) == ["4", "None"]
    test = result["test"]["4"]
    assert test["n"] == 2 and test["songs"] == [2, 3] and set(test["flavours"]) == {
        "reference", "paper"}
    assert set(test["flavours"]["paper"]["floors"]) == set(BASELINES)
    assert test["flavours"]["reference"]["model"]["accompaniment"]["CS"]["mean"] == \
        pytest.approx(100.0)  # threshold 0.6 recovers the rule's arrangement exactly
    assert test["summary"] == test["flavours"]["reference"]["model"]["all"]
    assert test["sanity"]["rule"]["pass_share"] == 1.0 and test["warning"] is None
    given = score_harmonization(tests.items(), POP909_LAYOUT, binarization=choice)
    assert given["test"] == result["test"]
    assert score_windows(tests["None"], choice, POP909_LAYOUT) == result["test"]["None"]
    rhythm = test["rhythm"]   # the model recovers the rule exactly: the same figures
    assert set(rhythm) == {"model", "original", "rule", "comparison"}
    assert rhythm["model"] == rhythm["original"] == rhythm["rule"]
    assert rhythm["model"]["offbeat_share"]["mean"] == 0.0            # a pad on the beat
    assert "offbeat_share_min" in rhythm["comparison"]["failed"]


def test_an_onset_harmonizer_is_scored_on_its_decoded_strikes():
    """The same probabilities with an onset channel that strikes every eighth: the decoded
    accompaniment is a figure (off-beat onsets), the frame-only decode a pad."""
    w = window(0)
    onsets = np.zeros_like(w["probs"])
    onsets[::8, 256:] = w["targets"][::8, 256:] * 0.9
    struck = {**w, "onset_probs": onsets, "onsets": onsets > 0.5}
    choice = {"threshold": 0.6, "merge_gap": 0, "onset_threshold": 0.5}
    figures = score_windows([struck], choice, POP909_LAYOUT)["rhythm"]["model"]
    pad = score_windows([w], choice, POP909_LAYOUT)["rhythm"]["model"]
    assert figures["offbeat_share"]["mean"] == pytest.approx(0.5)
    assert figures["mean_note_beats"]["mean"] < pad["mean_note_beats"]["mean"]


def test_the_binarization_comes_from_validation_or_is_given_not_both():
    tests = [("4", [window(0)])]
    with pytest.raises(ValueError, match="one of the two"):
        score_harmonization(tests, POP909_LAYOUT)
    with pytest.raises(ValueError, match="one of the two"):
        score_harmonization(tests, POP909_LAYOUT, validation=[window(1)],
                            binarization={"threshold": 0.5, "merge_gap": 0})
