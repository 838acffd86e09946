"""Errors and warnings in a musician's words.

The arranger speaks to a command-line user (``--melody-track``, steps, ``bass+1``, chroma bits);
the page rewrites what it says into bars, chord symbols and the names of the page's own boxes.
A warning the page does not know is shown as the arranger wrote it, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stripes.analysis.arrangement_plot import chord_name
from stripes.music.errors import (
    EmptyMidiError,
    LabelParseError,
    MissingTrackError,
    UnreadableMidiError,
    UnsupportedMeterError,
)
from stripes.web.inputs import RequestError

#: Command-line words of the arranger's messages -> the page's boxes.
OPTION_NAMES = {"--melody-track": "the 'Melody track' box",
                "--chord-track": "the 'Chord track' box", "--chords": "a chords file",
                "--key": "the key"}
_GENERIC = ("Something went wrong on the server while arranging (a bug, not your file: the "
            "server's log has the details). Please try again, or with another file.")


def error_message(err: BaseException, names: dict[str, str]) -> str:
    """What the page says about ``err``; ``names`` maps the request's temporary paths to the
    names the person gave their files (no server path is shown)."""
    text = _plain(str(err), names)
    if isinstance(err, RequestError):
        return text
    if isinstance(err, UnreadableMidiError):
        return ("This file is not a MIDI file that can be read. Export the melody from your "
                "notation or recording program as a Standard MIDI File (.mid).")
    if isinstance(err, EmptyMidiError):
        return "The MIDI file has no notes."
    if isinstance(err, UnsupportedMeterError):
        meter = re.search(r"meter (\d+/\d+)", text)
        found = f"The song is in {meter[1]}" if meter else "The song's meter is not 4/4"
        return (f"{found}; the models arrange songs in 4/4 (common time) only. Rewrite it in 4/4 "
                "bars, or choose a melody in 4/4.")
    if isinstance(err, MissingTrackError):
        return f"The melody (or chord) track was not found: {text}."
    if isinstance(err, LabelParseError):
        return f"The chords or phrase labels could not be read: {text}."
    if isinstance(err, ValueError | OSError):
        return f"The arrangement could not be made: {text}."
    return _GENERIC


def warning_message(text: str) -> str:
    """One of the arranger's warnings, said in bars and chord symbols."""
    for pattern, say in _WARNINGS:
        match = pattern.search(text)
        if match:
            return say(match)
    return _plain(text, {})[:1].upper() + _plain(text, {})[1:]


def _coverage(m: re.Match) -> str:
    return (f"The chords stop at bar {m[1]}, but the melody goes on to bar {m[2]}: from bar "
            f"{m[1]} on the accompaniment plays with no chord. Type more chords, or tick "
            "'Repeat the chords'.")


def _unknown_chord(m: re.Match) -> str:
    name = chord_name(int(m[1]), int(m[2], 16))
    return (f"The chord {name} is not one this model learned; it is played as 'no chord'. Try a "
            "simpler chord (a triad or a seventh).")


def _drums(m: re.Match) -> str:
    return f"Track {m[1]} holds drums (MIDI channel 10); it was not taken for the melody."


def _zero(m: re.Match) -> str:
    return (f"{m[2]} notes of melody track {m[1]} have no length; the model does not hear them "
            "(they stay in the MIDI as written).")


def _polyphonic(m: re.Match) -> str:
    return (f"Melody track {m[1]} plays several notes at once in places; the model follows its "
            "top line (the track is kept in the MIDI as written).")


def _sanity(m: re.Match) -> str:
    return f"Listen before you use it: the arrangement failed an automatic check ({m[0]})."


_WARNINGS: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (re.compile(r"chords end at bar (\d+) but the melody runs to bar (\d+)"), _coverage),
    (re.compile(r"bass\+1=(\d+), chroma=(0x[0-9a-fA-F]+)\) is not in the model's vocab"),
     _unknown_chord),
    (re.compile(r"track ('[^']*') is a drum track"), _drums),
    (re.compile(r"melody track ('[^']*'): (\d+) zero-length notes"), _zero),
    (re.compile(r"melody track ('[^']*') is polyphonic"), _polyphonic),
    (re.compile(r"sanity.*", re.IGNORECASE), _sanity),
]


def _plain(text: str, names: dict[str, str]) -> str:
    """``text`` with the request's paths replaced by the user's file names and the command
    line's option names by the page's boxes."""
    for path, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(path, name)
    for option, box in OPTION_NAMES.items():
        text = re.sub(rf"{option}(?![\w-])( NAME| FILE)?", box, text)
    return " ".join(text.split()).rstrip(".")
