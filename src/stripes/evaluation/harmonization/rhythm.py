"""Rhythm figures of an arrangement: how often, where and how long its notes sound.

The similarity metrics (:mod:`.scoring`) and the sanity check (:mod:`.sanity`) cannot tell a
block-chord pad struck on every beat from a pianist's broken chords. These figures can; each is
read off one pianoroll ``[T, P]`` on the grid of 16 steps per quarter (one beat = one quarter, a
4/4 bar = 64 steps), step 0 on a bar line (windows start on one, :meth:`Corpus.windows`). The
``P = k * 128`` columns of ``k`` stacked slots are one texture: a note is a run of one column.

- ``onsets_per_bar``: note onsets per bar (a chord of three notes is three onsets);
- ``offbeat_share``: share of onsets farther than ``tolerance`` steps from every beat;
- ``mean_note_beats``, ``longest_note_beats``: the mean and longest note, in beats (notes
  are cut at the ends of the roll);
- ``notes_at_once``: mean number of sounding notes over the steps where at least one sounds;
- ``pattern_share``: share of the bars with onsets whose onset pattern (the steps of the bar
  where any onset falls) is the commonest one; two patterns are equal when every onset of each
  has an onset of the other within ``tolerance`` steps.

A frame roll merges repeated notes of one pitch; the onset roll (same shape,
:func:`~stripes.music.pianoroll.notes_to_onsets`) splits them. A silent roll has every figure
0.0 (the report stays strict JSON: no NaN) and ``n_notes`` 0, which says why. Also returned:
``median_note_beats`` (:data:`RHYTHM_EXTRAS`).

:func:`compare_rhythm` sets a model's figures against the original's: the ratio per figure and
the targets of :data:`RHYTHM_TARGETS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stripes.evaluation.harmonization.scoring import aggregate
from stripes.music.midi_io import STEPS_PER_QUARTER
from stripes.music.pianoroll import N_PITCHES, pianoroll_to_notes

#: The figures, in table order; :func:`compare_rhythm` checks each.
RHYTHM_FIGURES = ("onsets_per_bar", "offbeat_share", "mean_note_beats", "longest_note_beats",
                  "notes_at_once", "pattern_share")
#: Also returned, to read the figures by: the median note (robust to a few held notes, which
#: pull the mean up) and the count of notes (0: a silent roll, every figure 0.0).
RHYTHM_EXTRAS = ("median_note_beats", "n_notes")
#: One short header text per figure, with its unit.
RHYTHM_TEXTS = {
    "onsets_per_bar": "note onsets per bar (count)",
    "offbeat_share": "onsets off the beat (share [0, 1])",
    "mean_note_beats": "mean note length (beats)",
    "longest_note_beats": "longest note (beats)",
    "notes_at_once": "notes sounding at once, where any sounds (count)",
    "pattern_share": "bars with the commonest onset pattern (share [0, 1])",
    "median_note_beats": "median note length (beats)",
    "n_notes": "notes in the roll (count)",
}
#: What a generated accompaniment must reach besides staying near the original
#: (:func:`compare_rhythm`): broken figures rather than a pad struck on the beat, notes no
#: longer than a beat on average, at most four at once, none held over two 4/4 bars.
RHYTHM_TARGETS = {"offbeat_share_min": 0.30, "mean_note_beats_max": 1.0,
                  "notes_at_once_max": 4.0, "longest_note_beats_max": 8.0,
                  "ratio_tolerance": 0.25}


def check_rolls(frames, onsets) -> tuple[np.ndarray, np.ndarray | None]:
    """Bool ``(frames [T, P], onsets [T, P] or None)``; cells are on when > 0.5 (bool, 0/1 and
    probabilities work); ``ValueError`` naming the fix for a bad shape."""
    on = np.asarray(frames) > 0.5
    if on.ndim != 2 or on.shape[0] == 0 or on.shape[1] % N_PITCHES:
        raise ValueError(f"expected a pianoroll [T >= 1, k*{N_PITCHES}], got shape {on.shape}")
    if onsets is None:
        return on, None
    starts = np.asarray(onsets) > 0.5
    if starts.shape != on.shape:
        raise ValueError(f"onsets {starts.shape} must have the shape of frames {on.shape}")
    return on, starts


def beat_distance(steps: np.ndarray, steps_per_beat: int) -> np.ndarray:
    """Steps ``[N]`` -> distance ``[N]`` in steps to the nearest beat (multiple of the beat)."""
    phase = steps % steps_per_beat
    return np.minimum(phase, steps_per_beat - phase)


def bar_patterns(starts: np.ndarray, n_steps: int, bar: int) -> np.ndarray:
    """Onset pattern of every bar, bool ``[n_bars, bar]``: True at the steps of the bar where
    any onset falls. starts: onset steps ``[N]``; a last partial bar is padded with silence."""
    n_bars = -(-n_steps // bar)
    patterns = np.zeros((n_bars, bar), dtype=bool)
    patterns[starts // bar, starts % bar] = True
    return patterns


def dilate(patterns: np.ndarray, tolerance: int) -> np.ndarray:
    """Patterns ``[B, S]`` with every onset widened to ``±tolerance`` steps (within the bar)."""
    out = patterns.copy()
    for shift in range(1, tolerance + 1):
        out[:, shift:] |= patterns[:, :-shift]
        out[:, :-shift] |= patterns[:, shift:]
    return out


def commonest_pattern_share(patterns: np.ndarray, tolerance: int) -> float:
    """Share of the bars with onsets whose pattern equals the commonest one, up to ``tolerance``.

    patterns: bool ``[B, S]`` (:func:`bar_patterns`). Patterns a and b are equal when a lies in
    b widened by ``tolerance`` and b in a widened (every onset has a partner within tolerance);
    the commonest pattern is the bar equal to the most bars. 0.0 when no bar has onsets.
    """
    busy = patterns[patterns.any(axis=1)]
    if not len(busy):
        return 0.0
    wide = dilate(busy, tolerance).astype(np.int64)
    outside = busy.astype(np.int64) @ (1 - wide).T       # [B, B]: onsets of a outside b's reach
    equal = (outside == 0) & (outside.T == 0)
    return float(equal.sum(axis=1).max() / len(busy))


def rhythm_figures(frames, onsets=None, *, steps_per_beat: int = STEPS_PER_QUARTER,
                   beats_per_bar: int = 4, tolerance: int = 1) -> dict[str, float]:
    """The rhythm figures (module docstring) of one roll.

    frames: ``[T, P]`` (P a multiple of 128; stacked slots read as one texture); onsets: the
    onset roll ``[T, P]`` that splits repeated notes (None: every run of a pitch is one note).
    Returns ``{figure: float}`` for every name of :data:`RHYTHM_FIGURES` and
    :data:`RHYTHM_EXTRAS` (``n_notes`` an int); all 0 when the roll is silent.
    """
    on, starts = check_rolls(frames, onsets)
    notes = pianoroll_to_notes(on, starts)              # [N, 3] (start, duration, column)
    bar = steps_per_beat * beats_per_bar
    n = len(notes)
    if n == 0:
        return {**dict.fromkeys(RHYTHM_FIGURES, 0.0), "median_note_beats": 0.0, "n_notes": 0}
    sounding = on.sum(axis=1)
    lengths = notes[:, 1] / steps_per_beat
    return {
        "onsets_per_bar": float(n * bar / len(on)),
        "offbeat_share": float((beat_distance(notes[:, 0], steps_per_beat) > tolerance).mean()),
        "mean_note_beats": float(lengths.mean()),
        "longest_note_beats": float(lengths.max()),
        "notes_at_once": float(sounding[sounding > 0].mean()),
        "pattern_share": commonest_pattern_share(bar_patterns(notes[:, 0], len(on), bar),
                                                 tolerance),
        "median_note_beats": float(np.median(lengths)),
        "n_notes": n,
    }


def summarize_rhythm(figures: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, sample std and count of every figure over windows: ``{figure: {"mean", "std",
    "n"}}`` (as :func:`~.scoring.aggregate`; silent windows count with their 0.0)."""
    return aggregate([dict(f) for f in figures])


