"""An arrangement as a musician receives it: MIDI, a WAV to listen to, and a readable piano roll.

``write_arrangement(pred, names, out)`` writes ``out.mid`` (one track per slot, the song's tempo),
``out.wav`` (FluidSynth with a General MIDI soundfont where installed, else the built-in
synthesizer: ``music.audio``) and ``out.png`` (tracks in colours, numbered bars, chord symbols;
optionally the original arrangement below it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stripes.analysis.arrangement_plot import chord_symbols, plot_arrangement
from stripes.music.audio import render_wav, wav_stats
from stripes.music.midi_io import write_midi
from stripes.music.pianoroll import N_PITCHES, pianoroll_to_score

#: General MIDI programs per task: POP909 (flute melody, clarinet bridge, piano) and the
#: chorales (church organ for every voice).
GM_PROGRAMS = {"pop909": [73, 71, 0], "chorales": [19, 19, 19]}
#: The track names an arrangement's MIDI and plot show, per task.
TRACK_TITLES = {"pop909": ("Melody", "Bridge", "Piano"),
                "chorales": ("Soprano", "Alto+Tenor", "Bass")}


def split_slots(roll: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``[T, n*128]`` -> ``{name: [T, 128] bool}``, skipping silent slots."""
    roll = np.asarray(roll) > 0.5
    out = {name: roll[:, k * N_PITCHES:(k + 1) * N_PITCHES] for k, name in enumerate(names)}
    return {k: v for k, v in out.items() if v.any()}


def write_arrangement(pred: np.ndarray, names: Sequence[str], out: str | Path, *,
                      root: np.ndarray | None = None, chroma: np.ndarray | None = None,
                      qpm: float = 120.0, programs: Sequence[int] | None = None,
                      reference: np.ndarray | None = None, title: str | None = None,
                      renderer: str = "auto") -> dict:
    """Write ``out`` with suffixes ``.mid``, ``.wav`` and ``.png``.

    pred, reference: binary ``[T, n*128]`` (``n = len(names)``); root, chroma: ``[T]`` chord
    labels (root pitch class + 1, 12-bit chroma) for the chord symbols. Returns the paths, the
    renderer used and the WAV's ``wav_stats`` (duration, loudness, silent share).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    score = pianoroll_to_score(np.asarray(pred, bool), list(names), programs)
    score.tempos[0].qpm = float(qpm)
    midi = write_midi(score, out.with_suffix(".mid"))
    audio = render_wav(score, out.with_suffix(".wav"), programs=list(programs or []) or None,
                       renderer=renderer)
    chords = chord_symbols(root, chroma) if root is not None and chroma is not None else None
    png = plot_arrangement(split_slots(pred, names), out.with_suffix(".png"), chords=chords,
                           title=title,
                           reference=None if reference is None else split_slots(reference, names),
                           panel_titles=("stripes arrangement", "original"))
    return {"midi": str(midi), "wav": str(audio["path"]), "png": str(png),
            "renderer": audio["renderer"], "wav_stats": wav_stats(audio["path"])}
