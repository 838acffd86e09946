"""Which pieces share a tune: transposition-invariant melody similarity, tune groups, duplicates.

Bach set many hymn tunes several times, often under another hymn's title (one tune carries many
texts) or another spelling of it, in another key and with other passing notes. A split that
groups pieces by title alone puts such settings of one tune on both sides of the split. Here:

- :func:`melody_skeleton`: the melody's pitch on every beat's first step, repeated pitches and
  rests dropped, as intervals ``[K-1]`` (semitones): ornaments between beats and the key vanish.
- :func:`melody_similarity`: ``1 - levenshtein(a, b) / max(len(a), len(b))`` of two skeletons (a
  tolerant alignment: a changed, added or dropped note costs 1).
- :func:`link_tunes`: pieces with the same normalised title or with skeletons at least
  ``threshold`` similar share a group (the transitive closure of both links).
- :func:`duplicate_of`: pieces whose notes equal an earlier piece's up to transposition.

:data:`TUNE_THRESHOLD` = 0.65 sits in the gap of the music21 chorales' similarities: pairs of
different tunes reach at most about 0.6 (shared stepwise cadence formulas), settings of one tune
under other titles score 0.65 and more (see docs/data.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

TUNE_THRESHOLD = 0.65


def melody_skeleton(melody: np.ndarray, beat: np.ndarray) -> np.ndarray:
    """Intervals ``[K-1]`` between the distinct successive pitches sounding on beat starts.

    melody: ``[T]`` MIDI pitch per step (0 = rest); beat: ``[T]`` beat label (its runs are
    beats)."""
    melody, beat = np.asarray(melody), np.asarray(beat)
    starts = np.concatenate([[0], np.flatnonzero(beat[1:] != beat[:-1]) + 1])
    pitches = melody[starts]
    pitches = pitches[pitches > 0]
    keep = np.ones(len(pitches), dtype=bool)
    keep[1:] = pitches[1:] != pitches[:-1]
    return np.diff(pitches[keep]).astype(np.int64)


def edit_distances(a: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """Levenshtein distances ``[S]`` of the sequence ``a [M]`` to each of ``others`` (``[L_s]``).

    One dynamic programme for all ``others`` at once: rows over ``a``, the others padded to the
    longest (a column depends only on the columns left of it, so padding never leaks)."""
    lens = np.array([len(o) for o in others], dtype=np.int64)
    width = int(lens.max(initial=0))
    padded = np.full((len(others), width), np.iinfo(np.int64).min, dtype=np.int64)
    for s, o in enumerate(others):
        padded[s, : len(o)] = o
    cols = np.arange(width + 1)
    prev = np.broadcast_to(cols, (len(others), width + 1)).copy()
    for i, x in enumerate(np.asarray(a).tolist(), 1):
        cur = np.empty_like(prev)
        cur[:, 0] = i
        cur[:, 1:] = np.minimum(prev[:, 1:] + 1, prev[:, :-1] + (padded != x))  # delete, change
        prev = np.minimum.accumulate(cur - cols, axis=1) + cols  # insertions along the row
    return prev[np.arange(len(others)), lens]


def melody_similarity(a: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """``1 - levenshtein / max(length)`` ``[S]`` of skeleton ``a`` to each of ``others`` (two
    empty skeletons: 1)."""
    longest = np.maximum(len(a), [len(o) for o in others])
    return 1.0 - edit_distances(a, others) / np.maximum(longest, 1)


def normalise_title(title: str) -> str:
    """Lower case, runs of non-word characters as one space (``"Was Gott tut, das"`` ->
    ``"was gott tut das"``)."""
    return re.sub(r"\W+", " ", title).strip().casefold()


def link_tunes(titles: Sequence[str], skeletons: Sequence[np.ndarray],
               threshold: float = TUNE_THRESHOLD) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """``(group [S], melody links)``: group ids numbered from 0 in order of first piece, where
    pieces with equal normalised titles or skeletons at least ``threshold`` similar
    (:func:`melody_similarity`) share a group; the links are the pairs ``(i, j)``, ``i < j``,
    joined by their melody whose titles differ."""
    n = len(titles)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, title in enumerate(titles):
        parent[find(i)] = find(first.setdefault(normalise_title(title), i))
    links = []
    for i in range(n - 1):
        sim = melody_similarity(skeletons[i], skeletons[i + 1:])
        for j in (np.flatnonzero(sim >= threshold) + i + 1).tolist():
            if normalise_title(titles[i]) != normalise_title(titles[j]):
                links.append((i, j))
            parent[find(j)] = find(i)
    roots = [find(i) for i in range(n)]
    order = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    return np.array([order[r] for r in roots], dtype=np.int64), links


def duplicate_of(names: Sequence[str], notes: Sequence[np.ndarray]) -> list[int]:
    """For each piece, the index of the first earlier piece with the same name or the same notes
    up to transposition, or -1. notes: ``[N, 4]`` (track, start, duration, pitch) per piece."""
    seen: dict[object, int] = {}
    out = []
    for i, (name, n) in enumerate(zip(names, notes, strict=True)):
        rows = np.asarray(n).copy()
        rows[:, 3] -= rows[:, 3].min() if len(rows) else 0
        rows = rows[np.lexsort(rows.T[::-1])]
        keys = (("name", name), ("notes", rows.shape, rows.tobytes()))
        earlier = [seen[k] for k in keys if k in seen]
        out.append(earlier[0] if earlier else -1)
        for k in keys:
            seen.setdefault(k, i)
    return out
