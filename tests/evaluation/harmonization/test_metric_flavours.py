"""Both flavours of CS, SSMD, GS and NDD on tiny pianorolls computed by hand (one 4/4 bar of 64
steps, three slots of 128 pitches): silent tracks, a single sustained note, onsets on the edges
of the half-bar, quarter and sixteenth grids."""

from __future__ import annotations

import numpy as np
import pytest

from stripes.evaluation.harmonization.layout import CHORALE_LAYOUT, POP909_LAYOUT, layout_from_slots
from stripes.evaluation.harmonization.scoring import (
    aggregate,
    evaluate_window,
    evaluate_windows,
    score_pair,
)

T = 64


def roll(*notes, t: int = T) -> np.ndarray:
    """``[t, 384]`` with notes ``(slot, pitch, start, stop)``."""
    out = np.zeros((t, 384))
    for slot, pitch, start, stop in notes:
        out[start:stop, slot * 128 + pitch] = 1
    return out


SILENT = roll()
HELD_C = roll((2, 60, 0, T))


def scores(pred, target, flavour):
    return score_pair(pred, target, flavour)


def test_silent_pair_scores_zero_cs_in_reference_and_full_cs_in_paper():
    ref, pap = scores(SILENT, SILENT, "reference"), scores(SILENT, SILENT, "paper")
    assert ref["CS"] == 0.0 and pap["CS"] == 100.0
    assert ref["SSMD"] == 0.0 and pap["SSMD"] == 0.0
    assert ref["NDD"] == 0.0 and pap["NDD"] == 0.0
    # 16 sixteenths, all zero: both histograms put 16 values in one bin -> 16 / 20
    assert ref["GS"] == pytest.approx(0.8) and pap["GS"] == 100.0


def test_single_sustained_note_matched_exactly():
    ref, pap = scores(HELD_C, HELD_C, "reference"), scores(HELD_C, HELD_C, "paper")
    # one onset in the first half bar; the second half bar is silent in both: 0 in reference
    assert ref["CS"] == pytest.approx(50.0) and pap["CS"] == pytest.approx(100.0)
    assert ref["SSMD"] == 0.0 and pap["SSMD"] == 0.0
    assert ref["GS"] == pytest.approx(0.8) and pap["GS"] == 100.0
    assert ref["NDD"] == 0.0 and pap["NDD"] == 0.0


def test_silent_prediction_of_a_sustained_note():
    ref, pap = scores(SILENT, HELD_C, "reference"), scores(SILENT, HELD_C, "paper")
    assert ref["CS"] == 0.0
    assert pap["CS"] == pytest.approx(50.0)          # second half bar: both silent = 1
    # reference: target SSM of 32 two-step units is all ones, the silent one all zeros
    assert ref["SSMD"] == pytest.approx(100.0)
    # paper: half-bar onset SSMs [[1,0],[0,1]] vs all ones (zero rows agree), halved
    assert pap["SSMD"] == pytest.approx(25.0)
    # one onset in sixteenth 0: target [1, 0 x 15] vs 16 zeros -> overlap 15 in bin 0
    assert ref["GS"] == pytest.approx(15 / 20)
    assert pap["GS"] == pytest.approx(75.0)          # quarters 1-3 silent in both
    assert ref["NDD"] == pytest.approx(4.0)          # 4 on cells per sixteenth
    assert pap["NDD"] == pytest.approx(100.0)


def test_half_held_note_against_whole_held_note_ssmd():
    half = roll((2, 60, 0, 32))
    assert scores(HELD_C, half, "reference")["SSMD"] == pytest.approx(75.0)
    # onset SSMs: both [[1,0],[0,1]] (second half bar silent in both)
    assert scores(HELD_C, half, "paper")["SSMD"] == 0.0


def test_onsets_across_a_half_bar_edge_miss_in_both_flavours():
    pred, target = roll((2, 60, 31, 32)), roll((2, 60, 32, 33))
    assert scores(pred, target, "reference")["CS"] == 0.0
    assert scores(pred, target, "paper")["CS"] == 0.0


def test_onsets_across_a_sixteenth_edge_reference_gs_is_blind_to_timing():
    pred, target = roll((2, 60, 3, 4)), roll((2, 60, 4, 5))
    # same histogram of normalised counts (15 zeros, one 1): full overlap
    assert scores(pred, target, "reference")["GS"] == pytest.approx(0.8)
    # quarter 0: flags [1,0,0,0] vs [0,1,0,0] disagree; quarters 1-3 agree
    assert scores(pred, target, "paper")["GS"] == pytest.approx(75.0)
    # densities 1 vs 0 in sixteenth 0 and 0 vs 1 in sixteenth 1
    assert scores(pred, target, "reference")["NDD"] == pytest.approx(2 / 16)


