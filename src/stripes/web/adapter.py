"""The page's one call into the arranger: :func:`arrange_for_page`.

Everything the page needs from :mod:`stripes.arranger` goes through here, so that a change of the
arranger's API is rewired in one place. :data:`ARRANGER_TAKES` declares which of the page's
controls today's arranger accepts; a control it does not take is kept in the signature (and the
page says it has no effect yet) instead of being dropped from the form.
"""

from __future__ import annotations

from pathlib import Path

#: The page's controls that ``harmonize_song`` takes today. ``seed`` is the variation: an onset
#: harmonizer (both shipped ones) strikes another figure for each seed, and a stochastic PE
#: (SPE) draws another code; ``density`` moves an onset harmonizer's strikes. ``phrases`` are
#: not an arranger input: the shipped harmonizers read chords, not phrases (context ``bin``).
ARRANGER_TAKES = {"seed": True, "density": True, "phrases": False}


def arrange_for_page(midi: Path, out: Path, *, model: str, chords: Path | None = None,
                     chord_track: str | None = None, melody_track: str | None = None,
                     key: str = "C:maj", phrases: str | None = None, density: float = 1.0,
                     seed: int = 0) -> dict:
    """Arrange ``midi`` with ``model`` (a shipped name or a weights / run folder) over
    ``chords`` (a ``finalized_chord.txt``-style file) or the MIDI track ``chord_track``; write
    the MIDI at ``out`` with a WAV and a PNG beside it.

    phrases: phrase runs such as ``A8A8B8B8`` (checked by the page; not an arranger input, see
    :data:`ARRANGER_TAKES`); density: relative note density, 1 = the model's validated
    binarization; seed: the variation (0: the validated arrangement). Returns
    ``harmonize_song``'s dict (``midi``, ``wav``, ``png`` paths, ``warnings``, ``steps``,
    ``qpm``...).
    """
    from stripes.arranger.arrange import harmonize_song

    del phrases  # see ARRANGER_TAKES: not an arranger input in this build
    return harmonize_song(model, midi, out, chords=chords, chord_track=chord_track,
                          melody_track=melody_track, key=key, seed=seed, density=density)


def model_varies(model: str) -> bool:
    """Whether ``model``'s arrangement changes with the seed: an onset harmonizer (variations
    of its figure) or a stochastic PE (another code)."""
    from stripes.arranger.pretrained import load_any_harmonizer

    harmonizer, config, _, _ = load_any_harmonizer(model)
    return config.output == "onsets_frames" or any(pe.stochastic for pe in harmonizer.qk_pes)