def figure_value(figures: Mapping, name: str) -> float:
    """The value of figure ``name`` in a figures dict or in a summary (its ``"mean"``)."""
    value = figures[name]
    return float(value["mean"]) if isinstance(value, Mapping) else float(value)


def rhythm_nearness(model: Mapping, original: Mapping) -> float:
    """How near a model's rhythm figures are to the original's, in [0, 1]: the mean over
    :data:`RHYTHM_FIGURES` of ``max(0, 1 - |model / original - 1|)`` (a figure the original has
    as 0 counts 1 when the model's is 0 too, else 0). Figures or summaries, as
    :func:`compare_rhythm`."""
    near = []
    for name in RHYTHM_FIGURES:
        m, o = figure_value(model, name), figure_value(original, name)
        near.append(max(0.0, 1.0 - abs(m / o - 1.0)) if o else float(m == 0.0))
    return float(np.mean(near))


def compare_rhythm(model: Mapping, original: Mapping,
                   targets: Mapping[str, float] | None = None) -> dict:
    """A model's rhythm against the original's, and the targets it passes.

    model, original: figures (:func:`rhythm_figures`) or summaries (:func:`summarize_rhythm`:
    the means are compared). Returns ``{"ratio": {figure: model / original, None when the
    original is 0}, "checks": {check: bool}, "failed": [check], "pass": bool}``. Checks:
    ``"<figure>_near"`` for each figure (ratio within ``1 ± ratio_tolerance``) and the floors and
    ceilings of :data:`RHYTHM_TARGETS` (``targets`` overrides some).
    """
    th = {**RHYTHM_TARGETS, **(targets or {})}
    ratio: dict[str, float | None] = {}
    checks: dict[str, bool] = {}
    for name in RHYTHM_FIGURES:
        m, o = figure_value(model, name), figure_value(original, name)
        ratio[name] = m / o if o else None
        near = abs(m / o - 1.0) <= th["ratio_tolerance"] if o else m == 0.0
        checks[f"{name}_near"] = bool(near)
    checks["offbeat_share_min"] = figure_value(model, "offbeat_share") >= th["offbeat_share_min"]
    for name in ("mean_note_beats", "notes_at_once", "longest_note_beats"):
        checks[f"{name}_max"] = figure_value(model, name) <= th[f"{name}_max"]
    failed = [k for k, ok in checks.items() if not ok]
    return {"ratio": ratio, "checks": checks, "failed": failed, "pass": not failed}
