"""The figure decoder (evaluation.harmonization.figure): one figure per window, the model's
expected chroma struck there per half bar, on hand-made probabilities."""

import numpy as np
import pytest

from stripes.evaluation.harmonization.binarization import (
    BINARIZATION_CRITERIA,
    NoteRoll,
    choose_binarization,
    decode_window,
)
from stripes.evaluation.harmonization.figure import (
    MIN_NOTE,
    calibrate,
    decode_figure,
    figure_positions,
    figure_profile,
    share_budget,
)
from stripes.evaluation.harmonization.layout import CHORALE_LAYOUT, POP909_LAYOUT
from stripes.evaluation.harmonization.rhythm import rhythm_figures, rhythm_nearness

C4, E4, G4 = 60, 64, 67


def two_bar_figure(weight: float = 1.0, noise: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Frame and onset probabilities ``[128, 128]`` (two 4/4 bars): C struck on the beats, E and
    G on the off-beat eighths, a faint haze of onsets everywhere else; onsets at the odds of a
    model whose strikes weigh ``weight``."""
    q = np.full((128, 128), noise / 128)
    for bar in (0, 64):
        for beat in range(4):
            q[bar + 16 * beat, C4] = 0.9
            q[bar + 16 * beat + 8, E4 if beat % 2 == 0 else G4] = 0.8
    onset = weight * q / (1 - q + weight * q)          # the odds times the weight
    frames = np.zeros((128, 128))
    frames[:, [C4, E4, G4]] = 0.6
    return frames, onset


def test_calibrate_undoes_the_weight_of_a_strike():
    p = np.array([[0.5, 8 / 9, 0.0, 1.0]])
    np.testing.assert_allclose(calibrate(p, 8.0), [[1 / 9, 0.5, 0.0, 1.0]])
    np.testing.assert_allclose(calibrate(p, 1.0), p)
    with pytest.raises(ValueError, match="onset_weight"):
        calibrate(p, 0.0)


def test_the_figure_is_the_positions_near_the_profile_peak_widened_by_a_step():
    q = np.zeros((130, 3))
    q[::64, 0] = 1.0          # the bar line in all three bars (the third is 2 steps long)
    q[40::64, 1] = 0.5        # a weaker strike at step 40, in two bars
    profile = figure_profile(q, 64)
    assert profile[0] == pytest.approx(1.0) and profile[40] == pytest.approx(0.5)
    keep = figure_positions(profile, 0.4)
    assert set(np.flatnonzero(keep)) == {63, 0, 1, 39, 40, 41}
    assert set(np.flatnonzero(figure_positions(profile, 0.6))) == {63, 0, 1}
    assert not figure_positions(np.zeros(64), 0.5).any()
    with pytest.raises(ValueError, match="share"):
        figure_positions(profile, 1.0)


@pytest.mark.parametrize("total", [0, 1, 5, 13])
def test_the_budget_is_shared_in_proportion_and_sums_to_the_total(total):
    expected = np.array([3.0, 1.0, 0.0, 2.0])
    counts = share_budget(expected, total)
    assert counts.sum() == total and counts[2] == 0
    assert np.all(np.abs(counts - total * expected / expected.sum()) < 1)
    assert share_budget(np.zeros(4), 5).sum() == 0


def test_a_clear_figure_is_struck_where_the_model_puts_it_in_every_bar():
    frames_p, onset_p = two_bar_figure(weight=8.0)
    onsets, frames = decode_figure(frames_p, onset_p, threshold=0.5, share=0.5, onset_weight=8.0)
    steps, pitches = np.nonzero(onsets)
    assert set(pitches) == {C4, E4, G4}
    assert set(steps % 64) == {0, 8, 16, 24, 32, 40, 48, 56}
    assert set(steps[pitches == C4] % 16) == {0}
    assert np.array_equal(onsets[:64], onsets[64:])        # the same figure in both bars
    # each note sounds up to the step before the next strike of its pitch
    c = frames[:, C4]
    assert c[0:15].all() and not c[15] and c[16]
    assert not (frames & ~frames_p.astype(bool)).any()


def test_a_diffuse_model_strikes_its_expected_count_at_its_figure_only():
    rng = np.random.default_rng(0)
    T, P = 96, 128
    q = rng.uniform(0, 0.004, (T, P))
    q[::16, 40:52] += rng.uniform(0.02, 0.06, (T // 16, 12))   # every beat, every pitch class
    onsets, _ = decode_figure(np.full((T, P), 0.9), q, 0.5, 0.5, onset_weight=1.0)
    keep = figure_positions(figure_profile(q), 0.5)
    assert keep[np.nonzero(onsets)[0] % 64].all()              # never outside the figure
    for s in range(0, T, 32):
        assert onsets[s:s + 32].sum() <= round(q[s:s + 32].sum())


def test_more_density_strikes_more():
    frames_p, onset_p = two_bar_figure(weight=1.0, noise=2.0)
    sparse, _ = decode_figure(frames_p, onset_p, 0.5, 0.3, 1.0)
    busy, _ = decode_figure(frames_p, np.minimum(2 * onset_p, 0.99), 0.5, 0.3, 1.0)
    assert busy.sum() > sparse.sum()


def test_a_silent_model_decodes_to_silence():
    onsets, frames = decode_figure(np.zeros((64, 128)), np.zeros((64, 128)), 0.5, 0.5, 8.0)
    assert not onsets.any() and not frames.any()


def test_the_figure_decoder_is_chosen_by_name_and_reproduced_by_its_choice():
    frames_p, onset_p = two_bar_figure(weight=8.0)
    width = 3 * 128
    probs, onsets_p = np.zeros((128, width)), np.zeros((128, width))
    probs[:, 256:], onsets_p[:, 256:] = frames_p, onset_p
    target, target_onsets = np.zeros((128, width), bool), np.zeros((128, width), bool)
    truth, _ = decode_figure(frames_p, onset_p, 0.5, 0.5, 8.0)
    target_onsets[:, 256:] = truth
    target[:, 256:] = decode_figure(frames_p, onset_p, 0.5, 0.5, 8.0)[1]
    window = {"probs": probs, "onset_probs": onsets_p, "targets": target,
              "onsets": target_onsets}
    choice = choose_binarization([window], "cs_rhythm_accompaniment", thresholds=[0.5],
                                 onset_thresholds=[0.99], figure_shares=[0.0, 0.5],
                                 figure_slots=[2], onset_weight=8.0)
    assert choice["figure_share"] == 0.5 and choice["score"] == pytest.approx(1.0)
    assert choice["figure_slots"] == [2] and choice["onset_weight"] == 8.0
    assert np.array_equal(decode_window(window, choice).onsets[:, 256:], truth)


def test_rhythm_nearness_is_one_for_the_original_and_falls_with_distance():
    roll = np.zeros((128, 128), bool)
    roll[::8, 60] = True
    figures = rhythm_figures(roll, roll)
    assert rhythm_nearness(figures, figures) == pytest.approx(1.0)
    busier = np.zeros_like(roll)
    busier[::2, 60] = True
    assert rhythm_nearness(rhythm_figures(busier, busier), figures) < 0.8
    silent = rhythm_figures(np.zeros_like(roll))
    assert rhythm_nearness(silent, silent) == 1.0
    assert BINARIZATION_CRITERIA["cs_rhythm"](NoteRoll(roll, roll), NoteRoll(roll, roll)) == 1.0


def test_only_free_accompaniment_slots_are_decoded_as_figures():
    assert POP909_LAYOUT.free_accompaniment == (2,)
    assert CHORALE_LAYOUT.free_accompaniment == ()


def test_the_core_of_the_figure_is_struck_in_every_half_bar_the_budget_allows():
    rng = np.random.default_rng(3)
    T, P = 256, 128
    q = rng.uniform(0, 0.002, (T, P))
    q[::16, 48:60] += rng.uniform(0.03, 0.05, (T // 16, 12))      # beats: the core
    q[8::16, 48:60] += rng.uniform(0.0, 0.03, (T // 16, 12))      # off-beats: weaker
    onsets, _ = decode_figure(np.full((T, P), 0.9), q, 0.5, share=0.3, onset_weight=1.0,
                              core=0.8)
    struck = onsets.any(axis=1)
    assert struck[::16].all()                       # every beat of every bar
    loose, _ = decode_figure(np.full((T, P), 0.9), q, 0.5, share=0.3, onset_weight=1.0,
                             core=1.0)
    assert onsets.sum() == loose.sum()              # the core moves strikes, adds none


def test_a_strike_the_frame_does_not_hold_still_sounds_a_sixteenth():
    q = np.zeros((64, 128))
    q[0, C4] = q[32, C4] = 0.9                  # two strikes, the frame channel silent
    onsets, frames = decode_figure(np.zeros((64, 128)), q, 0.5, 0.5, onset_weight=1.0)
    assert onsets[0, C4] and onsets[32, C4]
    assert frames[:MIN_NOTE, C4].all() and not frames[MIN_NOTE:32, C4].any()



def test_strikes_the_figure_has_no_room_for_go_outside_it_rather_than_missing():
    q = np.zeros((32, 128))
    q[0, C4] = 0.99                          # the figure: the first step only, one pitch
    q[5:30, C4] = 4.0 / 25                   # and four more strikes expected, spread out
    onsets, _ = decode_figure(np.full((32, 128), 0.9), q, 0.5, 0.9, onset_weight=1.0)
    assert onsets[0, C4] and onsets.sum() == round(q.sum())
