"""The groove continuation protocol without a model: prompt, continuation, chunks, similarity
per chunk (on a hand-made piece whose profile per chunk is known), ceiling and floor, and the
grammar as the sampler's constraint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stripes.generation.sampling import sample
from stripes.music.trio_events import TrioVocabulary, encode_notes
from stripes.music.trio_grammar import first_violation
from stripes.tasks.groove.constraint import trio_constraint
from stripes.tasks.groove.pop909_trios import load_pop909_piece
from stripes.tasks.groove.protocol import (
    chunk_similarity,
    continuation_notes,
    mean_over_slots,
    other_style,
    prompt_notes,
    prompt_tokens,
    real_continuation,
    split_chunks,
    time_reached,
)

V = TrioVocabulary()


def quarters(start: int, n: int, pitch: int, slot: int = 0) -> np.ndarray:
    """``n`` quarter notes of one pitch from tick ``start``."""
    return np.array([[slot, start + 12 * i, 12, pitch] for i in range(n)])


def test_the_prompt_keeps_the_notes_that_end_by_the_second_bar_line():
    notes = np.array([[0, 0, 96, 60], [1, 48, 52, 40], [2, 100, 4, 70], [2, 90, 6, 72]])
    np.testing.assert_array_equal(prompt_notes(notes), [[0, 0, 96, 60], [2, 90, 6, 72]])
    tokens = prompt_tokens(notes, V)
    assert tokens[0] == V.bos and V.eos not in tokens.tolist()
    assert time_reached(tokens, V) == 96


def test_the_continuation_is_what_follows_the_time_the_prompt_reaches():
    prompt = prompt_tokens(quarters(0, 8, 60), V)
    added = [V.note_on(0, 62), V.note_on(2, 50), V.time_shift(1, 0), V.note_off(0, 62),
             V.time_shift(0, 6)]
    notes, start = continuation_notes(np.concatenate([prompt, added]), len(prompt), V)
    assert start == 96
    np.testing.assert_array_equal(notes, [[0, 96, 12, 62], [2, 96, 18, 50]])  # open: closed


def test_chunks_have_equal_durations_and_half_open_bounds():
    notes = np.array([[0, t, 1, 60] for t in (90, 96, 143, 144, 191, 192, 287)])
    chunks = split_chunks(notes, start=96, n_chunks=4)  # end = 288: chunks of 48 ticks
    assert [c[:, 1].tolist() for c in chunks] == [[96, 143], [144, 191], [192], [287]]
    assert [len(c) for c in split_chunks(notes[:0], 96)] == [0, 0, 0, 0]


def hand_made() -> tuple[np.ndarray, np.ndarray]:
    """A reference (16 quarter notes of C on slot 0, drums on slot 1) and a continuation from
    tick 96 whose four 4-beat chunks are: the same rhythm; off-beat eighths rising by whole
    tones; the rhythm transposed to G; one long note."""
    drums = np.array([[1, 12 * i, 1, 36] for i in range(24)])
    reference = np.concatenate([quarters(0, 16, 60), drums])
    chunk1 = np.array([[0, 144 + 12 * i + 6, 6, 60 + 2 * i] for i in range(4)])
    continuation = np.concatenate([quarters(96, 4, 60), chunk1, quarters(192, 4, 67),
                                   [[0, 240, 48, 60]], drums[:16] + [0, 96, 0, 0]])
    return reference, continuation


def test_similarity_per_chunk_of_a_hand_made_piece_is_the_known_one():
    reference, continuation = hand_made()
    sim = chunk_similarity([continuation], reference, start=96, drum_slots=(1,))
    assert sim["slots"].tolist() == [0]  # the drum slot is left out
    # Pairs within 4 beats, all unisons: the reference has 15, 14, 13 at lags 1, 2, 3 beats; a
    # chunk of 4 quarter notes has 3, 2, 1.
    same_rhythm = (3 * 15 + 2 * 14 + 1 * 13) / np.sqrt(14 * (15**2 + 14**2 + 13**2))
    np.testing.assert_allclose(sim["onset_duration"][0, :3], [1.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(sim["time_pitch"][0, :3], [same_rhythm, 0.0, same_rhythm])
    assert np.isnan(sim["onset_duration"][0, 3])  # a 4-beat note: outside the profile
    assert np.isnan(sim["time_pitch"][0, 3])  # one note, no pair


def test_samples_of_a_prompt_are_pooled_and_slots_averaged():
    reference, continuation = hand_made()
    one = chunk_similarity([continuation], reference, 96, drum_slots=(1,))
    two = chunk_similarity([continuation, continuation], reference, 96, drum_slots=(1,))
    np.testing.assert_allclose(one["time_pitch"], two["time_pitch"])
    # Slot 2 repeats slot 0 a fifth up: the profiles see no absolute pitch.
    up = lambda n: n[n[:, 0] == 0] + [2, 0, 0, 7]  # noqa: E731
    both = chunk_similarity([np.concatenate([continuation, up(continuation)])],
                            np.concatenate([reference, up(reference)]), 96, drum_slots=(1,))
    assert both["slots"].tolist() == [0, 2]
    np.testing.assert_allclose(both["time_pitch"][1], both["time_pitch"][0])
    mean = mean_over_slots({"onset_duration": np.array([[np.nan, 0.2], [0.5, np.nan]]),
                            "time_pitch": np.array([[0.1, 0.3], [0.3, np.nan]])})
    np.testing.assert_allclose(mean["onset_duration"], [0.5, 0.2])
    np.testing.assert_allclose(mean["time_pitch"], [0.2, 0.3])


def test_the_floor_always_comes_from_another_style():
    styles = ["a", "a", "b", "c", "c", "c"]
    picks = other_style(styles, seed=1)
    assert all(styles[j] != styles[i] for i, j in enumerate(picks))
    assert picks == other_style(styles, seed=1)
    with pytest.raises(ValueError):
        other_style(["a", "a"])


def test_on_real_songs_the_ceiling_is_closer_to_the_reference_than_the_floor(data_root):
    pieces = [load_pop909_piece(data_root, i) for i in range(1, 7)]
    refs = [p.trio() for p in pieces]
    starts = [time_reached(prompt_tokens(r, V), V) for r in refs]
    assert all(80 <= s <= 96 for s in starts)  # the prompt's last note-off, in bar 2
    floors = other_style([p.style for p in pieces], seed=0)
    ceiling, floor = [], []
    for i, ref in enumerate(refs):
        real = real_continuation(ref, V, starts[i])
        assert len(real) > 200 and real[:, 1].min() >= starts[i]
        j = floors[i]
        other = real_continuation(refs[j], V, starts[j])
        ceiling.append(mean_over_slots(chunk_similarity([real], ref, starts[i])))
        floor.append(mean_over_slots(chunk_similarity([other], ref, starts[j])))
    for metric in ("onset_duration", "time_pitch"):
        high = np.nanmean([c[metric] for c in ceiling])
        low = np.nanmean([f[metric] for f in floor])
        assert high > low + 0.1, (metric, high, low)


def test_sampling_under_the_constraint_stays_inside_the_grammar():
    prompt = torch.from_numpy(np.stack([prompt_tokens(quarters(0, 8, 60 + k), V)
                                        for k in range(3)]))
    allowed = trio_constraint(V, prompt)
    generator = torch.Generator().manual_seed(0)
    ids = [prompt]
    for _ in range(120):
        mask = allowed(ids[-1][:, -1])
        logits = torch.randn(3, V.size, generator=generator)
        logits[:, V.eos] = -1e4  # keep sampling: random logits would end early
        ids.append(sample(logits, 1.0, None, None, generator, allowed_mask=mask)[:, None])
    tokens = torch.cat(ids, dim=1).numpy()
    for row in tokens:
        assert first_violation(row, V, start=1) is None
        notes, start = continuation_notes(row, prompt.shape[1], V)
        assert start == 96 and len(notes) > 0
        np.testing.assert_array_equal(
            continuation_notes(encode_notes(notes, V, bos=True), 1, V)[0], notes)