def test_reference_cs_keeps_slots_apart_and_paper_cs_merges_them():
    pred, target = roll((0, 60, 0, 8)), roll((2, 72, 0, 8))
    assert scores(pred, target, "reference")["CS"] == 0.0
    assert scores(pred, target, "paper")["CS"] == pytest.approx(100.0)


def test_reference_cs_of_a_partial_chord():
    pred, target = roll((2, 60, 0, 8), (2, 64, 0, 8)), roll((2, 60, 0, 8))
    assert scores(pred, target, "reference")["CS"] == pytest.approx(100 / np.sqrt(2) / 2)


def test_reference_nd_counts_extra_notes_and_paper_ndd_does_not():
    pred, target = roll((2, 60, 0, T), (2, 64, 0, T)), HELD_C
    assert scores(pred, target, "reference")["NDD"] == pytest.approx(4.0)
    assert scores(pred, target, "paper")["NDD"] == 0.0


def test_a_trailing_partial_unit_is_zero_padded():
    pred = target = roll((2, 60, 0, 40), t=40)     # units: one full half bar + 8 steps
    assert scores(pred, target, "reference")["CS"] == pytest.approx(50.0)


def test_evaluate_window_records_flavour_and_groups():
    pred, target = roll((0, 60, 0, 16), (2, 48, 0, 16)), roll((0, 60, 0, 16), (2, 52, 0, 16))
    out = evaluate_window(pred, target, flavour="reference")
    assert out["flavour"] == "reference"
    assert set(out["tracks"]) == {"melody", "bridge", "piano"}
    assert out["tracks"]["melody"]["CS"] == pytest.approx(50.0)   # matched, 2nd unit silent
    assert out["accompaniment"] == out["tracks"]["piano"]
    assert out["accompaniment"]["CS"] == 0.0


def test_evaluate_windows_summary_and_flavour_checks():
    res = evaluate_windows([HELD_C, SILENT], [HELD_C, HELD_C], flavour="paper")
    assert res["summary"]["flavour"] == "paper" and res["summary"]["n"] == 2
    assert res["summary"]["all"]["CS"]["mean"] == pytest.approx(75.0)
    with pytest.raises(ValueError, match="flavour"):
        score_pair(HELD_C, HELD_C, "papers")
    with pytest.raises(ValueError, match="slots"):
        evaluate_window(HELD_C[:, :256], HELD_C[:, :256])


def test_each_flavour_scores_the_four_metrics_and_flavoured_scores_aggregate():
    assert set(score_pair(HELD_C, HELD_C, "paper")) == {"CS", "SSMD", "GS", "NDD"}
    flav = [{"flavour": "reference", **score_pair(HELD_C, t, "reference")}
            for t in (HELD_C, SILENT)]
    agg = aggregate(flav)
    assert agg["flavour"] == "reference" and agg["CS"]["mean"] == pytest.approx(25.0)
    with pytest.raises(ValueError, match="flavours"):
        aggregate([flav[0], {"flavour": "paper", **score_pair(HELD_C, HELD_C, "paper")}])


def test_layouts_name_the_invented_slots():
    assert POP909_LAYOUT.accompaniment == (2,)
    assert CHORALE_LAYOUT.accompaniment == (1, 2)
    chorales = layout_from_slots({"inputs": [[0], []], "targets": [[0], [1, 2], [3]]})
    assert chorales.accompaniment == (1, 2) and (chorales.chord_slot, chorales.bass_slot) == (1, 2)
    pop = layout_from_slots({"inputs": [[0], [1]], "targets": [[0], [1], [2]]})
    assert pop.copied == (0, 1) and pop.bass_slot == pop.chord_slot == 2


def test_blockwise_ssmd_equals_the_full_matrix():
    from stripes.evaluation.harmonization.reference_flavour import (
        chroma_activity,
        self_similarity,
        ssm_distance_reference,
    )

    rng = np.random.default_rng(1)
    pred, target = (rng.random((200, 384)) < 0.02 for _ in range(2))
    full = np.abs(self_similarity(chroma_activity(pred))
                  - self_similarity(chroma_activity(target))).mean() * 100
    assert ssm_distance_reference(pred, target, block=7) == pytest.approx(full, abs=1e-9)


def test_evaluation_needs_no_torch():
    import subprocess
    import sys

    code = ("import sys; import stripes.evaluation.harmonization, "
            "stripes.evaluation.harmonization.baselines, stripes.evaluation.harmonization.sanity, "
            "stripes.evaluation.harmonization.binarization; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
