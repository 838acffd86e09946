"""A piano roll a musician can read: an arrangement drawn as coloured note bars over named pitches,
with numbered bars and the chord symbols along the top, optionally above a reference panel.

Drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas (no ``pyplot`` state), like
:mod:`stripes.analysis.plots`. Pitches are MIDI numbers named with C4 = 60; time is in grid steps
(16 per quarter, 64 per 4/4 bar). Chords come as the corpus labels store them: ``root`` = root
pitch class + 1 (0 = no chord) and ``chroma`` = 12-bit mask (bit k = pitch class k).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import numpy as np

from stripes.extras import needs
from stripes.music.pianoroll import pianoroll_to_notes

with needs("music"):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# chord qualities by their intervals above the root (a frozenset of semitones 0..11)
QUALITIES = {
    frozenset({0, 4, 7}): "",
    frozenset({0, 3, 7}): "m",
    frozenset({0, 4, 7, 10}): "7",
    frozenset({0, 4, 7, 11}): "maj7",
    frozenset({0, 3, 7, 10}): "m7",
    frozenset({0, 3, 6}): "dim",
    frozenset({0, 4, 8}): "aug",
    frozenset({0, 5, 7}): "sus4",
    frozenset({0, 2, 7}): "sus2",
    frozenset({0, 5, 7, 10}): "7sus4",
    frozenset({0, 3, 6, 9}): "dim7",
    frozenset({0, 3, 6, 10}): "m7b5",
    frozenset({0, 4, 7, 9}): "6",
    frozenset({0, 3, 7, 9}): "m6",
}
# melody first in a strong red, then colours that stay apart for the colour-blind too
TRACK_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
BLACK_KEYS = frozenset({1, 3, 6, 8, 10})
MAX_WIDTH_IN = 30.0


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch: 60 -> ``C4``, 61 -> ``C#4``, 21 -> ``A0``."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def chord_name(root: int, chroma: int) -> str:
    """Symbol of one chord: ``root`` = pitch class + 1 (0 = ``N.C.``), ``chroma`` 12-bit mask.

    A chord whose tones fit a quality above ``root`` is named from it (``C``, ``Cm``, ``C7``,
    ``Cmaj7``, ``Cm7``, ``Cdim``, ``Caug``, ``Csus4``, ``Csus2``, ``C7sus4``, ``Cdim7``,
    ``Cm7b5``, ``C6``, ``Cm6``); one that fits a quality above another of its tones is an
    inversion over ``root`` (``C/E``: labels built from the bass column give the bass as root);
    anything else is the root and ``?``.
    """
    if root == 0 or chroma == 0:
        return "N.C."
    pcs = [k for k in range(12) if chroma >> k & 1]
    bass = (root - 1) % 12
    for r in [bass] + [pc for pc in pcs if pc != bass]:
        quality = QUALITIES.get(frozenset((pc - r) % 12 for pc in pcs))
        if quality is not None:
            name = PITCH_NAMES[r] + quality
            return name if r == bass else f"{name}/{PITCH_NAMES[bass]}"
    return PITCH_NAMES[bass] + "?"


def chord_symbols(root: np.ndarray, chroma: np.ndarray) -> list[tuple[int, int, str]]:
    """``(start_step, end_step, symbol)`` for each run of one chord in labels ``root [T]`` and
    ``chroma [T]`` (end exclusive; consecutive runs with the same symbol are joined)."""
    root = np.asarray(root, dtype=np.int64).reshape(-1)
    chroma = np.asarray(chroma, dtype=np.int64).reshape(-1)
    if root.shape != chroma.shape:
        raise ValueError(f"root {root.shape} and chroma {chroma.shape} differ in length")
    if root.size == 0:
        return []
    change = np.flatnonzero((root[1:] != root[:-1]) | (chroma[1:] != chroma[:-1])) + 1
    bounds = np.concatenate([[0], change, [root.size]])
    out: list[tuple[int, int, str]] = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        symbol = chord_name(int(root[start]), int(chroma[start]))
        if out and out[-1][2] == symbol:
            out[-1] = (out[-1][0], int(end), symbol)
        else:
            out.append((int(start), int(end), symbol))
    return out


def arrangement_figure(
    rolls: Mapping[str, np.ndarray],
    *,
    chords: list[tuple[int, int, str]] | None = None,
    steps_per_bar: int = 64,
    title: str | None = None,
    reference: Mapping[str, np.ndarray] | None = None,
    panel_titles: tuple[str, str] = ("arrangement", "reference"),
    onsets: Mapping[str, np.ndarray] | None = None,
) -> Figure:
    """The figure of :func:`plot_arrangement` (one ``PolyCollection`` of note bars per track,
    labelled with the track name), for callers that want to add to it or inspect it."""
    rolls = _check_rolls(rolls, "rolls")
    reference = _check_rolls(reference, "reference") if reference is not None else None
    panels = [rolls] + ([reference] if reference is not None else [])
    n_steps = max(r.shape[0] for p in panels for r in p.values())
    n_bars = max(1, -(-n_steps // steps_per_bar))
    onsets = onsets or {}
    notes = [{n: pianoroll_to_notes(r, onsets.get(n)) for n, r in p.items()} for p in panels]
    low, high = _pitch_range(notes)
    names = list(dict.fromkeys(n for p in panels for n in p))
    colours = {n: TRACK_COLOURS[i % len(TRACK_COLOURS)] for i, n in enumerate(names)}

    width = float(np.clip(1.5 + 0.9 * n_bars, 8.0, MAX_WIDTH_IN))
    panel_h = float(np.clip(0.1 * (high - low + 1), 2.6, 5.5))
    inch_per_step = (width - 1.2) / max(n_steps, 1)  # 1.2 in: the pitch labels and margins
    fontsize = 9.0 if inch_per_step * steps_per_bar > 0.6 else 7.5
    rows = _chord_rows(chords, inch_per_step, fontsize) if chords else []
    heights = ([0.08 + 0.2 * (max(rows) + 1)] if chords else []) + [panel_h] * len(panels)
    fig = Figure(figsize=(width, sum(heights) + 1.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights, squeeze=False)[:, 0]
    if chords:
        _draw_chords(axes[0], chords, rows, fontsize)
        axes = axes[1:]
    for ax, panel, label in zip(axes, notes, panel_titles, strict=False):
        _draw_keyboard(ax, low, high)
        for z, (name, track) in enumerate(panel.items()):
            _draw_notes(ax, track, colours[name], name, 10 - z, gap=0.03 / inch_per_step)
        _draw_bars(ax, n_steps, steps_per_bar, beats=n_bars <= 32)
        ax.set_ylabel(label if len(panels) > 1 else "pitch")
        ax.set_xlim(0, n_steps)
    _label_bars(axes[-1], n_bars, steps_per_bar)
    handles = [Patch(facecolor=colours[n], edgecolor="black", label=n) for n in names]
    fig.legend(handles=handles, loc="outside upper right", ncols=len(names), frameon=False)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=12)
    return fig


def plot_arrangement(
    rolls: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    chords: list[tuple[int, int, str]] | None = None,
    steps_per_bar: int = 64,
    title: str | None = None,
    reference: Mapping[str, np.ndarray] | None = None,
    panel_titles: tuple[str, str] = ("arrangement", "reference"),
    onsets: Mapping[str, np.ndarray] | None = None,
    dpi: int = 110,
) -> Path:
    """Write the arrangement as a PNG piano roll; returns the path.

    Args:
        rolls: track name -> binary pianoroll ``[T, 128]`` (frame roll; a run of active steps is
            one note), drawn as one colour per track, in order (the first on top).
        path: the PNG to write (parent folders are created).
        chords: ``(start_step, end_step, symbol)`` from :func:`chord_symbols`, written along the
            top at each change.
        steps_per_bar: bar lines and numbers every this many steps (64: 4/4 at 16 per quarter).
        reference: a second set of tracks (e.g. the original arrangement), in a panel below
            with the same time and pitch axes; a track name in both keeps its colour.
        onsets: track name -> onset roll ``[T, 128]``, splitting runs of ``rolls`` (and of
            ``reference`` tracks of that name) into repeated notes.

    The width grows with the number of bars (up to 30 inches), the pitch axis spans the notes'
    range +- 2 semitones.
    """
    fig = arrangement_figure(
        rolls,
        chords=chords,
        steps_per_bar=steps_per_bar,
        title=title,
        reference=reference,
        panel_titles=panel_titles,
        onsets=onsets,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi)
    return path


def _check_rolls(rolls: Mapping[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    if not rolls:
        raise ValueError(f"{what}: no tracks to draw")
    out = {}
    for name, roll in rolls.items():
        roll = np.asarray(roll, dtype=bool)
        if roll.ndim != 2 or roll.shape[1] != 128:
            raise ValueError(f"{what}[{name!r}]: a pianoroll is [T, 128], got {roll.shape}")
        out[name] = roll
    return out


def _pitch_range(notes: list[dict[str, np.ndarray]]) -> tuple[int, int]:
    """Lowest and highest pitch row shown: the notes' range +- 2 (C4..C5 when there are none)."""
    pitches = np.concatenate([t[:, 2] for p in notes for t in p.values()] + [np.zeros(0, int)])
    if pitches.size == 0:
        return 58, 74
    return max(0, int(pitches.min()) - 2), min(127, int(pitches.max()) + 2)


