"""Per-step structure labels of a piece and the structure contexts (positions) of [ST] and [FS].

Every label is an integer array ``[T]`` on the grid of 16 steps per quarter (``LABELS`` lists
them). Runs of annotations (melody notes in 16ths, chords in beats, phrases in bars) are placed on
the grid from a start step; steps outside the annotated span get the documented padding values.
``structure_positions(labels, context)`` turns labels into float positions ``[T, L]``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from stripes.music.chords import (
    ChordVocabulary,
    chroma_to_bits,
    rotate_chroma,
    transpose_pitch_class,
)
from stripes.music.errors import LabelParseError
from stripes.music.midi_io import BAR_STEPS, STEPS_PER_QUARTER

# a..z = 0..25, A..Z = 26..51 ([S24]); 'x' (non-repeated instrumental) pads unlabelled steps
PHRASE_LETTERS = string.ascii_lowercase + string.ascii_uppercase
PAD_PHRASE = PHRASE_LETTERS.index("x")
TEMPO_BUCKETS = ((30, 59), (60, 89), (90, 119), (120, 149))  # BPM, clipped into 30..149
LABELS = {
    "chord": "chord id in the corpus vocabulary (POP909: chord_db row), quarter-note level",
    "root": "chord root + 1 (0 = no chord)",
    "chroma": "12-bit chroma of the chord, bit k = pitch class k (0 = no chord)",
    "key_chord": "chord id after moving the key's tonic to C (KEY context of [ST])",
    "key": "key of the piece: tonic + 12 * minor (0..23)",
    "melody": "melody MIDI pitch, 0 = rest, 16th-note level",
    "phrase": "phrase letter: a..z = 0..25, A..Z = 26..51, unlabelled = 'x' (23)",
    "phrase_index": "segment number from 0 (an unlabelled lead-in or tail is a segment)",
    "phrase_pos": "steps since the start of the segment",
    "bar": "bar number from 0 (a partial bar before the first downbeat is bar 0)",
    "beat": "quarter-note beat in the bar, 0..3",
    "tempo": "tempo bucket: 0 = 30-59, 1 = 60-89, 2 = 90-119, 3 = 120-149 BPM",
}
_PHRASE_RUN = re.compile(r"([A-Za-z])(\d+)")


def parse_melody(text: str, source: str = "melody.txt") -> np.ndarray:
    """Melody runs ``[N, 2]`` int (MIDI pitch, 0 = rest; duration in 16ths) of ``melody.txt``."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise LabelParseError(f"{source}:{number}: expected 'pitch duration', got {line!r}")
        pitch, dur = int(parts[0]), int(parts[1])
        if pitch > 127 or dur <= 0:
            raise LabelParseError(
                f"{source}:{number}: pitch {pitch} or duration {dur} out of range"
            )
        rows.append((pitch, dur))
    if not rows:
        raise LabelParseError(f"{source}: no melody")
    return np.array(rows, dtype=np.int64)


def parse_phrases(text: str, source: str = "human_label1.txt") -> list[tuple[str, int]]:
    """Phrase runs ``[(letter, bars), ...]`` of a structure line such as ``i4A4B8o3``."""
    line = text.strip()
    runs = _PHRASE_RUN.findall(line)
    if not line or "".join(f"{a}{b}" for a, b in runs) != line:
        raise LabelParseError(f"{source}: expected runs like 'i4A8B8', got {line!r}")
    if any(int(bars) == 0 for _, bars in runs):
        raise LabelParseError(f"{source}: a phrase of 0 bars in {line!r}")
    return [(letter, int(bars)) for letter, bars in runs]


