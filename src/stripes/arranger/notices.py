"""What ``stripes harmonize`` tells the user about an arrangement, in plain words.

Each function returns lines (strings, no ``warning:`` prefix) that the command prints on stderr and
that :class:`~stripes.arranger.arrange.Arrangement` keeps in its ``warnings`` for a page to show:
what the POP909 harmonizer hears instead of a bridge when the song has none, the failed rules of
the musical sanity check (``evaluation.harmonization.sanity``) said as a musician would, and the
notes the WAV cannot sound.
"""

from __future__ import annotations

from collections.abc import Mapping

from stripes.evaluation.harmonization.sanity import MAX_POLYPHONY

#: The harmonizers that read a bridge track as their second input (the others read an empty
#: second slot in training as well, so nothing is missing for them).
BRIDGE_INPUT = frozenset({"pop909"})


def no_bridge_notice(data: str) -> str | None:
    """The one line said when a harmonizer trained with a bridge input gets none."""
    if data not in BRIDGE_INPUT:
        return None
    return ("no bridge track (name one with --bridge-track NAME, or call a track 'Bridge'): the "
            "POP909 harmonizer, trained on melody + bridge, hears an empty bridge, so its piano "
            "answers the melody alone; the arrangement has no Bridge track")


def sanity_notices(result: Mapping, part: str) -> list[str]:
    """One line per failed rule of a ``sanity_check`` result; ``part`` names the invented
    tracks (``"the piano"``). Empty when the arrangement passes."""
    f, th = result["figures"], result["thresholds"]
    lines = []
    failed = set(result["failed"])
    silent = f["pitch_low"] is None
    if silent:  # one line says it all: the polyphony, chord-tone and range rules fail with it
        return [f"sanity check: {part} plays no notes at all"]
    if "polyphony" in failed:
        playable = (f"a playable accompaniment sounds 1-{MAX_POLYPHONY} notes at once on at "
                    f"least {th['polyphony_share_min']:.0%} of the steps")
        if f["silent_share"] >= 1 - th["polyphony_share_min"]:
            lines.append(f"sanity check: {part} is silent on {f['silent_share']:.0%} of the "
                         f"song ({playable})")
        else:
            dense = 1 - f["silent_share"] - f["polyphony_share"]
            lines.append(f"sanity check: {part} sounds more than {MAX_POLYPHONY} notes at once "
                         f"on {dense:.0%} of the song ({playable})")
    if "chord_tones" in failed:
        lines.append(f"sanity check: only {f['chord_tone_share']:.0%} of the notes {part} "
                     f"strikes are tones of the chord under them (at least "
                     f"{th['chord_tone_share_min']:.0%} expected): it will clash with your "
                     "chords")
    if "held_note" in failed:
        lines.append(f"sanity check: {part} holds one note for {f['longest_note_bars']:.1f} "
                     f"bars (at most {th['longest_note_bars_max']:g} expected): it will sound "
                     "stuck")
    if "range" in failed:
        lines.append(f"sanity check: {part} goes outside a piano's keys (MIDI pitches "
                     f"{f['pitch_low']}-{f['pitch_high']}; a piano has "
                     f"{th['pitch_low_min']}-{th['pitch_high_max']})")
    return lines


def render_notices(files: Mapping, sample_rate: int = 22050) -> list[str]:
    """A line when the WAV leaves notes out (built-in synthesizer, fundamental at or above the
    Nyquist frequency); ``files`` is what ``write_arrangement`` returns."""
    n = int(files.get("inaudible_notes", 0))
    if not n:
        return []
    return [f"{n} note{'s' if n > 1 else ''} too high to sound in the WAV (fundamental at or "
            f"above {sample_rate / 2:.0f} Hz, half its sample rate): silent in the WAV, kept in "
            "the MIDI"]
