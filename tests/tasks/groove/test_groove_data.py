"""Groove trio data: POP909 pieces and split, the Groove2Groove loader on tiny files written in
the release's layout, and the augmented crop dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import symusic

from stripes.music.trio_events import TrioVocabulary, encode_notes, quantize_ticks
from stripes.music.trio_grammar import first_violation
from stripes.tasks.groove.dataset import Augmentation, TrioCropDataset
from stripes.tasks.groove.groove2groove import (
    DOI,
    groove2groove_folder,
    load_groove2groove_piece,
    load_groove2groove_trios,
    parse_name,
    split_by_style,
)
from stripes.tasks.groove.pieces import TrioPiece
from stripes.tasks.groove.pop909_trios import (
    four_four_songs,
    load_pop909_piece,
    split_songs,
)

V = TrioVocabulary()


@pytest.fixture(scope="module")
def pop_pieces(data_root):
    return [load_pop909_piece(data_root, i) for i in (1, 2, 3, 4)]


def test_pop909_pieces_map_melody_bridge_piano_and_start_at_a_bar_line(data_root, pop_pieces):
    piece = pop_pieces[0]
    assert piece.slot_names == ("melody", "bridge", "piano") and piece.drum_slots == ()
    assert piece.style == piece.name == "001"
    firsts = []
    for song, each in zip((1, 2, 3, 4), pop_pieces, strict=True):
        score = symusic.Score(str(data_root / "pop909" / f"{song:03d}" / f"{song:03d}.mid"))
        first = min(int(t.notes.numpy()["time"].min()) for t in score.tracks)
        firsts.append(int(quantize_ticks(first, score.ticks_per_quarter)))
        assert each.notes[:, 1].min() == firsts[-1] % 48  # empty bars cut, bar phase kept
    assert firsts[3] == 120  # song 004 opens with two empty bars
    trio = piece.trio()
    np.testing.assert_array_equal(np.bincount(trio[:, 0]), [264, 307, 985])


def test_pop909_split_is_by_song_seeded_and_uses_the_four_four_songs(data_root):
    songs = four_four_songs(data_root)
    assert len(songs) == 857 and 1 in songs
    split = split_songs(songs, seed=0)
    assert [len(split[p]) for p in ("train", "val", "test")] == [757, 50, 50]
    assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))
    assert sorted(sum(split.values(), [])) == songs
    assert split_songs(songs, seed=0) == split and split_songs(songs, seed=1) != split


def write_bb_file(path: Path, tracks: dict[str, list[tuple[int, int, int]]],
                  drums: tuple[str, ...] = ("BB Drums",)) -> None:
    """A MIDI file at 480 ticks per quarter with the given ``name -> [(time, dur, pitch)]``."""
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 140.0))
    for name, notes in tracks.items():
        track = symusic.Track(name=name.split("#")[0], is_drum=name in drums)
        for t, d, p in notes:
            track.notes.append(symusic.Note(t, d, p, 100))
        score.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))


BAR = 4 * 480


def bb_tracks(shift: int) -> dict[str, list[tuple[int, int, int]]]:
    """Eight bars: a count-in note in bar 1, then bass, drums, two piano tracks, guitar; no
    strings. ``shift`` transposes the pitched tracks (to tell files apart)."""
    return {
        "BB Bass": [(0, 480, 30)] + [(b * BAR, 960, 36 + shift) for b in range(2, 8)],
        "BB Drums": [(b * BAR + q * 480, 60, 42) for b in range(2, 8) for q in range(4)],
        "BB Piano": [(b * BAR, BAR, 60 + shift) for b in range(2, 8)],
        "BB Piano#2": [(b * BAR + 960, 480, 64 + shift) for b in range(2, 8)],
        "BB Guitar": [(2 * BAR, 240, 55 + shift)],
    }


@pytest.fixture(scope="module")
def g2g_root(tmp_path_factory):
    """Four styles, two sub-styles each, two songs per sub-style, in the release's layout."""
    root = tmp_path_factory.mktemp("g2g")
    fixed = root / "groove2groove-data-v1.0.0" / "midi" / "train" / "fixed"
    for s, style in enumerate(("BOSSA", "FUNK_2", "JAZZWALTZ", "ROCK")):
        for sub in ("a", "b"):
            for song in ("Alpha", "Beta"):
                write_bb_file(fixed / f"{song}.{style}_{sub}.mid", bb_tracks(s))
    write_bb_file(fixed / "Gamma.ROCK_c.mid", bb_tracks(0))  # a lone sub-style: skipped
    return root


def test_groove2groove_names_parse_into_song_substyle_and_style():
    assert parse_name(Path("My Song.FUNK_2_b.mid")) == ("My Song", "FUNK_2_b", "FUNK_2")
    with pytest.raises(ValueError):
        parse_name(Path("nostyle.mid"))


def test_a_missing_groove2groove_folder_is_one_error_naming_the_doi(tmp_path):
    with pytest.raises(FileNotFoundError, match=DOI.replace(".", r"\.")):
        groove2groove_folder(tmp_path / "nowhere")
    (tmp_path / "midi" / "train" / "fixed").mkdir(parents=True)  # there, but empty
    with pytest.raises(FileNotFoundError, match="zenodo"):
        load_groove2groove_trios(tmp_path)


