"""The rule baseline's block chords, the copy and empty floors, the musical sanity rule (a solid
band fails, the rule baseline passes) and the binarization criteria."""

from __future__ import annotations

import numpy as np
import pytest

from stripes.evaluation.harmonization.baselines import (
    BASELINES,
    baseline_predictions,
    block_chords,
    copy_prediction,
    rule_harmonization,
    score_baselines,
    strike_steps,
)
from stripes.evaluation.harmonization.binarization import (
    BINARIZATION_CRITERIA,
    binarize,
    choose_binarization,
    fill_gaps,
    frame_f1,
)
from stripes.evaluation.harmonization.layout import CHORALE_LAYOUT
from stripes.evaluation.harmonization.rolls import chord_bits
from stripes.evaluation.harmonization.sanity import (
    check_sanity,
    sanity_check,
    sanity_figures,
    sanity_warning,
    summarize_sanity,
)

C_MAJOR = 0b000010010001   # C, E, G
A_MINOR = 0b001000010001   # A, C, E


def two_bars():
    """32 steps of C major then 32 of A minor, then 16 steps without chord (T = 80)."""
    root = np.array([1] * 32 + [10] * 32 + [0] * 16)
    chroma = np.array([C_MAJOR] * 32 + [A_MINOR] * 32 + [0] * 16)
    return root, chroma


def test_chord_bits_reads_root_labels_and_12_bit_chromas():
    root_pc, bits = chord_bits([1, 10, 0], [C_MAJOR, A_MINOR, C_MAJOR])
    assert root_pc.tolist() == [0, 9, -1]
    assert np.flatnonzero(bits[0]).tolist() == [0, 4, 7]
    assert not bits[2].any()                          # no root: no chord
    same = chord_bits([1], bits[:1])
    assert same[0].tolist() == [0] and (same[1] == bits[:1]).all()


def test_block_chords_strike_each_beat_and_each_change():
    root, chroma = two_bars()
    assert strike_steps(*chord_bits(root, chroma)).tolist() == [0, 16, 32, 48, 64]
    bass, chords = block_chords(root, chroma)
    assert np.flatnonzero(bass[0]).tolist() == [48]             # C3 in [40, 52)
    assert np.flatnonzero(chords[0]).tolist() == [55, 60, 64]   # G3 C4 E4 in [53, 65)
    assert np.flatnonzero(bass[32]).tolist() == [45]            # A2
    assert np.flatnonzero(chords[32]).tolist() == [57, 60, 64]
    # held to the step before the next strike: every beat is an onset
    assert bass[:15, 48].all() and not bass[15, 48] and bass[16, 48]
    assert not bass[64:].any() and not chords[64:].any()        # no chord: silence


def test_rule_harmonization_copies_inputs_and_fills_the_accompaniment():
    root, chroma = two_bars()
    inputs = np.zeros((80, 256))
    inputs[:, 67] = inputs[:, 128 + 79] = 1
    pred = rule_harmonization(inputs, root, chroma)
    assert pred.shape == (80, 384)
    assert (pred[:, :256] == (inputs > 0.5)).all()
    assert pred[0, 256 + 48] and pred[0, 256 + 60]
    assert (copy_prediction(inputs)[:, 256:] == 0).all()


def test_rule_harmonization_for_chorales_splits_bass_and_inner_voices():
    root, chroma = two_bars()
    inputs = np.zeros((80, 256))
    inputs[:, 72] = 1
    pred = rule_harmonization(inputs, root, chroma, layout=CHORALE_LAYOUT)
    assert pred[:, 72].all()                                    # soprano copied
    assert np.flatnonzero(pred[0, 128:256]).tolist() == [55, 60, 64]   # alto+tenor slot
    assert np.flatnonzero(pred[0, 256:]).tolist() == [48]             # bass slot
    assert set(baseline_predictions([inputs], [root], [chroma])) == {"empty", "copy", "rule",
                                                                     "readout"}


def test_the_readout_floor_voices_each_label_once_root_in_the_bass():
    root, chroma = two_bars()
    inputs = np.zeros((80, 256))
    inputs[:, 72] = 1
    pred = baseline_predictions([inputs], [root], [chroma], layout=CHORALE_LAYOUT)["readout"][0]
    assert pred[:, 72].all()                                    # soprano copied
    inner, bass = pred[:, 128:256], pred[:, 256:]
    assert np.flatnonzero(bass[0]).tolist() == [48]             # C3: the root, in the bass only
    assert np.flatnonzero(inner[0]).tolist() == [55, 64]        # G3 E4: the other chord tones
    assert np.flatnonzero(inner[32]).tolist() == [60, 64]       # A minor: C4 E4, no A
    onsets = np.flatnonzero(bass[1:].any(axis=1) & ~bass[:-1].any(axis=1)) + 1
    assert onsets.tolist() == [32]                              # struck at the label change only
    assert bass[:31].all(axis=0).any() and not bass[31].any()   # held to the step before
    assert not pred[64:, 128:].any()                            # no label: silence


def solid_band(t=1024):
    band = np.zeros((t, 384))
    band[:, 256 + 59:256 + 68] = 1
    return band


