"""REMI tokens and their event grammar."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stripes.music.pianoroll import score_to_pianoroll
from stripes.music.tokenizer import (
    EventGrammar,
    build_tokenizer,
    ids_to_score,
    load_tokenizer,
    notes_to_ids,
    pianoroll_to_ids,
    save_tokenizer,
)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def grammar(tokenizer):
    return EventGrammar.from_tokenizer(tokenizer)


def _type(tokenizer, i):
    return tokenizer[int(i)].split("_")[0]


def test_pop909_tokens_follow_the_grammar(few_songs, tokenizer, grammar):
    for song in few_songs[:3]:
        ids = notes_to_ids(tokenizer, song.notes, [0, 2], song.downbeat)
        assert len(ids) > 1000 and grammar.is_valid_sequence(ids)
        bad = list(ids)
        bad[3], bad[4] = bad[4], bad[3]
        assert not grammar.is_valid_sequence(bad)


def test_allowed_next_masks_by_token_type(tokenizer, grammar):
    V = len(tokenizer)
    pitch = tokenizer.vocab["Pitch_60"]
    mask = grammar.allowed_next(pitch)
    assert mask.shape == (V,) and mask.dtype == torch.bool
    assert {_type(tokenizer, i) for i in mask.nonzero()[:, 0]} == {"Duration"}
    assert {_type(tokenizer, i) for i in grammar.allowed_next(None).nonzero()[:, 0]} == {
        "BOS",
        "Bar",
    }
    assert not grammar.allowed_next(tokenizer.vocab["Position_0"])[tokenizer.vocab["Bar_None"]]


def test_sequences_drawn_under_the_mask_are_valid_and_decode(tokenizer, grammar):
    gen = torch.Generator().manual_seed(0)
    ids, prev = [], None
    for _ in range(200):
        allowed = grammar.allowed_next(prev).float()
        prev = int(torch.multinomial(allowed, 1, generator=gen))
        ids.append(prev)
        if _type(tokenizer, prev) == "EOS":
            break
    assert grammar.is_valid_sequence(ids)
    assert (
        ids_to_score(tokenizer, [i for i in ids if _type(tokenizer, i) != "PAD"]).ticks_per_quarter
        == 16
    )


def test_pianoroll_to_tokens_and_back_is_lossless_for_eighth_notes(tokenizer):
    roll = np.zeros((256, 256), dtype=bool)
    rng = np.random.default_rng(0)
    for k in range(2):
        for t in range(0, 256, 8):
            roll[t : t + 8 if t % 16 else t + 16, 128 * k + rng.integers(40, 90)] = True
    score = ids_to_score(tokenizer, pianoroll_to_ids(tokenizer, roll))
    assert [t.program for t in score.tracks] == [0, 1]
    for track in score.tracks:
        track.name = str(track.program)
    back = score_to_pianoroll(score, ["0", "1"], n_steps=256)
    np.testing.assert_array_equal(back, roll)


def test_saved_tokenizer_loads_with_the_same_vocabulary(tokenizer, tmp_path):
    path = save_tokenizer(tokenizer, tmp_path)
    assert path.name == "tokenizer.json"
    assert load_tokenizer(tmp_path).vocab == tokenizer.vocab


def test_chorale_cache_tokens_are_valid(chorale_cache):
    folder = chorale_cache / "chorales"
    tok = load_tokenizer(folder)
    grammar = EventGrammar.from_tokenizer(tok)
    with np.load(folder / "tokens.npz") as data:
        ids, offsets = data["ids"], data["offsets"]
    assert len(offsets) - 1 == len(np.load(folder / "corpus.npz")["names"])
    pieces = [ids[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    assert all(grammar.is_valid_sequence(p) for p in pieces)
