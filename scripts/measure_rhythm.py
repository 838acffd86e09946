"""Rhythm figures of the original piano and of the rule baseline on POP909 test windows.

    python scripts/measure_rhythm.py [--bars 16] [--songs N] [--tolerance 1] [--out FILE.json]

Windows: the non-overlapping test windows of ``--bars`` bars (as ``evaluation_sets`` builds them,
uncapped), of the first ``--songs`` test songs (default: all). The original is the piano slot of
the targets with its onset roll from the corpus notes (repeated notes kept apart); the rule is
the piano slot of :func:`~stripes.evaluation.harmonization.baselines.rule_harmonization` (each
strike already starts a run of the frame roll). Prints the mean ± std of every figure, the means
over songs (mean of the per-song means), the rule compared with the original, and writes the
whole result as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from stripes.evaluation.harmonization.baselines import rule_harmonization
from stripes.evaluation.harmonization.layout import POP909_LAYOUT
from stripes.evaluation.harmonization.rhythm import (
    RHYTHM_EXTRAS,
    RHYTHM_FIGURES,
    compare_rhythm,
    rhythm_figures,
    summarize_rhythm,
)
from stripes.evaluation.harmonization.rolls import PITCHES, chords_of, select_slots
from stripes.music.datasets import Corpus
from stripes.music.pianoroll import notes_to_onsets
from stripes.music.windows import WindowDataset
from stripes.tasks.harmonization.data import prepared_corpus

PIANO = POP909_LAYOUT.accompaniment  # (2,): the slot the harmonizer invents


def slot_onsets(corpus: Corpus, song: int, start: int, length: int, slot: int) -> np.ndarray:
    """Onset roll ``[T, 128]`` of the target slot ``slot`` (union of its tracks) in a window."""
    notes = corpus.notes(song)
    tracks = corpus.slots["targets"][slot]
    rolls = [notes_to_onsets(notes[notes[:, 0] == t, 1:], length, start) for t in tracks]
    return np.logical_or.reduce(rolls)


def window_figures(ds: WindowDataset, n: int, tolerance: int) -> tuple[int, dict, dict]:
    """``(song, original figures, rule figures)`` of window ``n`` of ``ds``."""
    song, start, length = (int(x) for x in ds.index[n])
    item = ds.item(song, start, length)
    targets, inputs = item["targets"].numpy(), item["inputs"].numpy()
    onsets = np.concatenate([slot_onsets(ds.corpus, song, start, length, k) for k in PIANO], 1)
    root, chroma = chords_of(item["labels"])
    rule = rule_harmonization(inputs, root, chroma, layout=POP909_LAYOUT)
    return (song, rhythm_figures(select_slots(targets, PIANO), onsets, tolerance=tolerance),
            rhythm_figures(select_slots(rule, PIANO), tolerance=tolerance))


def song_means(songs: list[int], figures: list[dict]) -> dict[str, float]:
    """Mean over songs of the per-song mean of every figure."""
    by_song = {s: [f for t, f in zip(songs, figures, strict=True) if t == s] for s in set(songs)}
    return {k: float(np.mean([np.mean([f[k] for f in fs]) for fs in by_song.values()]))
            for k in RHYTHM_FIGURES + RHYTHM_EXTRAS}


def measure(bars: int, n_songs: int | None, tolerance: int = 1) -> dict:
    """Figures of the original and the rule on the test windows (module docstring)."""
    corpus = prepared_corpus("pop909")
    ds = WindowDataset(corpus, "test", bars=bars, hop_bars=bars)
    keep = corpus.songs_in("test")[:n_songs]
    ds.index = ds.index[np.isin(ds.index[:, 0], keep)]
    rows = [window_figures(ds, n, tolerance) for n in range(len(ds))]
    songs = [r[0] for r in rows]
    out = {"bars": bars, "tolerance": tolerance, "songs": sorted(set(songs)),
           "n_windows": len(rows)}
    for i, name in ((1, "original"), (2, "rule")):
        figs = [r[i] for r in rows]
        out[name] = {"summary": summarize_rhythm(figs), "song_means": song_means(songs, figs)}
    out["rule_vs_original"] = compare_rhythm(out["rule"]["summary"], out["original"]["summary"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--songs", type=int, default=None)
    parser.add_argument("--tolerance", type=int, default=1, help="steps from a beat still on it")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    res = measure(args.bars, args.songs, args.tolerance)
    print(f"{res['n_windows']} test windows of {args.bars} bars, {len(res['songs'])} songs, "
          f"tolerance {args.tolerance} steps, piano slot ({PITCHES} pitches)")
    print(f"{'figure':20s} {'original':>16s} {'(song means)':>12s} {'rule':>16s}")
    for k in RHYTHM_FIGURES + RHYTHM_EXTRAS:
        o, r = res["original"]["summary"][k], res["rule"]["summary"][k]
        print(f"{k:20s} {o['mean']:8.2f} ± {o['std']:5.2f} "
              f"{res['original']['song_means'][k]:12.2f} {r['mean']:8.2f} ± {r['std']:5.2f}")
    print("rule fails:", ", ".join(res["rule_vs_original"]["failed"]) or "nothing")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1, allow_nan=False))


if __name__ == "__main__":
    main()
