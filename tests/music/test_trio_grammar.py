"""The trio grammar: the mask of allowed next tokens, per sequence of a batch."""

from __future__ import annotations

import numpy as np
import symusic

from stripes.music.trio_events import (
    TrioVocabulary,
    decode_tokens,
    encode_notes,
    score_to_trio,
)
from stripes.music.trio_grammar import TrioGrammar, first_violation

V = TrioVocabulary()


def test_a_sounding_note_may_end_after_a_tick_but_not_start_again_on_its_track():
    g = TrioGrammar(V)
    g.advance([V.note_on(0, 60)])
    mask = g.allowed()[0]
    assert not mask[V.note_off(0, 60)] and not mask[V.note_on(0, 60)]  # at its onset: neither
    g.advance([V.time_shift(0, 1)])
    mask = g.allowed()[0]
    assert mask[V.note_off(0, 60)] and not mask[V.note_on(0, 60)]
    assert not mask[V.note_off(0, 61)] and not mask[V.note_off(1, 60)]  # no spurious note-off
    assert mask[V.note_on(1, 60)] and mask[V.note_on(0, 61)]
    g.advance([V.note_off(0, 60)])
    mask = g.allowed()[0]
    assert mask[V.note_on(0, 60)] and not mask[V.note_off(0, 60)]


def test_no_shift_inside_the_beat_moves_back_or_stays():
    g = TrioGrammar(V)
    g.advance([V.time_shift(1, 5)])  # tick 5 of beat 1
    assert g.time[0] == 17
    mask = g.allowed()[0]
    assert not any(mask[V.time_shift(0, o)] for o in range(1, 6))
    assert all(mask[V.time_shift(0, o)] for o in range(6, 12))
    assert all(mask[V.time_shift(1, o)] for o in range(12)) and mask[V.time_shift(2, 0)]
    g.advance([V.time_shift(0, 11)])
    mask = g.allowed()[0]
    assert not mask[V.shift_base : V.shift_base + 11].any()  # no (0, o) is left in this beat
    assert mask[V.shift_base + 11 : V.eos].all()


def test_after_eos_only_eos_and_bos_never():
    g = TrioGrammar(V)
    assert not g.allowed()[0, V.bos] and g.allowed()[0, V.eos]
    g.advance([V.eos])
    mask = g.allowed()[0]
    assert mask[V.eos] and mask.sum() == 1


def test_rows_of_a_batch_keep_their_own_state():
    g = TrioGrammar(V, batch=3)
    g.advance([V.note_on(2, 40), V.time_shift(0, 4), V.eos])
    g.advance([V.time_shift(0, 1), V.note_on(2, 40), V.eos])
    mask = g.allowed()
    assert mask[0, V.note_off(2, 40)] and not mask[1, V.note_off(2, 40)]  # row 1: at its onset
    assert mask[1, V.note_on(2, 41)] and not mask[1, V.note_on(2, 40)]
    assert mask[0, V.time_shift(0, 2)] and not mask[0, V.time_shift(0, 1)]  # row 0 at tick 1
    assert mask[1, V.time_shift(0, 5)] and not mask[1, V.time_shift(0, 4)]  # row 1 at tick 4
    assert mask[2].sum() == 1


def test_first_violation_finds_the_bad_token():
    tokens = [V.bos, V.note_on(0, 60), V.time_shift(0, 6), V.time_shift(0, 3)]
    assert first_violation(tokens, V, start=1) == 3
    assert first_violation(tokens[:3], V, start=1) is None
    assert first_violation([V.bos, V.note_off(1, 2)], V, start=1) == 1
    assert first_violation([V.bos, V.note_on(1, 2), V.note_off(1, 2)], V, start=1) == 2


def test_encoded_real_songs_obey_the_grammar(data_root):
    for song in (1, 4):
        score = symusic.Score(str(data_root / "pop909" / f"{song:03d}" / f"{song:03d}.mid"))
        tokens = encode_notes(score_to_trio(score, [[0], [1], [2]]), V, bos=True, eos=True)
        assert first_violation(tokens, V, start=1) is None


def test_random_walks_inside_the_grammar_decode_to_unambiguous_notes():
    rng = np.random.default_rng(0)
    g = TrioGrammar(V, batch=4)
    tokens = np.zeros((4, 300), np.int64)
    for i in range(300):
        mask = g.allowed()
        mask[:, V.eos] = i == 299  # keep going until the end
        tokens[:, i] = [rng.choice(np.flatnonzero(row)) for row in mask]
        g.advance(tokens[:, i])
    for row in tokens:
        assert first_violation(row, V) is None
        notes = decode_tokens(row, V)
        assert len(notes) > 0 and (notes[:, 2] >= 1).all()
        np.testing.assert_array_equal(decode_tokens(encode_notes(notes, V), V), notes)
