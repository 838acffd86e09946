"""Harmonization metrics on hand-made pianorolls whose scores are known by hand."""

import numpy as np
import pytest
import torch

from stripes.evaluation.harmonization.paper_flavour import (
    chroma_onsets,
    chroma_similarity,
    detect_onsets,
    grooving_patterns,
    grooving_similarity,
    note_density_distance,
    ssm_distance,
)
from stripes.evaluation.harmonization.reference_flavour import (
    grooving_similarity_reference,
    note_density_reference,
)
from stripes.evaluation.harmonization.scoring import aggregate, score_pair

BAR = 64


def roll(steps: int, notes, tracks: int = 1) -> np.ndarray:
    """A pianoroll [steps, tracks*128] with ``notes = [(start, end, pitch, track), ...]`` on."""
    r = np.zeros((steps, tracks * 128), dtype=bool)
    for note in notes:
        start, end, pitch = note[:3]
        track = note[3] if len(note) > 3 else 0
        r[start:end, track * 128 + pitch] = True
    return r


def song() -> np.ndarray:
    """Two bars, three tracks: a melody in quarters, a bridge line, C and F triads in half notes."""
    melody = [(q * 16, q * 16 + 12, 72 + (q % 3) * 2, 0) for q in range(8)]
    bridge = [(h * 32, h * 32 + 24, 64, 1) for h in range(4)]
    chords = [(h * 32, h * 32 + 32, p, 2) for h in range(4)
              for p in ((48, 52, 55) if h % 2 == 0 else (53, 57, 60))]
    return roll(2 * BAR, melody + bridge + chords, tracks=3)


def test_identical_pianorolls_get_perfect_scores():
    s = song()
    scores = score_pair(s, s.copy(), "paper")
    assert scores["CS"] == pytest.approx(100)
    assert scores["SSMD"] == pytest.approx(0)
    assert scores["GS"] == pytest.approx(100)
    assert scores["NDD"] == pytest.approx(0)
    code = score_pair(s, s.copy(), "reference")
    assert code["NDD"] == pytest.approx(0)
    # Equal histograms overlap fully: the mean bin count is 32 sixteenths / 20 bins.
    assert code["GS"] == pytest.approx(32 / 20)


def test_empty_prediction_misses_every_target_note():
    s = song()
    empty = np.zeros_like(s)
    assert note_density_distance(empty, s) == pytest.approx(100)
    assert note_density_distance(empty, s, missing="count") == pytest.approx(100)
    assert chroma_similarity(empty, s) == pytest.approx(0)  # the target sounds in every half-bar


def test_semitone_transposition_of_one_pitch_class_gives_zero_chroma_similarity():
    notes = [(h * 32, h * 32 + 8, 60) for h in range(4)]
    up = [(a, b, p + 1) for a, b, p in notes]
    assert chroma_similarity(roll(2 * BAR, up), roll(2 * BAR, notes)) == pytest.approx(0)


def test_octave_shift_keeps_chroma_similarity_but_not_note_density():
    triad = [(0, 32, p) for p in (60, 64, 67)]
    octave = [(0, 32, p + 12) for p in (60, 64, 67)]
    assert chroma_similarity(roll(32, octave), roll(32, triad)) == pytest.approx(100)
    assert note_density_distance(roll(32, octave), roll(32, triad)) == pytest.approx(100)
    assert note_density_distance(roll(32, octave), roll(32, triad), missing="count") == 0


def test_chroma_similarity_of_triad_against_one_of_its_notes_is_one_over_sqrt3():
    triad = roll(32, [(0, 8, p) for p in (60, 64, 67)])
    root = roll(32, [(0, 8, 60)])
    assert chroma_similarity(root, triad) == pytest.approx(100 / np.sqrt(3))


def test_onsets_follow_off_to_on_transitions_per_track():
    r = roll(8, [(0, 2, 60), (3, 5, 60), (3, 6, 60, 1)], tracks=2)
    on = detect_onsets(r)
    assert on[:, 60].tolist() == [1, 0, 0, 2, 0, 0, 0, 0]
    assert chroma_onsets(r, unit=4)[:, 0].tolist() == [3, 0]


def test_silent_half_bars_in_both_rolls_count_as_agreeing():
    notes = [(0, 8, 60)]  # one note in the first of four half-bars
    assert chroma_similarity(roll(2 * BAR, notes), roll(2 * BAR, notes)) == pytest.approx(100)
    assert ssm_distance(roll(2 * BAR, notes), roll(2 * BAR, notes)) == pytest.approx(0)


