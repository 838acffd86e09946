"""What the page's form sends, checked before the arranger runs: the limits a public page keeps
(upload size, song length), the chords (a file, a MIDI track or typed symbols) and the phrase
labels. Every refusal is a :class:`RequestError` whose message a musician reads as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stripes.music.chord_symbols import BEATS_PER_BAR, chord_file_text, parse_progression
from stripes.music.chords import ChordLabel
from stripes.music.midi_io import BAR_STEPS, read_midi, resample_score
from stripes.music.structure import parse_phrases

#: Where the chords come from: typed symbols, an uploaded chords file, a track of the MIDI.
CHORD_SOURCES = ("typed", "file", "track")


class RequestError(ValueError):
    """A request the page refuses, with a message meant for the person who sent it."""


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server.

    max_upload_bytes: per uploaded file (the page's upload limit too); max_bars: the song's
    length in 4/4 bars (the arrangement time grows with it); max_text_chars: typed chords or
    phrase labels.
    """

    max_upload_bytes: int = 1_000_000
    max_bars: int = 128
    max_text_chars: int = 4000


@dataclass(frozen=True)
class ChordsInput:
    """The chords of a request: typed ``text`` (repeated to the melody's end when ``repeat``),
    an uploaded ``file``, or the MIDI ``track`` of that name."""

    source: str
    text: str = ""
    file: Path | None = None
    track: str = ""
    repeat: bool = True


def check_upload(path: Path | None, what: str, limits: Limits) -> Path:
    """The uploaded file, refused when missing or above ``limits.max_upload_bytes``."""
    if path is None or not Path(path).is_file():
        raise RequestError(f"Please give the {what}.")
    size = Path(path).stat().st_size
    if size > limits.max_upload_bytes:
        raise RequestError(f"The {what} is {size / 1e6:.1f} MB; this page takes files up to "
                           f"{limits.max_upload_bytes / 1e6:.1f} MB.")
    return Path(path)


def song_bars(midi: Path, limits: Limits) -> int:
    """Length of the song in 4/4 bars, refused above ``limits.max_bars``. An unreadable file
    raises the music package's own errors (the page words them)."""
    grid = resample_score(read_midi(midi, tpq=None))
    bars = -(-int(grid.end()) // BAR_STEPS)
    if bars > limits.max_bars:
        raise RequestError(f"The song is {bars} bars long; this page arranges up to "
                           f"{limits.max_bars} bars. Cut it into sections and arrange each.")
    return bars


def typed_chords(text: str, bars: int, repeat: bool, limits: Limits) -> list[ChordLabel]:
    """The typed progression's chords; with ``repeat``, played again until ``bars`` bars are
    covered (the last pass cut at the melody's end)."""
    if len(text) > limits.max_text_chars:
        raise RequestError(f"The chords are {len(text)} characters long; type at most "
                           f"{limits.max_text_chars}.")
    chords = parse_progression(text)
    if not repeat:
        return chords
    total = bars * BEATS_PER_BAR
    out, beats = [], 0
    while beats < total:  # every chord lasts at least one beat: this ends
        for chord in chords:
            take = min(chord.beats, total - beats)
            if take <= 0:
                break
            out.append(ChordLabel(chord.name, chord.root, chord.bass, chord.chroma, take))
            beats += take
    return out


def chords_for_arranger(chords: ChordsInput, bars: int, folder: Path,
                        limits: Limits) -> dict:
    """The arranger's chord arguments (``chords`` file or ``chord_track``) for a request; typed
    chords are written as a chords file in the request's ``folder``."""
    if chords.source == "typed":
        path = folder / "typed_chords.txt"
        path.write_text(chord_file_text(typed_chords(chords.text, bars, chords.repeat, limits)))
        return {"chords": path}
    if chords.source == "file":
        return {"chords": check_upload(chords.file, "chords file", limits)}
    if chords.source == "track":
        if not chords.track.strip():
            raise RequestError("Please name the MIDI track that holds the chords.")
        return {"chord_track": chords.track.strip()}
    raise RequestError(f"Choose where the chords come from: one of {', '.join(CHORD_SOURCES)}.")


def phrase_runs(text: str, bars: int, limits: Limits) -> tuple[str | None, list[str]]:
    """``(the phrase labels or None, warnings)``: runs such as ``A8A8B8B8`` checked against the
    song's ``bars``."""
    text = "".join(text.split())
    if not text:
        return None, []
    if len(text) > limits.max_text_chars:
        raise RequestError(f"The phrase labels are too long (at most {limits.max_text_chars}).")
    runs = parse_phrases(text, source="phrase labels")
    total = sum(n for _, n in runs)
    if total == bars:
        return text, []
    return text, [f"The phrase labels cover {total} bars but the song has {bars}."]