def test_a_groove2groove_file_becomes_bass_drums_and_harmonic_candidates(g2g_root):
    folder = groove2groove_folder(g2g_root)
    piece = load_groove2groove_piece(folder / "Alpha.ROCK_a.mid")
    assert piece.style == "ROCK" and piece.slot_names == ("bass", "drums", "harmony")
    assert piece.drum_slots == (1,) and piece.qpm == pytest.approx(140.0, rel=1e-5)
    assert piece.notes[:, 1].min() == 0  # the two count-in bars are gone, the bass note with them
    np.testing.assert_array_equal(piece.counts(), [6, 24, 1, 12, 0])  # pianos merged, no strings
    assert piece.busiest_choice() == [0, 1, 3]
    rng = np.random.default_rng(0)
    drawn = {piece.random_choice(rng)[2] for _ in range(50)}
    assert drawn == {2, 3}  # guitar or piano, never the empty strings


def test_groove2groove_split_is_by_style_with_one_file_per_test_substyle(g2g_root):
    files = sorted(groove2groove_folder(g2g_root).rglob("*.mid"))
    split = split_by_style(files, n_val=1, n_test=1, seed=0)
    styles = {p: {parse_name(f)[2] for f in split[p]} for p in split}
    assert len(styles["test"]) == len(styles["val"]) == 1 and len(styles["train"]) == 2
    assert not styles["test"] & (styles["train"] | styles["val"])
    assert len(split["test"]) == len(split["val"]) == 2 and len(split["train"]) == 8
    assert {parse_name(f)[1] for f in split["test"]} == {f"{s}_{x}" for s in styles["test"]
                                                         for x in "ab"}
    assert all("ROCK_c" not in f.name for p in split.values() for f in p)
    pieces = load_groove2groove_trios(g2g_root, n_val=1, n_test=1, seed=0)
    assert [len(pieces[p]) for p in ("train", "val", "test")] == [8, 2, 2]


def toy_piece(bars: int = 40, drums: bool = True) -> TrioPiece:
    """Bass quarter notes near the top of the range, a drum hit per beat, chords per bar."""
    beats = np.arange(bars * 4)
    bass = np.stack([np.zeros_like(beats), beats * 12, np.full_like(beats, 12),
                     np.full_like(beats, 125)], axis=1)
    drum = np.stack([np.ones_like(beats), beats * 12, np.full_like(beats, 2),
                     np.full_like(beats, 36)], axis=1)
    chords = np.array([[2, b * 48, 48, p] for b in range(bars) for p in (60, 64, 67)])
    return TrioPiece("toy", "toy", np.concatenate([bass, drum, chords]),
                     ("bass", "drums", "keys"), ((0,), (1,), (2,)), ("bass", "drums", "keys"),
                     drum_slots=(1,) if drums else ())


def test_skipping_cuts_whole_groups_of_four_bars_up_to_half_the_piece():
    aug = Augmentation(skip_prob=1.0)
    notes = toy_piece(40).trio()
    cuts = set()
    for seed in range(60):
        out = aug.skip(notes, np.random.default_rng(seed))
        cuts.add(40 - int((out[:, 1] + out[:, 2]).max()) // 48)
    assert cuts == {4, 8, 12, 16, 20}
    short = toy_piece(7).trio()
    assert len(aug.skip(short, np.random.default_rng(0))) == len(short)  # under 8 bars: kept


def test_dropping_keeps_at_least_one_instrument():
    notes = toy_piece().trio()
    for seed in range(10):
        out = Augmentation(drop_prob=1.0).drop(notes, 3, np.random.default_rng(seed))
        assert len(np.unique(out[:, 0])) == 1
    assert len(Augmentation(drop_prob=0.0).drop(notes, 3, np.random.default_rng(0))) == len(notes)


def test_transposition_spans_minus_five_to_five_folds_at_the_edges_and_spares_drums():
    piece, aug = toy_piece(), Augmentation()
    notes = piece.trio()
    shifts = set()
    for seed in range(200):
        out, shift = aug.shift_pitch(notes, piece.drum_slots, np.random.default_rng(seed))
        shifts.add(shift)
        np.testing.assert_array_equal(out[out[:, 0] == 1], notes[notes[:, 0] == 1])
        assert out[:, 3].max() <= 127 and out[:, 3].min() >= 0
        bass = out[out[:, 0] == 0, 3]
        assert (bass == 125 + shift if shift <= 2 else bass == 125 + shift - 12).all()
    assert shifts == set(range(-5, 6))


def test_crops_are_grammatical_seeded_and_redrawn_every_epoch(pop_pieces):
    ds = TrioCropDataset(pop_pieces, V, length=512, seed=3)
    first = [ds[i]["ids"] for i in range(len(ds))]
    for ids in first:
        assert len(ids) == 512 and ids[0] == V.bos
        assert first_violation(ids.numpy(), V, start=1) is None
    again = TrioCropDataset(pop_pieces, V, length=512, seed=3)
    assert all((a == again[i]["ids"]).all() for i, a in enumerate(first))
    ds.set_epoch(1)
    assert any(len(a) != len(ds[i]["ids"]) or (a != ds[i]["ids"]).any()
               for i, a in enumerate(first))


def test_a_crop_equals_the_head_of_the_whole_encoded_piece(pop_pieces):
    aug = Augmentation()
    ds = TrioCropDataset(pop_pieces, V, length=300, augmentation=aug, seed=5)
    for i, piece in enumerate(pop_pieces):
        notes, shift = aug.apply(piece, np.random.default_rng([5, 0, i]))
        item = ds[i]
        assert item["shift"] == shift
        np.testing.assert_array_equal(item["ids"].numpy(),
                                      encode_notes(notes, V, bos=True, eos=True)[:300])
    plain = TrioCropDataset([toy_piece(2)], V, length=512, augmentation=None)
    np.testing.assert_array_equal(plain[0]["ids"].numpy(),
                                  encode_notes(toy_piece(2).trio(), V, bos=True, eos=True))
    assert plain[0]["ids"][-1] == V.eos