def test_ssm_distance_of_a_known_pair():
    # Target: C, C, G, G in the four half-bars; prediction: C everywhere.
    tgt = roll(2 * BAR, [(h * 32, h * 32 + 8, 60 if h < 2 else 67) for h in range(4)])
    pred = roll(2 * BAR, [(h * 32, h * 32 + 8, 60) for h in range(4)])
    # SSM_tgt has 8 zeros among 16 cells, SSM_pred is all ones: mean |diff| = 1/2, / 2 * 100.
    assert ssm_distance(pred, tgt) == pytest.approx(25)
    assert chroma_similarity(pred, tgt) == pytest.approx(50)


def test_grooving_similarity_counts_quarters_with_equal_sixteenth_onset_flags():
    tgt = roll(BAR, [(q * 16, q * 16 + 4, 60) for q in range(4)])  # an onset on every beat
    pred = roll(BAR, [(q * 16 + (4 if q == 3 else 0), q * 16 + 8, 62) for q in range(4)])
    assert grooving_patterns(tgt).tolist() == [[True, False, False, False]] * 4
    assert grooving_similarity(pred, tgt) == pytest.approx(75)
    late = roll(BAR, [(q * 16 + 1, q * 16 + 4, 60) for q in range(4)])  # same sixteenth: agrees
    assert grooving_similarity(late, tgt) == pytest.approx(100)


def test_note_density_distance_skips_silent_target_sixteenths_and_ignores_extra_notes():
    tgt = roll(16, [(0, 4, 60), (0, 4, 64)])  # two pitches in the first sixteenth only
    pred = roll(16, [(0, 4, 60), (0, 16, 40), (4, 16, 70)])
    assert note_density_distance(pred, tgt) == pytest.approx(50)
    assert note_density_distance(pred, tgt, missing="count") == pytest.approx(0)
    assert note_density_distance(pred, np.zeros_like(tgt)) == 0.0
    # The [S24] absolute version counts on cells per sixteenth: (8 vs 8), (0 vs 4) x 3.
    assert note_density_reference(pred, tgt) == pytest.approx(3 * 8 / 4)


def test_note_density_ors_tracks_so_doubled_pitches_count_once():
    doubled = roll(8, [(0, 8, 60, 0), (0, 8, 60, 1)], tracks=2)
    single = roll(8, [(0, 8, 60, 0)], tracks=2)
    assert note_density_distance(single, doubled) == 0.0


def test_partial_last_unit_is_padded_and_counted():
    tgt = roll(40, [(0, 4, 60), (33, 36, 62)])  # a second half-bar of only 8 steps
    pred = roll(40, [(0, 4, 60)])
    assert chroma_similarity(pred, tgt) == pytest.approx(50)
    assert grooving_patterns(tgt).shape == (3, 4)


def test_histogram_grooving_overlap_drops_when_rhythms_differ():
    tgt = roll(BAR, [(q * 16, q * 16 + 4, 60) for q in range(4)])
    dense = roll(BAR, [(s * 4, s * 4 + 2, 60) for s in range(16)])
    assert grooving_similarity_reference(dense, tgt) < grooving_similarity_reference(tgt, tgt)


def test_torch_tensors_and_probabilities_are_accepted():
    s = song()
    probs = torch.from_numpy(s.astype(np.float32) * 0.9)
    assert score_pair(probs, torch.from_numpy(s), "paper")["CS"] == pytest.approx(100)


def test_mismatched_or_malformed_shapes_raise():
    with pytest.raises(ValueError):
        chroma_similarity(np.zeros((64, 128)), np.zeros((32, 128)))
    with pytest.raises(ValueError):
        chroma_similarity(np.zeros((64, 100)), np.zeros((64, 100)))
    with pytest.raises(ValueError):
        score_pair(np.zeros((0, 128)), np.zeros((0, 128)), "paper")
    with pytest.raises(ValueError):
        note_density_distance(np.zeros((8, 128)), np.zeros((8, 128)), missing="other")


def test_aggregate_gives_mean_and_sample_std_over_songs():
    out = aggregate([{"CS": 10.0, "GS": 1.0}, {"CS": 20.0, "GS": 3.0}, {"CS": 30.0, "GS": 5.0}])
    assert out["CS"] == {"mean": 20.0, "std": pytest.approx(10.0), "n": 3}
    assert out["GS"]["std"] == pytest.approx(2.0)
    assert aggregate([{"CS": 5.0}])["CS"]["std"] == 0.0
    with pytest.raises(ValueError):
        aggregate([{"CS": 1.0}, {"GS": 1.0}])
