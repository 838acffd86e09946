"""Chord labels: parsing, 12-bit chroma, the chord vocabulary (``chord_db``) and key normalisation.

A chord is the 13-dim vector of ``chord_db.npz``: ``[bass + 1 (0 = no chord), 12 binary pitch
classes]``. POP909's ``finalized_chord.txt`` lists ``label [tones] bass duration``, and the
released ``chord_db`` was built from the ``bass`` column (which is the root only for chords in root
position), so ids use the bass; the *root* label is read from the chord name. A chroma is the
12-bit integer ``sum(2**pc)`` of the pitch classes (0 = no chord).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from stripes.music.errors import LabelParseError

_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_CHORD_LINE = re.compile(r"^(?P<label>[^\[]*)\[(?P<tones>[^\]]*)\](?P<rest>.*)$")
_KEY = re.compile(r"^(?P<tonic>[A-G][#b]*):(?P<mode>maj|min)$")
_ROOT = re.compile(r"^[A-G][#b]*")  # the note name a chord label starts with: its root
#: Triads (intervals above the root) that name a root, most telling first: a major or minor
#: triad, then a diminished and an augmented one.
_TRIADS = ((0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8))
FULL_CHROMA = 0xFFF


@dataclass(frozen=True)
class ChordLabel:
    """One line of ``finalized_chord.txt``; pitch classes 0..11, -1 for no chord."""

    name: str
    root: int
    bass: int
    chroma: int
    beats: int


def parse_pitch_class(name: str) -> int:
    """Pitch class 0..11 of a note name such as ``C``, ``F#``, ``Bb``, ``Cb`` (``ValueError``)."""
    if not name or name[0] not in _STEPS or set(name[1:]) - {"#", "b"}:
        raise ValueError(f"not a note name: {name!r}")
    return (_STEPS[name[0]] + name.count("#") - name.count("b")) % 12


def tones_to_chroma(tones) -> int:
    """12-bit chroma of an iterable of pitch classes (or MIDI pitches, taken mod 12)."""
    chroma = 0
    for pc in tones:
        chroma |= 1 << (int(pc) % 12)
    return chroma


def chroma_to_bits(chroma: np.ndarray) -> np.ndarray:
    """Binary chroma ``[..., 12]`` uint8 (pitch class k in column k) of chromas ``[...]``."""
    chroma = np.asarray(chroma, dtype=np.int64)
    return ((chroma[..., None] >> np.arange(12)) & 1).astype(np.uint8)


def rotate_chroma(chroma: np.ndarray, shift: int) -> np.ndarray:
    """12-bit chromas ``[...]`` transposed by ``shift`` semitones (a rotation of the bits)."""
    chroma = np.asarray(chroma, dtype=np.int64)
    s = shift % 12
    return ((chroma << s) | (chroma >> (12 - s))) & FULL_CHROMA


def transpose_pitch_class(pc: np.ndarray, shift: int, none: int = 0, base: int = 1) -> np.ndarray:
    """Pitch-class labels ``[...]`` stored as ``pc + base`` (``none``: absent), moved."""
    pc = np.asarray(pc, dtype=np.int64)
    moved = (pc - base + shift) % 12 + base
    return np.where(pc == none, none, moved)


def parse_chord_line(line: str, source: str = "finalized_chord.txt") -> ChordLabel:
    """Parse ``label [pc, pc, ...] bass duration_in_beats``.

    ``N`` lines (no chord) keep only their last integer, the duration, whatever else they hold;
    integers after the duration of a chord line are ignored (as in [S24]).
    Raises :class:`LabelParseError` (message names ``source``) on any other deviation.
    """
    match = _CHORD_LINE.match(line.strip())
    if match is None:
        raise LabelParseError(f"{source}: no '[tones]' in chord line {line.strip()!r}")
    name = match["label"].strip()
    try:
        rest = [int(x) for x in match["rest"].split()]
        tones = [int(x) for x in match["tones"].replace(",", " ").split()]
    except ValueError as err:
        raise LabelParseError(f"{source}: bad number in chord line {line.strip()!r}") from err
    if name == "N":
        if not rest or rest[-1] <= 0:
            raise LabelParseError(f"{source}: no duration in chord line {line.strip()!r}")
        return ChordLabel("N", -1, -1, 0, rest[-1])
    # song 803 has two lines 'Ab:maj [0, 3, 8] 8 4 2': like [S24], bass and beats come first
    if len(rest) < 2 or rest[1] <= 0 or not tones or not all(0 <= t < 12 for t in tones + rest[:1]):
        raise LabelParseError(
            f"{source}: expected 'label [tones] bass beats', got {line.strip()!r}"
        )
    try:
        root = label_root(name)
    except ValueError as err:
        raise LabelParseError(f"{source}: bad chord name {name!r}") from err
    return ChordLabel(name, root, rest[0], tones_to_chroma(tones), rest[1])


