"""Musical sanity of a predicted arrangement: figures of its generated slots and a pass/fail rule.

Similarity scores can look plausible for an arrangement no musician would accept (one solid band
of every pitch from 59 to 67 held for a whole piece scored CS 4.8, NDD 68 in the paper flavour).
These figures look at the generated slots alone (``layout.accompaniment``), slots ORed:

- ``polyphony_share``: share of steps with 1 to 6 sounding pitches (``silent_share``: with none);
- ``chord_tone_share``: share of the generated onsets, on steps with a chord label, whose pitch
  class is a tone of that chord (None when there is no such onset);
- ``longest_note_bars``: the longest run of one pitch in one slot, in 4/4 bars (64 steps);
- ``pitch_low``, ``pitch_high``: the lowest and highest generated pitch (None when silent).

:data:`SANITY_THRESHOLDS` gives the rule; :func:`check_sanity` applies it, :func:`sanity_warning`
formats the one line that ``stripes evaluate`` and the demo print when it fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stripes.evaluation.harmonization.layout import POP909_LAYOUT, TrackLayout
from stripes.evaluation.harmonization.rolls import (
    BAR,
    chord_bits,
    longest_run,
    select_slots,
    slot_cells,
    slot_onsets,
)

MAX_POLYPHONY = 6
#: A sane accompaniment: 1-6 sounding pitches on at least half the steps, at least a quarter of
#: its onsets on chord tones, no note held longer than 4 bars, every pitch on a piano (21-108).
#: On 202 POP909 test windows of 16 bars the real piano track has polyphony shares >= 0.62,
#: chord-tone shares >= 0.31 and notes <= 1 bar, so it passes; the rule baseline passes; the solid
#: band 59-67 held for the whole piece fails polyphony and held note.
SANITY_THRESHOLDS = {"polyphony_share_min": 0.5, "chord_tone_share_min": 0.25,
                     "longest_note_bars_max": 4.0, "pitch_low_min": 21, "pitch_high_max": 108}


def sanity_figures(pred, root, chroma, *, layout: TrackLayout = POP909_LAYOUT) -> dict:
    """Figures of the generated slots of one prediction.

    pred: ``[T, n*128]``; root, chroma: per-step chords ``[T]`` (see
    :func:`~.rolls.chord_bits`). Returns the dict of figures described in
    the module docstring, plus ``n_onsets``.
    """
    gen = select_slots(np.asarray(pred), layout.accompaniment)
    on = slot_cells(gen)                                 # [T, k, 128]
    sounding = on.any(axis=1)                            # [T, 128]
    count = sounding.sum(axis=1)
    root_pc, bits = chord_bits(root, chroma)
    steps, _, pitch = np.nonzero(slot_onsets(gen))
    with_chord = root_pc[steps] >= 0
    tones = bits[steps[with_chord], pitch[with_chord] % 12]
    heard = np.flatnonzero(sounding.any(axis=0))
    return {
        "polyphony_share": float(((count >= 1) & (count <= MAX_POLYPHONY)).mean()),
        "silent_share": float((count == 0).mean()),
        "chord_tone_share": float(tones.mean()) if len(tones) else None,
        "n_onsets": int(len(steps)),
        "longest_note_bars": max(longest_run(on[:, k]) for k in range(on.shape[1])) / BAR,
        "pitch_low": int(heard.min()) if len(heard) else None,
        "pitch_high": int(heard.max()) if len(heard) else None,
    }


def check_sanity(figures: Mapping, thresholds: Mapping | None = None) -> dict:
    """Apply the rule: ``{"pass": bool, "failed": [rule, ...], "reasons": [text, ...],
    "figures", "thresholds"}``; rules are ``"polyphony"``, ``"chord_tones"``, ``"held_note"``,
    ``"range"``.

    A missing figure (no onsets, silence) fails its rule: a silent accompaniment is not sane.
    """
    th = {**SANITY_THRESHOLDS, **(thresholds or {})}
    f = figures
    failed: dict[str, str] = {}
    if f["polyphony_share"] < th["polyphony_share_min"]:
        failed["polyphony"] = (f"1-{MAX_POLYPHONY} notes on {f['polyphony_share']:.0%} of "
                               f"steps (min {th['polyphony_share_min']:.0%})")
    cts = f["chord_tone_share"]
    if cts is None or cts < th["chord_tone_share_min"]:
        shown = "no onsets" if cts is None else f"{cts:.0%}"
        failed["chord_tones"] = (f"chord tones {shown} of onsets "
                                 f"(min {th['chord_tone_share_min']:.0%})")
    if f["longest_note_bars"] > th["longest_note_bars_max"]:
        failed["held_note"] = (f"a note held {f['longest_note_bars']:.1f} bars "
                               f"(max {th['longest_note_bars_max']:g})")
    lo, hi = f["pitch_low"], f["pitch_high"]
    if lo is None or lo < th["pitch_low_min"] or hi > th["pitch_high_max"]:
        failed["range"] = ("silent" if lo is None else f"pitches {lo}-{hi} outside "
                           f"{th['pitch_low_min']}-{th['pitch_high_max']}")
    return {"pass": not failed, "failed": list(failed), "reasons": list(failed.values()),
            "figures": dict(f), "thresholds": th}


def sanity_check(pred, root, chroma, *, layout: TrackLayout = POP909_LAYOUT,
                 thresholds: Mapping | None = None) -> dict:
    """:func:`check_sanity` of :func:`sanity_figures` for one prediction ``[T, n*128]``."""
    return check_sanity(sanity_figures(pred, root, chroma, layout=layout), thresholds)


def summarize_sanity(checks: Sequence[Mapping]) -> dict:
    """Over windows: ``{"n", "pass_share", "failed": {rule: count}, "mean": {figure: mean}}``
    (means skip missing figures)."""
    if not checks:
        raise ValueError("summarize_sanity needs at least one check")
    failed: dict[str, int] = {}
    for c in checks:
        for rule in c["failed"]:
            failed[rule] = failed.get(rule, 0) + 1
    names = [k for k in checks[0]["figures"]]
    mean = {}
    for k in names:
        vals = [c["figures"][k] for c in checks if c["figures"][k] is not None]
        mean[k] = float(np.mean(vals)) if vals else None
    return {"n": len(checks), "pass_share": float(np.mean([c["pass"] for c in checks])),
            "failed": failed, "mean": mean}


def sanity_warning(result: Mapping, label: str = "prediction") -> str | None:
    """One line for a failed :func:`check_sanity` (or :func:`summarize_sanity`) result, None when
    it passes."""
    if "pass_share" in result:
        if result["pass_share"] >= 1.0:
            return None
        rules = ", ".join(f"{k} x{v}" for k, v in sorted(result["failed"].items()))
        return (f"WARNING: {label} fails the musical sanity check on "
                f"{1 - result['pass_share']:.0%} of {result['n']} windows ({rules})")
    if result["pass"]:
        return None
    return f"WARNING: {label} fails the musical sanity check: " + "; ".join(result["reasons"])
