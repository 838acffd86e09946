"""POP909 trios: the offline stand-in for Groove2Groove (docs/groove.md, "Track mapping").

[SPE]'s trios are bass, drums and one harmonic track of Band-in-a-Box accompaniments, and a test
*style* is unseen in training. POP909 has neither drums nor a bass track: each file holds MELODY,
BRIDGE (a secondary melody) and PIANO (the accompaniment). We use these three tracks as the three
instruments, in that order (slots 0, 1, 2), rather than inventing a bass (say the lowest piano
voice) or leaving an empty drum slot: every token then comes from a real track, the file decodes
back to itself, and the style profiles compare like with like, track by track. No slot is a drum
slot. One song is one style, so a song-level split makes every test style unseen.

Only songs whose ``index.csv`` meter is ``(2, 2)``, the meter the rest of stripes reads as 4/4
(857 of 909), are used, since bars are 4 beats here as in the paper. The ``versions/`` folders
(1,989 earlier drafts of the arrangements) are left out: they repeat the final file's melody
with edited bridge and piano parts (song 300's piano: 1,036 notes in v1, 1,247 in the final
file) under varying track names (``CAU`` for BRIDGE, sometimes ``Grandeur 1``...); they could
only ever be extra training data for a training song. Each piece starts at the bar line before its
first note (leading empty bars are cut; the bar phase of the MIDI grid is kept).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stripes.tasks.groove.pieces import (
    TrioPiece,
    bar_ticks,
    first_tempo,
    grid_notes,
    read_score,
)

POP909_SOURCES = ("MELODY", "BRIDGE", "PIANO")
POP909_SLOTS = ("melody", "bridge", "piano")
FOUR_FOUR = (2, 2)  # index.csv (beats per measure, quavers per beat), read as 4/4 (pop909.py)


def pop909_folder(root: str | Path) -> Path:
    """``root/pop909`` (``root`` is the data root the rest of stripes uses, or the pop909 folder
    itself). FileNotFoundError if it holds no ``index.csv``."""
    root = Path(root).expanduser()
    for folder in (root / "pop909", root):
        if (folder / "index.csv").is_file():
            return folder
    raise FileNotFoundError(f"no POP909 folder (with index.csv) at {root} or {root / 'pop909'}")


def four_four_songs(root: str | Path) -> list[int]:
    """Song ids whose ``index.csv`` meter is :data:`FOUR_FOUR`, ascending."""
    with open(pop909_folder(root) / "index.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return sorted(int(r["song_id"]) for r in rows
                  if (int(r["num_beats_per_measure"]), int(r["num_quavers_per_beat"])) == FOUR_FOUR)


def split_songs(song_ids: Sequence[int], n_val: int = 50, n_test: int = 50,
                seed: int = 0) -> dict[str, list[int]]:
    """A seeded song-level split: ``{"train", "val", "test"}`` -> sorted song ids.

    Styles (songs) of val and test never occur in train. 50 test songs match the 50 test files
    of the paper's Groove2Groove split (25 styles, two sub-styles each).
    """
    ids = np.sort(np.asarray(song_ids, dtype=np.int64))
    if n_val + n_test >= len(ids):
        raise ValueError(f"{len(ids)} songs cannot give {n_val} val and {n_test} test songs")
    order = np.random.default_rng(seed).permutation(ids)
    parts = {"test": order[:n_test], "val": order[n_test : n_test + n_val],
             "train": order[n_test + n_val :]}
    return {name: sorted(int(i) for i in part) for name, part in parts.items()}


def load_pop909_piece(root: str | Path, song_id: int) -> TrioPiece:
    """One POP909 song as a :class:`TrioPiece` (slots melody, bridge, piano), starting at the bar
    line before its first note."""
    name = f"{song_id:03d}"
    score = read_score(pop909_folder(root) / name / f"{name}.mid")
    notes = grid_notes(score, POP909_SOURCES)
    if len(notes):
        notes[:, 1] -= notes[:, 1].min() // bar_ticks() * bar_ticks()
    return TrioPiece(name=name, style=name, notes=notes, sources=POP909_SOURCES,
                     roles=((0,), (1,), (2,)), slot_names=POP909_SLOTS, qpm=first_tempo(score))


def load_pop909_trios(root: str | Path, n_val: int = 50, n_test: int = 50, seed: int = 0,
                      limit: int | None = None) -> dict[str, list[TrioPiece]]:
    """The 4/4 songs as pieces, split by song (see :func:`split_songs`).

    Args:
        root: the data root (or the pop909 folder). n_val, n_test, seed: the split.
        limit: keep only the first ``limit`` songs of each split (quick runs).
    """
    split = split_songs(four_four_songs(root), n_val, n_test, seed)
    return {part: [load_pop909_piece(root, i) for i in ids[:limit]]
            for part, ids in split.items()}