def label_root(name: str) -> int:
    """Root pitch class 0..11 of a chord label: the note name it starts with, whatever follows
    (``C:maj/3`` and ``C/E``: C, whose bass is E; ``Am7/G`` and ``A:min7/b7``: A). The part
    after a slash is the bass, never the root. ``ValueError`` for a label without a note name."""
    match = _ROOT.match(name.strip())
    if match is None:
        raise ValueError(f"chord label {name!r} does not start with a note name (C, F#, Bb, ...)")
    return parse_pitch_class(match[0])


def chord_root(chroma: int, bass: int) -> int:
    """Root pitch class 0..11 of a chord known only by its tones (12-bit ``chroma``) and its
    ``bass`` pitch class, as when it is read from a MIDI track of block chords.

    The bass when a triad of :data:`_TRIADS` stands on it (``C E G A`` over C: C6); else the
    first pitch class carrying a major or minor triad with a seventh (``A C E G`` over G: A, an
    Am7/G), then one with a major or minor triad (``C E G`` over E: C), then a diminished or
    augmented triad; else the bass (``C F G``: C).
    """
    def has(root: int, intervals: tuple[int, ...]) -> bool:
        return all(chroma >> ((root + i) % 12) & 1 for i in intervals)

    def triad(root: int, triads: tuple[tuple[int, ...], ...]) -> bool:
        return any(has(root, t) for t in triads)

    if triad(bass, _TRIADS):
        return bass
    tests = (lambda pc: triad(pc, _TRIADS[:2]) and (has(pc, (10,)) or has(pc, (11,))),
             lambda pc: triad(pc, _TRIADS[:2]), lambda pc: triad(pc, _TRIADS[2:]))
    for test in tests:
        found = [pc for pc in range(12) if test(pc)]
        if found:
            return found[0]
    return bass


def parse_key(text: str, source: str = "analyzed_key.txt") -> int:
    """Key id ``tonic + 12 * minor`` (0..23) of a key label such as ``Gb:maj`` or ``C#:min``."""
    match = _KEY.match(text.strip())
    if match is None:
        raise LabelParseError(f"{source}: not a key label (expected like 'Gb:maj'): {text!r}")
    return parse_pitch_class(match["tonic"]) + 12 * (match["mode"] == "min")


def chord_keys(bass1: npt.ArrayLike, chroma: npt.ArrayLike) -> np.ndarray:
    """One integer per chord ``bass1 * 4096 + chroma`` (bass1 = bass + 1, 0 = no chord)."""
    return np.asarray(bass1, dtype=np.int64) * 4096 + np.asarray(chroma, dtype=np.int64)


