"""Fixtures shared by every test package: the real POP909 data in ../shared/data (skipped with a
reason when absent) and a small real chorale cache built by the project's own code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_DATA = Path(__file__).parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder with pop909/, pop909_structure/, pop909_alignment/ (env ``STRIPES_DATA``)."""
    root = Path(os.environ.get("STRIPES_DATA") or DEFAULT_DATA)  # empty: unset
    missing = [
        f for f in ("pop909", "pop909_structure", "pop909_alignment") if not (root / f).is_dir()
    ]
    if missing:
        pytest.skip(f"POP909 data not found at {root} (missing {missing}); set STRIPES_DATA")
    return root


@pytest.fixture(scope="session")
def vocab(data_root):
    """The POP909 chord vocabulary (chord_db.npz, closed under transposition)."""
    from stripes.music.chords import ChordVocabulary

    return ChordVocabulary.from_chord_db(data_root / "pop909_alignment" / "chord_db.npz")


@pytest.fixture(scope="session")
def startpos(data_root):
    from stripes.music.pop909 import read_startpos

    return read_startpos(data_root)


@pytest.fixture(scope="session")
def few_songs(data_root, vocab, startpos):
    """Songs 001-006 of POP909, aligned."""
    from stripes.music.pop909 import load_song

    return [load_song(data_root, i, vocab, startpos) for i in range(1, 7)]


@pytest.fixture(scope="session")
def small_corpus(few_songs, vocab):
    """A POP909 corpus of six songs (two per split), as the cache holds it."""
    import numpy as np

    from stripes.music.datasets import POP909_SLOTS, corpus_from_songs
    from stripes.music.pop909 import TRACKS

    split = np.array([0, 0, 1, 1, 2, 2], dtype=np.int8)
    return corpus_from_songs(
        "pop909",
        few_songs,
        vocab,
        TRACKS,
        POP909_SLOTS,
        split,
        {"windows": {"bars": 16, "hop_bars": 14}},
    )


@pytest.fixture(scope="session")
def chorale_cache(tmp_path_factory):
    """A small real chorale cache (the first 24 music21 chorales), built by the project's code.

    Returns the cache *root*: the corpus lives in ``<root>/chorales`` (``HarmonizationConfig``'s
    ``cache_dir`` convention).
    """
    from stripes.music.datasets import prepare_chorales

    root = tmp_path_factory.mktemp("cache")
    prepare_chorales(root / "chorales", limit=24, workers=1, tokens=True)
    return root


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` run only where CUDA exists; elsewhere they are skipped with a reason."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
