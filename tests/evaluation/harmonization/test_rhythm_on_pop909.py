"""On real POP909 test windows, the piano's rhythm is a pianist's (off-beat onsets, short notes,
bars that vary) and the rule baseline's is a pad (every onset on the beat, one pattern).
Skipped with a reason when ``../shared/data`` is absent."""

from __future__ import annotations

import numpy as np
import pytest

from stripes.evaluation.harmonization.baselines import rule_harmonization
from stripes.evaluation.harmonization.rhythm import (
    compare_rhythm,
    rhythm_figures,
    summarize_rhythm,
)
from stripes.evaluation.harmonization.rolls import chords_of
from stripes.music.pianoroll import notes_to_onsets

PIANO = slice(256, 384)


@pytest.fixture(scope="module")
def piano_and_rule(small_corpus):
    """(original figures, rule figures) of the piano slot of every 16-bar test window."""
    from stripes.music.windows import WindowDataset

    ds = WindowDataset(small_corpus, "test", 16, hop_bars=16)
    assert len(ds), "no 16-bar test windows in the small corpus"
    original, rule = [], []
    for song, start, length in ds.index.tolist():
        item = ds.item(song, start, length)
        notes = small_corpus.notes(song)
        piano = np.isin(notes[:, 0], small_corpus.slots["targets"][2])
        onsets = notes_to_onsets(notes[piano, 1:], length, start)
        original.append(rhythm_figures(item["targets"].numpy()[:, PIANO], onsets))
        pred = rule_harmonization(item["inputs"].numpy(), *chords_of(item["labels"]))
        rule.append(rhythm_figures(pred[:, PIANO]))
    return summarize_rhythm(original), summarize_rhythm(rule)


def test_the_real_piano_plays_off_the_beat_with_short_varied_notes(piano_and_rule):
    original, _ = piano_and_rule
    assert original["offbeat_share"]["mean"] > 0.2
    assert original["mean_note_beats"]["mean"] < 1.5
    assert 1.5 < original["notes_at_once"]["mean"] < 5
    assert original["pattern_share"]["mean"] < 0.9


def test_the_rule_baseline_is_a_block_chord_pad(piano_and_rule):
    original, rule = piano_and_rule
    assert rule["offbeat_share"]["mean"] == 0.0
    assert rule["pattern_share"]["mean"] > 0.95
    assert rule["longest_note_beats"]["mean"] <= 1.0
    verdict = compare_rhythm(rule, original)
    assert not verdict["pass"] and "offbeat_share_min" in verdict["failed"]