def test_a_solid_band_held_the_whole_piece_fails_sanity():
    root = np.repeat([1, 10, 6, 8], 256)
    chroma = np.repeat([C_MAJOR, A_MINOR, 0b000000100001 | 1 << 9, 0b100010000100], 256)
    result = sanity_check(solid_band(), root, chroma)
    assert not result["pass"]
    assert {"polyphony", "held_note"} <= set(result["failed"])
    assert result["figures"]["longest_note_bars"] == 16.0
    assert result["figures"]["pitch_low"] == 59 and result["figures"]["pitch_high"] == 67
    line = sanity_warning(result)
    assert line.startswith("WARNING") and "\n" not in line and "16.0 bars" in line


def test_the_rule_baseline_passes_sanity():
    root, chroma = two_bars()
    pred = rule_harmonization(np.zeros((80, 256)), root, chroma)
    result = sanity_check(pred, root, chroma)
    assert result["pass"], result["reasons"]
    f = result["figures"]
    assert f["chord_tone_share"] == 1.0 and f["longest_note_bars"] == 15 / 64
    assert f["pitch_low"] == 45 and f["pitch_high"] == 64
    assert sanity_warning(result) is None


def test_silence_fails_sanity_and_summaries_count_rules():
    root, chroma = two_bars()
    silent = check_sanity(sanity_figures(np.zeros((80, 384)), root, chroma))
    assert not silent["pass"] and "range" in silent["failed"]
    rule = sanity_check(rule_harmonization(np.zeros((80, 256)), root, chroma), root, chroma)
    summary = summarize_sanity([silent, rule])
    assert summary["pass_share"] == 0.5 and summary["failed"]["polyphony"] == 1
    assert "50% of 2 windows" in sanity_warning(summary, "model")


def test_fill_gaps_and_binarize():
    x = np.zeros((10, 1), dtype=bool)
    x[[0, 3, 9], 0] = True
    assert np.flatnonzero(fill_gaps(x, 2)[:, 0]).tolist() == [0, 1, 2, 3, 9]
    assert (binarize(np.full((4, 2), 0.3), 0.3) == 1).all()
    with pytest.raises(ValueError):
        binarize(x, 1.0)


def test_the_harmonization_task_binarizes_with_this_module():
    from stripes.tasks.harmonization import predict

    assert predict.binarize is binarize  # one implementation


def test_choose_binarization_names_its_criterion():
    target = np.zeros((64, 384))
    target[:, 256 + 60] = 1
    probs = target * 0.35 + 0.01
    probs[30:33] = 0.01                                 # a dropout inside the note
    windows = [{"probs": probs, "targets": target}]
    choice = choose_binarization(windows, "frame_f1_accompaniment",
                                 thresholds=(0.2, 0.5), merge_gaps=(0, 4))
    assert choice["criterion"] == "frame_f1_accompaniment"
    assert (choice["threshold"], choice["merge_gap"]) == (0.2, 4)
    assert choice["score"] == pytest.approx(1.0) and len(choice["grid"]) == 4
    assert frame_f1(target, target) == 1.0
    assert set(BINARIZATION_CRITERIA) >= {"frame_f1", "cs", "neg_mse"}
    with pytest.raises(ValueError, match="criterion"):
        choose_binarization(windows, "f2")
    by_mse = choose_binarization(windows, "neg_mse", thresholds=(0.2, 0.5),
                                 merge_gaps=(0, 4))
    assert by_mse["criterion"] == "neg_mse" and by_mse["score"] == 0.0


def test_score_baselines_rows_share_the_model_format():
    root, chroma = two_bars()
    inputs = np.zeros((80, 256))
    inputs[:, 67] = 1
    target = rule_harmonization(inputs, root, chroma)
    out = score_baselines([inputs], [target], [root], [chroma], per_window=True)
    assert out["flavour"] == "reference" and set(out["rows"]) == set(BASELINES)
    rule = out["rows"]["rule"]
    assert rule["flavour"] == "reference"
    assert rule["accompaniment"]["NDD"]["mean"] == 0.0
    assert rule["accompaniment"]["SSMD"]["mean"] == 0.0
    assert len(out["per_window"]["rule"]) == 1


def test_rule_baseline_on_real_chorales_is_sane_and_above_the_empty_floor(chorale_cache):
    from stripes.evaluation.harmonization.layout import layout_from_slots
    from stripes.evaluation.harmonization.rolls import chords_of
    from stripes.music.datasets import load_corpus
    from stripes.music.windows import WindowDataset

    corpus = load_corpus(chorale_cache / "chorales")
    layout = layout_from_slots(corpus.slots, CHORALE_LAYOUT.names, CHORALE_LAYOUT.voices)
    assert layout == CHORALE_LAYOUT
    items = [it for it in (WindowDataset(corpus, None, None)[i] for i in range(6))]
    inputs = [it["inputs"].numpy() for it in items]
    targets = [it["targets"].numpy() for it in items]
    roots, chromas = zip(*(chords_of(it["labels"]) for it in items), strict=True)
    rows = score_baselines(inputs, targets, roots, chromas, layout=CHORALE_LAYOUT)["rows"]
    rule, empty = rows["rule"]["accompaniment"], rows["empty"]["accompaniment"]
    assert rule["CS"]["mean"] > empty["CS"]["mean"] + 30
    assert rows["copy"]["tracks"]["soprano"]["NDD"]["mean"] == 0.0
    for x, r, c in zip(inputs, roots, chromas, strict=True):
        pred = rule_harmonization(x, r, c, layout=CHORALE_LAYOUT)
        assert sanity_check(pred, r, c, layout=CHORALE_LAYOUT)["pass"]