def _draw_keyboard(ax, low: int, high: int) -> None:
    """Shaded rows for the black keys, a line under every C, note names on the pitch axis."""
    for p in range(low, high + 1):
        if p % 12 in BLACK_KEYS:
            ax.axhspan(p - 0.5, p + 0.5, color="#eeeeee", zorder=0, linewidth=0)
        if p % 12 == 0:
            ax.axhline(p - 0.5, color="#bbbbbb", linewidth=0.6, zorder=1)
    span = high - low + 1
    # label every natural note when the rows are tall enough to hold them, else C, E and G
    shown = {0, 2, 4, 5, 7, 9, 11} if span <= 30 else {0, 4, 7} if span <= 48 else {0}
    ticks = [p for p in range(low, high + 1) if p % 12 in shown]
    ax.set_yticks(ticks, [note_name(p) for p in ticks], fontsize=8)
    ax.set_yticks(range(low, high + 1), minor=True)
    ax.tick_params(axis="y", which="minor", length=2)
    ax.set_ylim(low - 0.5, high + 0.5)


def _draw_notes(
    ax, notes: np.ndarray, colour: str, name: str, zorder: int, gap: float
) -> PolyCollection:
    """One bar per note ``[N, 3]`` (start, duration, pitch), as one collection; each bar ends
    ``gap`` steps early (at most a third of the note) so back-to-back repeats stay apart."""
    start, dur = notes[:, 0].astype(float), notes[:, 1].astype(float)
    end = start + dur - np.minimum(gap, dur / 3)
    lo, hi = notes[:, 2] - 0.4, notes[:, 2] + 0.4
    verts = np.stack(
        [np.stack([start, lo], 1), np.stack([end, lo], 1), np.stack([end, hi], 1),
         np.stack([start, hi], 1)], axis=1,
    )  # fmt: skip
    # matplotlib's stub lists a sequence; an [N, 4, 2] array is its documented fast path
    bars = PolyCollection(
        cast(Sequence[np.ndarray], verts), facecolors=colour, edgecolors="#222222", linewidths=0.4,
        label=name, zorder=zorder,
    )
    bars.set_gid(f"notes:{name}")
    ax.add_collection(bars)
    return bars


