"""Rhythm figures on hand-made rolls with known answers: block chords on the beat, an off-beat
eighth figure, repeated notes split by the onset roll, a whole-bar pad, the ±1 step tolerance,
the commonest bar pattern, and the comparison against the original's figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stripes.evaluation.harmonization.rhythm import (
    RHYTHM_EXTRAS,
    RHYTHM_FIGURES,
    RHYTHM_TEXTS,
    compare_rhythm,
    rhythm_figures,
    summarize_rhythm,
)
from stripes.music.pianoroll import notes_to_onsets, notes_to_pianoroll

BEAT, BAR = 16, 64
C, E, G = 60, 64, 67


def roll_of(notes, n_steps=BAR):
    """(frames, onsets) ``[T, 128]`` of notes ``(start, duration, pitch)``."""
    notes = np.array(notes).reshape(-1, 3)
    return notes_to_pianoroll(notes, n_steps), notes_to_onsets(notes, n_steps)


def test_quarter_note_block_chords_on_the_beat():
    frames, onsets = roll_of([(b * BEAT, BEAT, p) for b in range(4) for p in (C, E, G)])
    fig = rhythm_figures(frames, onsets)
    assert fig["onsets_per_bar"] == 12 and fig["n_notes"] == 12
    assert fig["offbeat_share"] == 0.0
    assert fig["mean_note_beats"] == 1.0 and fig["longest_note_beats"] == 1.0
    assert fig["notes_at_once"] == 3.0
    assert fig["pattern_share"] == 1.0


def test_offbeat_eighths_are_all_off_the_beat():
    # an eighth on every "and": steps 8, 24, 40, 56, each an eighth (8 steps) long
    frames, onsets = roll_of([(b * BEAT + 8, 8, C) for b in range(4)])
    fig = rhythm_figures(frames, onsets)
    assert fig["onsets_per_bar"] == 4
    assert fig["offbeat_share"] == 1.0
    assert fig["mean_note_beats"] == 0.5 and fig["median_note_beats"] == 0.5
    assert fig["notes_at_once"] == 1.0


def test_repeated_notes_of_one_pitch_split_only_with_the_onset_roll():
    frames, onsets = roll_of([(b * BEAT, BEAT, C) for b in range(4)])
    assert frames[:, C].all()                          # the frame roll merges them
    merged = rhythm_figures(frames)
    split = rhythm_figures(frames, onsets)
    assert merged["n_notes"] == 1 and merged["longest_note_beats"] == 4.0
    assert split["n_notes"] == 4 and split["longest_note_beats"] == 1.0
    assert split["onsets_per_bar"] == 4 and split["mean_note_beats"] == 1.0


def test_a_whole_bar_pad_is_one_long_onset_per_pitch():
    frames, onsets = roll_of([(0, 2 * BAR, p) for p in (C, E, G)], n_steps=2 * BAR)
    fig = rhythm_figures(frames, onsets)
    assert fig["onsets_per_bar"] == 1.5                # 3 onsets over 2 bars
    assert fig["longest_note_beats"] == 8.0 and fig["mean_note_beats"] == 8.0
    assert fig["notes_at_once"] == 3.0
    assert fig["pattern_share"] == 1.0                 # the silent second bar is not counted


def test_a_held_note_pulls_the_mean_note_not_the_median():
    frames, onsets = roll_of([(0, 4, C), (16, 4, C), (32, 4, C), (0, 64, G)])
    fig = rhythm_figures(frames, onsets)
    assert fig["mean_note_beats"] == (3 * 4 + 64) / 4 / BEAT
    assert fig["median_note_beats"] == 0.25 and fig["longest_note_beats"] == 4.0


def test_one_step_early_or_late_is_on_the_beat_two_is_not():
    frames, onsets = roll_of([(15, 4, C), (33, 4, E), (46, 4, G)])
    assert rhythm_figures(frames, onsets)["offbeat_share"] == pytest.approx(1 / 3)
    assert rhythm_figures(frames, onsets, tolerance=0)["offbeat_share"] == 1.0
    assert rhythm_figures(frames, onsets, tolerance=2)["offbeat_share"] == 0.0


def test_commonest_pattern_share_of_three_equal_bars_in_four():
    figure = [(0, 4, C), (6, 4, E), (24, 8, G)]                 # one bar of a figure
    same = [(s + k * BAR, d, p) for k in range(3) for s, d, p in figure]
    jitter = [(2 * BAR + 7, 4, C)]                                # bar 3: one onset a step late
    other = [(3 * BAR + s, 4, C) for s in (0, 16, 32, 48)]       # bar 4: quarters
    frames, onsets = roll_of(same + other, n_steps=4 * BAR)
    assert rhythm_figures(frames, onsets)["pattern_share"] == 0.75
    late = [n for n in same if n[0] != 2 * BAR + 6] + jitter
    frames, onsets = roll_of(late + other, n_steps=4 * BAR)
    assert rhythm_figures(frames, onsets)["pattern_share"] == 0.75    # ±1 step: still equal
    assert rhythm_figures(frames, onsets, tolerance=0)["pattern_share"] == 0.5


def test_stacked_slots_are_one_texture():
    frames, onsets = roll_of([(b * BEAT, BEAT, C) for b in range(4)])
    two = np.concatenate([frames, frames], axis=1)
    fig = rhythm_figures(two, np.concatenate([onsets, onsets], axis=1))
    assert fig["notes_at_once"] == 2.0 and fig["onsets_per_bar"] == 8


def test_a_silent_roll_has_zero_figures_and_stays_strict_json():
    fig = rhythm_figures(np.zeros((BAR, 384), dtype=bool))
    assert fig["n_notes"] == 0
    assert all(fig[k] == 0.0 for k in RHYTHM_FIGURES + RHYTHM_EXTRAS)
    json.dumps(fig, allow_nan=False)


def test_bad_shapes_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="k\\*128"):
        rhythm_figures(np.zeros((BAR, 100), dtype=bool))
    with pytest.raises(ValueError, match="shape of frames"):
        rhythm_figures(np.zeros((BAR, 128)), np.zeros((BAR - 1, 128)))


def test_summary_and_texts_cover_every_figure():
    chords, on = roll_of([(b * BEAT, BEAT, p) for b in range(4) for p in (C, E, G)])
    eighths, on8 = roll_of([(b * BEAT + 8, 8, C) for b in range(4)])
    summary = summarize_rhythm([rhythm_figures(chords, on), rhythm_figures(eighths, on8)])
    assert set(summary) == set(RHYTHM_FIGURES + RHYTHM_EXTRAS) == set(RHYTHM_TEXTS)
    assert summary["offbeat_share"]["mean"] == 0.5 and summary["offbeat_share"]["n"] == 2
    assert summary["notes_at_once"]["mean"] == 2.0


def test_compare_rhythm_gives_ratios_and_the_failed_targets():
    original = {"onsets_per_bar": 10.0, "offbeat_share": 0.5, "mean_note_beats": 0.66,
                "longest_note_beats": 3.6, "notes_at_once": 2.9, "pattern_share": 0.4}
    near = {k: v * 1.1 for k, v in original.items()}
    ok = compare_rhythm(near, original)
    assert ok["pass"] and not ok["failed"]
    assert ok["ratio"]["offbeat_share"] == pytest.approx(1.1)
    pad = {"onsets_per_bar": 12.0, "offbeat_share": 0.0, "mean_note_beats": 1.0,
           "longest_note_beats": 12.0, "notes_at_once": 3.0, "pattern_share": 1.0}
    bad = compare_rhythm(pad, summarize_rhythm([original, original]))
    assert not bad["pass"]
    assert {"offbeat_share_min", "longest_note_beats_max", "offbeat_share_near",
            "mean_note_beats_near", "pattern_share_near"} <= set(bad["failed"])
    assert "notes_at_once_max" not in bad["failed"] and "onsets_per_bar_near" not in bad["failed"]
    silent = compare_rhythm(pad, dict.fromkeys(RHYTHM_FIGURES, 0.0))
    assert silent["ratio"]["offbeat_share"] is None
    json.dumps(silent, allow_nan=False)
