"""Content-context mutual information over a corpus ([ST] Table I, docs/math.md §6).

The unified view reads attention as content similarity times context similarity (docs/math.md §5); a
structure context is useful to a PE when it says something about the content. This module
measures how much: the mutual information, in nats, between the pitch of each note onset of the
target tracks and the context index at its step (the time step within the window for ``time``;
the chord, key-normalised chord, chroma or phrase label for the structure contexts; REP in both
readings, chords numbered by first appearance in the window or by identity).

``mutual_information`` is the plug-in estimate ``Σ p(x, y) log p(x, y) / (p(x) p(y))``; its
upward bias is about ``(|X| - 1)(|Y| - 1) / 2N`` nats (Miller-Madow), which the report also
gives, since ``time`` has many more values than the structure contexts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from stripes.music.corpus import Corpus
from stripes.music.datasets import load_corpus
from stripes.music.structure import CONTEXTS, structure_positions

DEFAULT_CONTEXTS = ("time", "rep", "rep_sorted", "key", "bin", "chord", "phrase")
CONTENTS = ("pitch", "pitch_class")
#: Readings of a context under another name: ``name -> (context, options)``. REP numbers each
#: distinct chord of the window; ``rep`` (= ``rep_first``) by first appearance, ``rep_sorted`` by
#: chord identity (increasing chord id), the two readings of [ST]'s definition (docs/math.md §3).
CONTEXT_READINGS = {
    "rep_first": ("rep", {"rep_order": "first"}),
    "rep_sorted": ("rep", {"rep_order": "sorted"}),
}


def _resolve(context: str) -> tuple[str, dict]:
    """``(context, options)`` of a context name or a reading of ``CONTEXT_READINGS``."""
    return CONTEXT_READINGS.get(context, (context, {}))


@dataclass(frozen=True)
class MutualInformation:
    """One row of the table: ``mi`` (plug-in, nats), ``bias`` (Miller-Madow estimate of the
    plug-in's upward bias), ``corrected = mi - bias``, the sample size ``n`` and the number of
    distinct content and context values seen."""

    context: str
    mi: float
    bias: float
    corrected: float
    n: int
    content_values: int
    context_values: int


def mutual_information(x: np.ndarray, y: np.ndarray) -> float:
    """Plug-in mutual information in nats of paired discrete samples ``x, y [N]`` (any labels)."""
    x, y = np.asarray(x).ravel(), np.asarray(y).ravel()
    if len(x) != len(y):
        raise ValueError(f"x and y must pair up, got {len(x)} and {len(y)} values")
    if len(x) == 0:
        raise ValueError("mutual information of an empty sample")
    xi = np.unique(x, return_inverse=True)[1]
    yi = np.unique(y, return_inverse=True)[1]
    joint = np.zeros((xi.max() + 1, yi.max() + 1))
    np.add.at(joint, (xi, yi), 1.0)
    joint /= len(x)
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / (px * py)[nz])))


def context_index(positions: np.ndarray) -> np.ndarray:
    """Index ``[N]`` of each distinct row of ``positions [N, L]`` (vector contexts such as the
    12-bit chroma count as one value per distinct vector)."""
    positions = np.asarray(positions)
    if positions.ndim != 2:
        raise ValueError(f"positions must be [N, L], got shape {positions.shape}")
    return np.unique(positions, axis=0, return_inverse=True)[1].ravel()


def onset_samples(corpus: Corpus, context: str, split: str | None, bars: int | None,
                  content: str = "pitch") -> tuple[np.ndarray, np.ndarray]:
    """Content ``[N]`` and context positions ``[N, L]`` at every target-track note onset of the
    non-overlapping windows of ``bars`` bars (``None``: whole pieces) of a split."""
    content_values, positions = _onsets(corpus, [context], split, bars, content)
    return content_values, positions[context]


def _onsets(corpus: Corpus, contexts: Sequence[str], split: str | None, bars: int | None,
            content: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`onset_samples` for several contexts in one pass over the windows."""
    if content not in CONTENTS:
        raise ValueError(f"content must be one of {CONTENTS}, not {content!r}")
    tracks = sorted({t for slot in corpus.slots["targets"] for t in slot})
    pitches: list[np.ndarray] = []
    contexts_at: dict[str, list[np.ndarray]] = {c: [] for c in contexts}
    for song, start, size in corpus.windows(split, bars, hop_bars=bars):
        notes = corpus.notes(song)
        onset = notes[:, 1] - start
        keep = np.isin(notes[:, 0], tracks) & (onset >= 0) & (onset < size)
        if not keep.any():
            continue
        labels = corpus.labels(song, start, start + size)
        pitches.append(notes[keep, 3])
        for c in contexts:
            name, options = _resolve(c)
            contexts_at[c].append(structure_positions(labels, name, **options)[onset[keep]])
    if not pitches:
        raise ValueError(f"no target note onsets in split {split!r} with windows of {bars} bars")
    pitch = np.concatenate(pitches)
    pitch = pitch % 12 if content == "pitch_class" else pitch
    return pitch, {c: np.concatenate(v) for c, v in contexts_at.items()}


def content_context_mi(
    corpus: Corpus | str,
    contexts: Sequence[str] = DEFAULT_CONTEXTS,
    split: str | None = "train",
    bars: int | None = 16,
    content: str = "pitch",
) -> list[MutualInformation]:
    """[ST] Table I: mutual information between note content and each structure context.

    corpus: a :class:`Corpus`, its cache folder or name (``pop909``, ``chorales``). Windows of
    ``bars`` bars do not overlap (each note counts once), so ``time`` is the step in the window.
    contexts: names of ``CONTEXTS`` or of ``CONTEXT_READINGS`` (``rep_sorted``: REP numbered by
    chord identity instead of first appearance).
    """
    corpus = corpus if isinstance(corpus, Corpus) else load_corpus(corpus)
    unknown = [c for c in contexts if _resolve(c)[0] not in CONTEXTS]
    if unknown:
        raise ValueError(f"unknown contexts {unknown}; choose from {sorted(CONTEXTS)}")
    x, positions = _onsets(corpus, contexts, split, bars, content)
    nx, rows = len(np.unique(x)), []
    for context in contexts:
        y = context_index(positions[context])
        mi = mutual_information(x, y)
        ny = int(y.max()) + 1
        bias = (nx - 1) * (ny - 1) / (2 * len(x))
        rows.append(MutualInformation(context, mi, bias, mi - bias, len(x), nx, ny))
    return rows


def rows_as_dicts(rows: Sequence[MutualInformation]) -> list[dict]:
    """The rows as plain dicts (JSON)."""
    return [asdict(r) for r in rows]