def tempo_bucket(bpm: float) -> int:
    """Tempo bucket 0..3 of a BPM value, clipped into 30..149 as in [S24]."""
    return int((min(max(int(bpm), 30), 149) - 30) // 30)


def place_runs(values, lengths, start: int, n_steps: int, fill: int) -> np.ndarray:
    """Label array ``[T]``: ``values[i]`` repeated ``lengths[i]`` steps from step ``start``; steps
    before, after or beyond ``T = n_steps`` get ``fill`` (a negative start drops early steps)."""
    runs = np.repeat(np.asarray(values, dtype=np.int64), np.asarray(lengths, dtype=np.int64))
    out = np.full(n_steps, fill, dtype=np.int64)
    lo, hi = max(start, 0), min(start + len(runs), n_steps)
    if hi > lo:
        out[lo:hi] = runs[lo - start : hi - start]
    return out


def segment_labels(bounds: npt.ArrayLike, letters: npt.ArrayLike, n_steps: int
                   ) -> dict[str, np.ndarray]:
    """``phrase``, ``phrase_index``, ``phrase_pos`` ``[T]`` of contiguous segments.

    ``bounds [S+1]`` are segment start steps (the last is the end, clipped to T); ``letters [S]``
    are phrase-letter ids. Steps before the first or after the last segment become unlabelled
    ('x') segments of their own.
    """
    bounds, letters = list(np.asarray(bounds)), list(np.asarray(letters))
    if bounds[0] > 0:
        bounds, letters = [0, *bounds], [PAD_PHRASE, *letters]
    if bounds[-1] < n_steps:
        bounds, letters = [*bounds, n_steps], [*letters, PAD_PHRASE]
    b = np.clip(np.asarray(bounds, dtype=np.int64), 0, n_steps)
    lengths = np.diff(b)
    keep = lengths > 0
    starts, lengths, letters = b[:-1][keep], lengths[keep], np.asarray(letters)[keep]
    index = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(n_steps) - np.repeat(starts, lengths)
    return {"phrase": np.repeat(letters, lengths), "phrase_index": index, "phrase_pos": pos}


def phrase_labels(
    phrases: list[tuple[str, int]], start: int, n_steps: int
) -> dict[str, np.ndarray]:
    """Segment labels ``[T]`` of phrase runs in 4/4 bars (64 steps) starting at step ``start``."""
    bars = np.array([n for _, n in phrases], dtype=np.int64)
    bounds = start + BAR_STEPS * np.concatenate([[0], np.cumsum(bars)])
    letters = np.array([PHRASE_LETTERS.index(letter) for letter, _ in phrases])
    return segment_labels(bounds, letters, n_steps)


def bar_labels(downbeat: int, n_steps: int) -> dict[str, np.ndarray]:
    """``bar`` and ``beat`` ``[T]`` for 4/4 bars whose bar lines fall on ``downbeat + 64 k``."""
    u = np.arange(n_steps) - downbeat
    lead = -(-downbeat // BAR_STEPS) if downbeat > 0 else 0
    return {"bar": u // BAR_STEPS + lead, "beat": (u // STEPS_PER_QUARTER) % 4}


def complete_labels(
    base: Mapping[str, np.ndarray], vocab: ChordVocabulary, key: int, tempo: int
) -> dict[str, np.ndarray]:
    """All ``LABELS`` ``[T]`` int64 from the stored ones plus the piece's key and tempo bucket.

    Adds ``chroma`` (from the chord id), ``key_chord`` (``vocab.normalise``), ``key``, ``tempo``.
    """
    labels = {name: np.asarray(arr, dtype=np.int64) for name, arr in base.items()}
    n = len(labels["chord"])
    labels["chroma"] = vocab.chroma(labels["chord"]).astype(np.int64)
    labels["key"] = np.full(n, key, dtype=np.int64)
    labels["key_chord"] = vocab.normalise(labels["chord"], key).astype(np.int64)
    labels["tempo"] = np.full(n, tempo, dtype=np.int64)
    return labels


def transpose_labels(
    labels: Mapping[str, np.ndarray], shift: int, vocab: ChordVocabulary
) -> dict[str, np.ndarray]:
    """Labels ``[T]`` of the piece moved by ``shift`` semitones.

    Chord ids, roots, chromas, the key's tonic and melody pitches move; rests stay 0 and the
    key-normalised chord is recomputed, hence unchanged.
    """
    out = dict(labels)
    out["chord"] = vocab.transpose(labels["chord"], shift)
    out["root"] = transpose_pitch_class(labels["root"], shift)
    if "chroma" in labels:
        out["chroma"] = rotate_chroma(labels["chroma"], shift)
    if "melody" in labels:
        mel = np.asarray(labels["melody"])
        out["melody"] = np.where(mel > 0, np.clip(mel + shift, 1, 127), 0)
    if "key" in labels:
        key = np.asarray(labels["key"])
        out["key"] = (key % 12 + shift) % 12 + 12 * (key // 12)
        out["key_chord"] = vocab.normalise(out["chord"], out["key"])
    return out


# --- contexts ----------------------------------------------------------------------------------
ContextFn = Callable[..., np.ndarray]
CONTEXTS: dict[str, ContextFn] = {}
CONTEXT_DIMS: dict[str, int] = {}  # L of each context (a PE's position_dim)


def register_context(name: str, dim: int = 1) -> Callable[[ContextFn], ContextFn]:
    """Decorator adding a context ``fn(labels, **options) -> [T, L]`` (``L = dim``) to
    ``CONTEXTS`` and ``CONTEXT_DIMS``."""

    def add(fn: ContextFn) -> ContextFn:
        CONTEXTS[name], CONTEXT_DIMS[name] = fn, dim
        return fn

    return add


def structure_positions(labels: Mapping[str, np.ndarray], context: str, **options) -> np.ndarray:
    """Structure positions ``[T, L]`` float32 of labels ``[T]`` for a context of ``CONTEXTS``.

    ``time`` (L=1), ``rep`` (L=1; option ``rep_order='first'|'sorted'``), ``rep_sorted`` (``rep``
    with ``rep_order='sorted'``: a context name for configs), ``key`` (L=1), ``bin``
    (L=12), ``melody``, ``chord``, ``phrase`` (L=1 each) and ``fs`` (melody, chord, phrase; L=3).
    """
    if context not in CONTEXTS:
        raise ValueError(f"unknown context {context!r}; choose from {sorted(CONTEXTS)}")
    return CONTEXTS[context](labels, **options).astype(np.float32)


def _column(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)[:, None]


@register_context("time")
def _time(labels: Mapping[str, np.ndarray]) -> np.ndarray:
    return _column(np.arange(len(labels["chord"])))


@register_context("rep")
def _rep(labels: Mapping[str, np.ndarray], rep_order: str = "first") -> np.ndarray:
    """Each distinct chord numbered 0, 1, ... within the sample, by first appearance or by id."""
    return _column(renumber(labels["chord"], rep_order))


@register_context("rep_sorted")
def _rep_sorted(labels: Mapping[str, np.ndarray]) -> np.ndarray:
    """REP read as chord identity: the sample's distinct chords numbered by increasing chord id
    (the reading [ST]'s Table I supports, results/st_table1/); ``rep`` numbers them by first
    appearance."""
    return _rep(labels, rep_order="sorted")


@register_context("key")
def _key(labels: Mapping[str, np.ndarray]) -> np.ndarray:
    return _column(labels["key_chord"])


@register_context("bin", dim=12)
def _bin(labels: Mapping[str, np.ndarray]) -> np.ndarray:
    return chroma_to_bits(labels["chroma"]).astype(np.float32)


@register_context("melody")
def _melody(labels: Mapping[str, np.ndarray]) -> np.ndarray:
    return _column(labels["melody"])


@register_context("chord")
def _chord(labels: Mapping[str, np.ndarray]) -> np.ndarray:
    return _column(labels["chord"])


@register_context("phrase")
def _phrase(labels: Mapping[str, np.ndarray]) -> np.ndarray:
    return _column(labels["phrase"])


@register_context("fs", dim=3)
def _fs(labels: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([_melody(labels), _chord(labels), _phrase(labels)], axis=1)


def renumber(values: np.ndarray, order: str = "first") -> np.ndarray:
    """Values ``[T]`` replaced by 0, 1, ... per distinct value: ``order='first'`` numbers them by
    first appearance, ``'sorted'`` by increasing value."""
    values = np.asarray(values)
    uniq, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    if order == "sorted":
        return inverse.reshape(values.shape)
    if order != "first":
        raise ValueError(f"rep_order must be 'first' or 'sorted', not {order!r}")
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(uniq))
    return rank[inverse].reshape(values.shape)


# --- one piece ---------------------------------------------------------------------------------
STORED_LABELS = ("chord", "root", "melody", "phrase", "phrase_index", "phrase_pos", "bar", "beat")


@dataclass
class Song:
    """One piece on the grid of 16 steps per quarter, as stored in the cache.

    ``notes [N, 4]`` int32 rows ``(track, start, duration, pitch)`` (track = index into the
    corpus's track names); ``labels``: the ``STORED_LABELS`` as int arrays ``[T]``; the rest of
    ``LABELS`` follows from ``key`` and ``tempo`` (:func:`complete_labels`). ``downbeat`` is the
    step of a bar line (POP909: bar 0 of the structure labels), ``group`` the tune (chorales) or
    song id, ``info`` per-piece numbers such as the alignment agreement.
    """

    name: str
    number: int
    notes: np.ndarray
    labels: dict[str, np.ndarray]
    key: int
    tempo: int
    downbeat: int
    group: int
    info: dict[str, float] = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        """T, the number of grid steps."""
        return len(self.labels["chord"])


def map_pieces(
    fn: Callable, items: list, workers: int = 1, progress: bool = False, desc: str = ""
) -> list:
    """``[fn(x) for x in items]``, in ``workers`` processes when > 1, with a tqdm bar if asked."""
    from tqdm.auto import tqdm

    bar: dict[str, Any] = dict(total=len(items), desc=desc, disable=not progress, unit="piece")
    if workers <= 1:
        return [fn(x) for x in tqdm(items, **bar)]
    import multiprocessing as mp

    # fork (POSIX): no __main__ guard needed in scripts; the workers only parse files
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers) as pool:
        return list(tqdm(pool.imap(fn, items, chunksize=4), **bar))


# --- input features ----------------------------------------------------------------------------
#: Size of each structure feature that a harmonizer may read *as input* besides its PE.
FEATURE_DIMS = {"chroma": 12, "root": 12, "meter": 8}


def _beat_phase(beat: np.ndarray) -> np.ndarray:
    """Sixteenth within the beat, 0..3, ``[T]``, from the run boundaries of the ``beat`` label
    (a window that starts mid-beat gets its phase from the first beat change)."""
    n = len(beat)
    change = np.flatnonzero(np.diff(beat) != 0)
    first = (STEPS_PER_QUARTER - (change[0] + 1)) % STEPS_PER_QUARTER if len(change) else 0
    return ((np.arange(n) + first) % STEPS_PER_QUARTER) // (STEPS_PER_QUARTER // 4)


def check_features(names) -> int:
    """Refuse unknown feature names (with the valid ones); returns F, the total width."""
    unknown = [n for n in names if n not in FEATURE_DIMS]
    if unknown:
        raise ValueError(f"unknown input features {unknown}; choose from {list(FEATURE_DIMS)}")
    return sum(FEATURE_DIMS[n] for n in names)


def structure_features(labels: Mapping[str, np.ndarray], names) -> np.ndarray:
    """Structure labels as input features ``[T, F]`` float32 (``F = sum(FEATURE_DIMS[n])``).

    ``chroma``: the chord's 12 pitch-class bits; ``root``: one-hot root pitch class (all zero
    without a chord); ``meter``: one-hot beat in the bar (4) and sixteenth in the beat (4).
    The papers feed structure to the PE only; these features are our departure for models that
    should also *know* the chord and the beat (docs/harmonization.md).
    """
    check_features(names)
    n, cols = len(labels["chord"]), []
    for name in names:
        if name == "chroma":
            cols.append(chroma_to_bits(np.asarray(labels["chroma"])))
        elif name == "root":
            root = np.asarray(labels["root"])
            cols.append((root[:, None] == np.arange(1, 13)[None]).astype(np.float32))
        else:
            beat = np.asarray(labels["beat"]) % 4
            phase = _beat_phase(beat)
            cols.append(np.concatenate([np.eye(4)[beat], np.eye(4)[phase]], axis=1))
    if not cols:
        return np.zeros((n, 0), np.float32)
    return np.concatenate(cols, axis=1).astype(np.float32)