class ChordVocabulary:
    """Chord ids: row i of ``table [V, 13]`` (``[bass+1, 12 binary pitch classes]``) has id i.

    Closed under transposition, so ``transpose`` and ``normalise`` never leave the vocabulary;
    rows of the table it was built from keep their ids (POP909: ids < 395 are ``chord_db`` rows).
    """

    def __init__(self, table: np.ndarray):
        table = np.asarray(table, dtype=np.int64).reshape(-1, 13)
        keys = chord_keys(table[:, 0], (table[:, 1:] << np.arange(12)).sum(axis=1))
        if len(np.unique(keys)) != len(keys):
            raise ValueError("chord table has duplicate rows")
        missing = np.setdiff1d(_transposed_keys(keys), keys)
        self.keys = np.concatenate([keys, np.sort(missing)])
        self._order = np.argsort(self.keys)
        self.table = np.concatenate(
            [self.keys[:, None] // 4096, chroma_to_bits(self.keys % 4096)], 1
        )
        self.table = self.table.astype(np.int8)
        self.shift_table = self.ids_of_keys(_transposed_keys(self.keys, flat=False))  # [V, 12]

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_chord_db(cls, path: str | Path) -> ChordVocabulary:
        """The vocabulary of ``chord_db.npz`` (array ``chord_db`` [395, 13]), closed."""
        with np.load(path) as data:
            return cls(np.rint(data["chord_db"]).astype(np.int64))

    @classmethod
    def from_chords(cls, bass1: np.ndarray, chroma: np.ndarray) -> ChordVocabulary:
        """A vocabulary of the distinct chords given (no chord first, then sorted by key)."""
        keys = np.union1d([0], chord_keys(bass1, chroma))
        return cls(np.concatenate([keys[:, None] // 4096, chroma_to_bits(keys % 4096)], 1))

    def ids_of_keys(self, keys: np.ndarray) -> np.ndarray:
        """Ids ``[...]`` of chord keys ``[...]``; a chord outside the vocabulary raises KeyError."""
        keys = np.asarray(keys, dtype=np.int64)
        pos = np.searchsorted(self.keys, keys, sorter=self._order)
        ids = self._order[np.clip(pos, 0, len(self.keys) - 1)]
        if np.any(self.keys[ids] != keys):
            bad = keys[self.keys[ids] != keys].ravel()[0]
            raise KeyError(
                f"chord (bass+1={bad // 4096}, chroma={bad % 4096:#05x}) not in vocabulary"
            )
        return ids

    def ids(self, bass1: npt.ArrayLike, chroma: npt.ArrayLike) -> np.ndarray:
        """Ids ``[...]`` of chords given as bass+1 ``[...]`` and 12-bit chroma ``[...]``."""
        return self.ids_of_keys(chord_keys(bass1, chroma))

    def chroma(self, ids: np.ndarray) -> np.ndarray:
        """12-bit chromas ``[...]`` of chord ids ``[...]``."""
        return self.keys[np.asarray(ids)] % 4096

    def bass1(self, ids: np.ndarray) -> np.ndarray:
        """``bass + 1`` (0 = no chord) ``[...]`` of chord ids ``[...]``."""
        return self.keys[np.asarray(ids)] // 4096

    def transpose(self, ids: np.ndarray, shift: int) -> np.ndarray:
        """Ids ``[...]`` of the chords moved by ``shift`` semitones."""
        return self.shift_table[np.asarray(ids), shift % 12]

    def normalise(self, ids: np.ndarray, key: int | np.ndarray) -> np.ndarray:
        """Key-normalised ids ``[...]``: chords moved so the key's tonic becomes C (C major or
        C minor; the mode does not change the move), the KEY context of [ST]."""
        ids = np.asarray(ids)
        tonic = np.asarray(key) % 12
        return self.shift_table[ids, (-tonic) % 12]

    def describe(self, chord_id: int) -> str:
        """Readable name such as ``E/C#{C# E G#}`` (bass, then pitch classes) or ``N``."""
        names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
        bass1, chroma = divmod(int(self.keys[chord_id]), 4096)
        if bass1 == 0:
            return "N"
        tones = " ".join(names[k] for k in range(12) if chroma >> k & 1)
        return f"{names[bass1 - 1]}{{{tones}}}"


def _transposed_keys(keys: np.ndarray, flat: bool = True) -> np.ndarray:
    """Keys of every chord moved by 0..11 semitones: ``[V, 12]`` (or flattened ``[V * 12]``)."""
    keys = np.asarray(keys, dtype=np.int64)
    bass1 = keys[:, None] // 4096
    bass1 = np.where(bass1 == 0, 0, (bass1 - 1 + np.arange(12)) % 12 + 1)
    chroma = np.stack([rotate_chroma(keys % 4096, s) for s in range(12)], axis=1)
    out = chord_keys(bass1, chroma)
    return out.ravel() if flat else out
