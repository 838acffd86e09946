"""The musician's piano roll: chord naming, note bars, the written PNG."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from stripes.analysis.arrangement_plot import (
    arrangement_figure,
    chord_name,
    chord_symbols,
    note_name,
    plot_arrangement,
)
from stripes.music.chords import tones_to_chroma
from stripes.music.pianoroll import notes_to_pianoroll

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("root", "tones", "symbol"),
    [
        (0, (0, 4, 7), "C"),
        (0, (0, 3, 7), "Cm"),
        (0, (0, 4, 7, 10), "C7"),
        (0, (0, 4, 7, 11), "Cmaj7"),
        (0, (0, 3, 7, 10), "Cm7"),
        (0, (0, 3, 6), "Cdim"),
        (0, (0, 4, 8), "Caug"),
        (0, (0, 5, 7), "Csus4"),
        (9, (9, 0, 4), "Am"),
        (7, (7, 11, 2, 5), "G7"),
        (10, (10, 2, 5), "Bb"),
        (6, (6, 10, 1), "F#"),
        (4, (0, 4, 7), "C/E"),  # labels built from the bass column: an inversion
        (0, (0, 1, 2), "C?"),
    ],
)
def test_chord_name_table(root, tones, symbol):
    assert chord_name(root + 1, tones_to_chroma(tones)) == symbol


def test_no_chord_is_named_nc():
    assert chord_name(0, 0) == "N.C."


def test_chord_symbols_mark_each_change_and_join_equal_neighbours():
    c, g7 = tones_to_chroma((0, 4, 7)), tones_to_chroma((7, 11, 2, 5))
    root = np.array([0] * 4 + [1] * 8 + [8] * 4 + [1] * 4)
    chroma = np.array([0] * 4 + [c] * 8 + [g7] * 4 + [c] * 4)
    assert chord_symbols(root, chroma) == [(0, 4, "N.C."), (4, 12, "C"), (12, 16, "G7"),
                                           (16, 20, "C")]  # fmt: skip
    assert chord_symbols(np.zeros(0), np.zeros(0)) == []


def test_note_names_use_c4_for_middle_c():
    assert [note_name(p) for p in (60, 61, 48, 21, 127)] == ["C4", "C#4", "C3", "A0", "G9"]


def _rolls(n_bars: int, seed: int = 0) -> tuple[dict, int]:
    rng = np.random.default_rng(seed)
    n = n_bars * 64
    melody = np.array([[s, 12, 60 + rng.integers(0, 14)] for s in range(0, n, 16)])
    bass = np.array([[s, 60, 36 + rng.integers(0, 12)] for s in range(0, n, 64)])
    rolls = {"melody": notes_to_pianoroll(melody, n) > 0, "bass": notes_to_pianoroll(bass, n) > 0}
    return rolls, len(melody) + len(bass)


def _note_bars(fig) -> dict[str, int]:
    """Track name -> number of note bars over all panels of a figure."""
    counts: dict[str, int] = {}
    for ax in fig.axes:
        for coll in ax.collections:
            if isinstance(coll, PolyCollection) and (coll.get_gid() or "").startswith("notes:"):
                name = coll.get_gid().removeprefix("notes:")
                counts[name] = counts.get(name, 0) + len(coll.get_paths())
    return counts


def test_one_bar_is_drawn_per_note():
    rolls, n_notes = _rolls(4)
    counts = _note_bars(arrangement_figure(rolls))
    assert counts == {"melody": 16, "bass": 4}
    assert sum(counts.values()) == n_notes


def test_reference_panel_shares_axes_and_keeps_track_colours():
    rolls, _ = _rolls(4)
    reference, _ = _rolls(4, seed=1)
    fig = arrangement_figure(rolls, reference=reference, chords=[(0, 256, "C")])
    top, bottom = fig.axes[1], fig.axes[2]
    assert top.get_xlim() == bottom.get_xlim() and top.get_ylim() == bottom.get_ylim()
    colours = [
        {c.get_gid(): tuple(c.get_facecolor()[0]) for c in ax.collections if c.get_gid()}
        for ax in (top, bottom)
    ]
    assert colours[0] == colours[1]
    assert _note_bars(fig) == {"melody": 32, "bass": 8}


def test_pitch_axis_is_cropped_to_the_notes_plus_two():
    roll = notes_to_pianoroll(np.array([[0, 64, 55], [64, 64, 72]]), 128) > 0
    ax = arrangement_figure({"piano": roll}).axes[0]
    assert ax.get_ylim() == (52.5, 74.5)


@pytest.mark.parametrize("n_bars", [16, 64])
def test_plot_arrangement_writes_a_png_whose_width_grows_with_bars_up_to_a_cap(tmp_path, n_bars):
    rolls, _ = _rolls(n_bars)
    c, am = tones_to_chroma((0, 4, 7)), tones_to_chroma((9, 0, 4))
    root = np.tile(np.repeat([1, 10], 64), n_bars // 2)
    chroma = np.tile(np.repeat([c, am], 64), n_bars // 2)
    path = plot_arrangement(
        rolls, tmp_path / f"a{n_bars}.png", chords=chord_symbols(root, chroma), title="test"
    )
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000
    width = int.from_bytes(data[16:20], "big") / 110  # IHDR width in pixels at dpi 110
    assert 8 <= width <= 30.5
    assert (width > 20) == (n_bars == 64)


def test_plot_arrangement_refuses_a_roll_of_the_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match=r"\[T, 128\]"):
        plot_arrangement({"melody": np.zeros((64, 88), bool)}, tmp_path / "x.png")


def test_onsets_split_repeated_notes_into_separate_bars():
    from stripes.music.pianoroll import notes_to_onsets

    notes = np.array([[0, 32, 60], [32, 32, 60]])
    roll, onsets = notes_to_pianoroll(notes, 64) > 0, notes_to_onsets(notes, 64) > 0
    assert _note_bars(arrangement_figure({"piano": roll})) == {"piano": 1}
    assert _note_bars(arrangement_figure({"piano": roll}, onsets={"piano": onsets})) == {"piano": 2}
