"""The cache and the window dataset: schema, lengths, transposition, collation."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from stripes.music.datasets import describe_corpus, load_corpus, save_corpus
from stripes.music.structure import LABELS
from stripes.music.windows import WindowDataset, collate_windows


def test_cache_round_trip_keeps_arrays_and_hash(small_corpus, tmp_path):
    folder = save_corpus(small_corpus, tmp_path / "pop909")
    t0 = time.perf_counter()
    back = load_corpus(folder, verify=True)
    assert time.perf_counter() - t0 < 1.0
    assert set(back.arrays) == set(small_corpus.arrays)
    for k, v in small_corpus.arrays.items():
        np.testing.assert_array_equal(back.arrays[k], v)
    assert back.manifest["versions"]["symusic"] and len(back.manifest["content_sha256"]) == 64
    np.savez_compressed(folder / "corpus.npz", **{**back.arrays, "keys": back.arrays["keys"] + 1})
    with pytest.raises(ValueError, match="hash"):
        load_corpus(folder, verify=True)


def test_missing_cache_says_how_to_prepare(tmp_path, monkeypatch):
    monkeypatch.setenv("STRIPES_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="stripes data prepare chorales"):
        load_corpus("chorales")


def test_window_items_have_equal_lengths_and_the_harmonization_schema(small_corpus):
    ds = WindowDataset(small_corpus, split=None, bars=16, context="fs")
    assert len(ds) > 6
    for n in (0, len(ds) - 1):
        item = ds[n]
        assert item["inputs"].shape == (1024, 256) and item["targets"].shape == (1024, 384)
        assert item["positions"].shape == (1024, 3)
        assert set(item["labels"]) == set(LABELS)
        assert all(v.shape == (1024,) and v.dtype == torch.long for v in item["labels"].values())
        assert torch.equal(item["inputs"], item["targets"][:, :256])
        assert item["targets"][:, 256:].sum() > 0


def test_windows_start_on_bar_lines_with_the_s24_overlap(small_corpus):
    w16 = small_corpus.windows(None, 16)
    assert np.all(w16[:, 2] == 1024) and np.all(np.diff(w16[w16[:, 0] == 0, 1]) == 14 * 64)
    starts = w16[:, 1] - small_corpus.arrays["downbeats"][w16[:, 0]]
    assert np.all(starts % 64 == 0)
    w64 = small_corpus.windows("test", 64, hop_bars=64)
    assert np.all(w64[:, 2] == 4096) and set(w64[:, 0]) <= {4, 5}
    assert all(s + n <= small_corpus.n_steps(i) for i, s, n in w16)


@pytest.mark.parametrize("shift", [-6, 3, 6])
def test_transposition_keeps_labels_consistent(small_corpus, shift):
    ds = WindowDataset(small_corpus, split="train", bars=16, context="bin")
    song, start, size = (int(x) for x in ds.index[1])
    base, moved = ds.item(song, start, size), ds.item(song, start, size, shift)
    vocab = small_corpus.vocab
    for k in range(3):  # every track's pianoroll is rolled by the shift
        a = base["targets"][:, 128 * k : 128 * (k + 1)]
        b = moved["targets"][:, 128 * k : 128 * (k + 1)]
        assert torch.equal(torch.roll(a, shift, dims=1), b)
    lb, lm = base["labels"], moved["labels"]
    np.testing.assert_array_equal(lm["chord"], vocab.transpose(lb["chord"].numpy(), shift))
    assert torch.equal(lm["key_chord"], lb["key_chord"])  # invariant
    np.testing.assert_array_equal(lm["chroma"], vocab.chroma(lm["chord"].numpy()))
    assert torch.equal(lm["melody"] > 0, lb["melody"] > 0)
    assert torch.equal(lm["melody"][lb["melody"] > 0], lb["melody"][lb["melody"] > 0] + shift)
    root_ok = (lb["root"] == 0) | ((lb["root"] - 1 + shift) % 12 == lm["root"] - 1)
    assert root_ok.all() and torch.equal(lm["key"] % 12, (lb["key"] + shift) % 12)
    assert torch.equal(torch.roll(base["positions"], shift, dims=1), moved["positions"])
    # the melody label matches the melody track as often after the move as before
    on = (lb["melody"] > 0).nonzero()[:, 0]
    hits = [it["targets"][on, it["labels"]["melody"][on]].float().mean() for it in (base, moved)]
    assert hits[0] > 0.7 and hits[0] == hits[1]


def test_random_transposition_stays_in_range(small_corpus):
    ds = WindowDataset(small_corpus, "train", bars=16, transpose=(-6, 6))
    torch.manual_seed(0)
    shifts = {ds[0]["shift"] for _ in range(40)}
    assert shifts <= set(range(-6, 7)) and len(shifts) > 3


def test_collate_pads_to_the_longest_item_with_a_mask(small_corpus):
    ds = WindowDataset(small_corpus, split="train", bars=None, context="rep")
    batch = collate_windows([ds[0], ds[1]])
    T = max(small_corpus.n_steps(i) for i in ds.index[:2, 0])
    assert batch["inputs"].shape == (2, T, 256) and batch["targets"].shape == (2, T, 384)
    assert batch["positions"].shape == (2, T, 1) and batch["labels"]["chord"].shape == (2, T)
    assert batch["mask"].sum(1).tolist() == [small_corpus.n_steps(int(i)) for i in ds.index[:2, 0]]
    assert batch["inputs"][~batch["mask"]].sum() == 0


def test_describe_counts_windows_and_context_values(small_corpus):
    info = describe_corpus(small_corpus, bars=16)
    assert info["songs"] == {"train": 2, "val": 2, "test": 2}
    assert info["windows"]["16"]["train"] == len(small_corpus.windows("train", 16))
    rep, bin_ = info["contexts"]["rep"], info["contexts"]["bin"]
    assert 1 <= rep["mean"] <= rep["max"] and bin_["max"] <= rep["max"]
    assert info["labels"]["tempo"]["max"] <= 3 and info["labels"]["key"]["max"] < 24
