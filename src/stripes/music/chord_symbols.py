"""Chords typed as a musician writes them on a lead sheet: ``C G Am F``, ``| C G | Am F |``.

:func:`parse_progression` reads a line of chord symbols (root, quality, optional ``/bass``) into
the :class:`~stripes.music.chords.ChordLabel` rows of POP909's ``finalized_chord.txt``, and
:func:`chord_file_text` writes them in that format, so typed chords reach the arranger through
the same reader as a chords file. The bars are 4/4 (the only meter the tasks take).

Durations: without bar lines every symbol fills one bar; between bar lines ``|`` the symbols of
a bar share its four beats equally (1, 2 or 4 of them); ``Am*2`` gives a symbol two beats
anywhere. ``N`` (or ``NC``) is a bar, or the given beats, of no chord.
"""

from __future__ import annotations

import re

from stripes.music.chords import ChordLabel, parse_pitch_class, tones_to_chroma
from stripes.music.errors import LabelParseError

BEATS_PER_BAR = 4
#: Symbol suffix -> (POP909 quality name, intervals above the root in semitones).
QUALITIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "": ("maj", (0, 4, 7)), "maj": ("maj", (0, 4, 7)), "M": ("maj", (0, 4, 7)),
    "m": ("min", (0, 3, 7)), "min": ("min", (0, 3, 7)), "-": ("min", (0, 3, 7)),
    "7": ("7", (0, 4, 7, 10)), "maj7": ("maj7", (0, 4, 7, 11)), "M7": ("maj7", (0, 4, 7, 11)),
    "m7": ("min7", (0, 3, 7, 10)), "min7": ("min7", (0, 3, 7, 10)), "-7": ("min7", (0, 3, 7, 10)),
    "dim": ("dim", (0, 3, 6)), "o": ("dim", (0, 3, 6)), "dim7": ("dim7", (0, 3, 6, 9)),
    "o7": ("dim7", (0, 3, 6, 9)), "m7b5": ("hdim7", (0, 3, 6, 10)),
    "aug": ("aug", (0, 4, 8)), "+": ("aug", (0, 4, 8)),
    "sus4": ("sus4", (0, 5, 7)), "sus": ("sus4", (0, 5, 7)), "sus2": ("sus2", (0, 2, 7)),
    "7sus4": ("sus4(b7)", (0, 5, 7, 10)), "6": ("maj6", (0, 4, 7, 9)),
    "m6": ("min6", (0, 3, 7, 9)), "9": ("9", (0, 2, 4, 7, 10)), "add9": ("maj(9)", (0, 2, 4, 7)),
}
NO_CHORD = ("N", "NC", "N.C.")
_SYMBOL = re.compile(r"^(?P<root>[A-G][#b]?)(?P<quality>[^/*]*)(?:/(?P<bass>[A-G][#b]?))?"
                     r"(?:\*(?P<beats>\d+))?$")
_NO_CHORD = re.compile(r"^(?P<name>N|NC|N\.C\.)(?:\*(?P<beats>\d+))?$")


def parse_symbol(token: str) -> tuple[ChordLabel, int | None]:
    """One symbol such as ``Am``, ``G7/B``, ``Fmaj7*2`` or ``N`` -> ``(chord with beats 0, the
    beats it was given or None)``. Raises :class:`LabelParseError` naming the symbol."""
    none = _NO_CHORD.match(token)
    if none:
        return ChordLabel("N", -1, -1, 0, 0), _beats(none["beats"], token)
    match = _SYMBOL.match(token)
    if match is None or match["quality"] not in QUALITIES:
        known = " ".join(f"C{q}" for q in QUALITIES if q)
        raise LabelParseError(f"not a chord symbol: {token!r} (write a root A-G, # or b, then "
                              f"a quality such as {known}; /E for a bass; *2 for two beats)")
    root = parse_pitch_class(match["root"])
    quality, intervals = QUALITIES[match["quality"]]
    bass = parse_pitch_class(match["bass"]) if match["bass"] else root
    tones = [(root + i) % 12 for i in intervals]
    label = f"{match['root']}:{quality}" + (f"/{match['bass']}" if match["bass"] else "")
    return ChordLabel(label, root, bass, tones_to_chroma([*tones, bass]), 0), _beats(
        match["beats"], token)


def parse_progression(text: str) -> list[ChordLabel]:
    """Chord rows (with their beats) of a typed progression; see the module docstring for the
    three ways to give durations. Raises :class:`LabelParseError` with the bar it is about."""
    text = " ".join(text.split())
    if not text:
        raise LabelParseError("no chords typed (e.g. 'C G Am F', one symbol per bar)")
    if "|" not in text:
        out = []
        for token in text.split():
            chord, beats = parse_symbol(token)
            out.append(_with_beats(chord, BEATS_PER_BAR if beats is None else beats))
        return out
    bars = [bar.split() for bar in text.split("|")]
    bars = [bar for bar in bars if bar]  # the outer bar lines are optional
    return [chord for number, bar in enumerate(bars, 1) for chord in _bar(bar, number)]


def chord_file_text(chords: list[ChordLabel]) -> str:
    """The rows in ``finalized_chord.txt`` format (``label [tones] bass beats`` per line), as
    :func:`stripes.music.chords.parse_chord_line` reads them."""
    lines = []
    for chord in chords:
        tones = ", ".join(str(pc) for pc in range(12) if chord.chroma >> pc & 1)
        bass = "" if chord.bass < 0 else f" {chord.bass}"
        lines.append(f"{chord.name} [{tones}]{bass} {chord.beats}")
    return "\n".join(lines) + "\n"


def _bar(tokens: list[str], number: int) -> list[ChordLabel]:
    """The chords of one bar between bar lines: given beats kept, the rest share what is left."""
    parsed = [parse_symbol(token) for token in tokens]
    given = sum(b for _, b in parsed if b is not None)
    free = [chord for chord, b in parsed if b is None]
    left = BEATS_PER_BAR - given
    if left < 0 or (free and (left == 0 or left % len(free))) or (not free and left):
        raise LabelParseError(
            f"bar {number} ({' '.join(tokens)!r}) does not fill its {BEATS_PER_BAR} beats: give "
            "1, 2 or 4 chords, or beats such as 'C*2 F G'")
    share = left // len(free) if free else 0
    return [_with_beats(chord, share if b is None else b) for chord, b in parsed]


def _beats(text: str | None, token: str) -> int | None:
    if text is None:
        return None
    if int(text) <= 0:
        raise LabelParseError(f"{token!r}: a chord lasts at least one beat")
    return int(text)


def _with_beats(chord: ChordLabel, beats: int) -> ChordLabel:
    return ChordLabel(chord.name, chord.root, chord.bass, chord.chroma, beats)