def _draw_bars(ax, n_steps: int, steps_per_bar: int, beats: bool) -> None:
    """Bar lines (and faint beat lines when there is room for them)."""
    for step in range(0, n_steps + 1, steps_per_bar):
        ax.axvline(step, color="#555555", linewidth=0.8, zorder=2)
    if beats and steps_per_bar % 4 == 0:
        for step in range(0, n_steps, steps_per_bar // 4):
            if step % steps_per_bar:
                ax.axvline(step, color="#cccccc", linewidth=0.5, linestyle=":", zorder=2)


def _label_bars(ax, n_bars: int, steps_per_bar: int) -> None:
    """Bar numbers (from 1) centred under each bar; every other bar when there are many."""
    every = 1 if n_bars <= 40 else 2
    bars = range(0, n_bars, every)
    ax.set_xticks([(b + 0.5) * steps_per_bar for b in bars], [str(b + 1) for b in bars])
    ax.tick_params(axis="x", length=0, labelsize=8)
    ax.set_xlabel("bar")


def _chord_rows(chords: list[tuple[int, int, str]], inch_per_step: float, fontsize: float):
    """Row 0..2 of each chord symbol: the first row where it does not run into the previous
    symbol (estimated text widths), else the row that frees up first."""
    char_in = 0.62 * fontsize / 72
    rows_end = [-np.inf] * 3
    rows = []
    for start, _end, symbol in chords:
        left = start * inch_per_step
        row = next((r for r, e in enumerate(rows_end) if e <= left), None)
        row = int(np.argmin(rows_end)) if row is None else row
        rows_end[row] = left + char_in * len(symbol) + 0.08
        rows.append(row)
    return rows


def _draw_chords(ax, chords: list[tuple[int, int, str]], rows: list[int], fontsize: float):
    """Chord symbols on a strip above the roll, each just after its chord's start line."""
    n_rows = max(rows) + 1
    ax.set_ylim(n_rows, 0)
    ax.set_yticks([])
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", length=0, labelbottom=False)
    for (start, _end, symbol), row in zip(chords, rows, strict=True):
        ax.plot([start, start], [row + 0.05, row + 0.95], color="#999999", linewidth=0.7)
        ax.annotate(
            symbol,
            (start, row + 0.5),
            xytext=(2, 0),
            textcoords="offset points",
            fontsize=fontsize,
            va="center",
            ha="left",
            fontweight="normal" if symbol == "N.C." else "bold",
            color="#888888" if symbol == "N.C." else "#222222",
        )
    ax.set_ylabel("chords", rotation=0, ha="right", va="center", fontsize=8)
