"""Errors raised on bad music data: each one a ``ValueError`` with a message naming the file.

The CLI catches ``ValueError`` and prints one line, so every subclass below reaches the user as a
clear message instead of a traceback.
"""

from __future__ import annotations


class MusicDataError(ValueError):
    """Base class of every data error in :mod:`stripes.music`."""


class UnreadableMidiError(MusicDataError):
    """A MIDI file that symusic cannot parse (truncated, not MIDI at all)."""


class EmptyMidiError(MusicDataError):
    """A MIDI file (or a requested track) without a single note."""


class MissingTrackError(MusicDataError):
    """A score without a track (POP909) or part (chorales) that the task needs."""


class UnsupportedMeterError(MusicDataError):
    """A meter other than 4/4: the grid of every task is 64 steps (16 per quarter) per bar."""


class LabelParseError(MusicDataError):
    """A structure-label file with a line or token that does not follow its format."""


class AlignmentError(MusicDataError):
    """A POP909 song with no start position in ``startpos.csv`` (labels cannot be aligned)."""
