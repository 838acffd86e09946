"""Floors and a rule-based harmonization baseline, scored by the same evaluator (docs/math.md §6).

Without floors a score cannot say whether a model learned anything. On the same windows as a
model, :func:`score_baselines` scores

- ``"empty"``: a silent prediction ``[T, n*128]``;
- ``"copy"``: the input slots copied into their target slots, the accompaniment silent (what a
  model gets for free by copying its input);
- ``"rule"``: :func:`rule_harmonization`, the given chord labels played as block chords in the
  accompaniment's register: the root in the bass, the chord tones above, struck on every beat and
  every chord change, held until the step before the next strike;
- ``"readout"``: the label read-out floor, what a decoder gets by only reading the labels: the
  root in the bass register, the label's other chord tones in the inner register, struck at each
  label change only (:data:`READOUT`), held until the step before the next one. Where the labels
  are the sounding pitch classes of the accompaniment, this floor copies the answer; with
  functional beat-level labels it plays the harmony without the voices' rhythm.

A learned model is judged against ``"rule"`` and ``"readout"``. Chord labels per step come from
the corpus labels (``Corpus.labels`` / ``WindowDataset`` items): ``root`` = pitch class + 1
(0 = no chord) and ``chroma`` = the 12-bit chroma (bit k = pitch class k; 0 = no chord); see
:func:`~.rolls.chords_of`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stripes.evaluation.harmonization.layout import POP909_LAYOUT, TrackLayout
from stripes.evaluation.harmonization.rolls import PITCHES, chord_bits, chords_of
from stripes.evaluation.harmonization.scoring import evaluate_windows
from stripes.music.midi_io import STEPS_PER_QUARTER

BEAT = STEPS_PER_QUARTER  # the rule strikes on every quarter note
#: Default register: bass root in [40, 52) (E2..D#3), chord tones in [53, 65) (F3..E4), the
#: middle of the POP909 piano track (its 5-95% pitch range is about 44-67) and of the chorales'
#: lower voices.
VOICING = {"bass_low": 40, "chord_low": 53, "beat": BEAT, "phase": 0, "root_in_chords": True}
#: The read-out floor's voicing, over :data:`VOICING`: no beat strikes, the root in the bass only.
READOUT = {"beat": None, "root_in_chords": False}
BASELINES = ("empty", "copy", "rule", "readout")


def window_arrays(items: Sequence[Mapping]) -> tuple[list, list, list, list]:
    """``(inputs, targets, roots, chromas)`` numpy lists of windows given as dicts with
    ``inputs [T, m*128]``, ``targets [T, n*128]`` and ``labels`` (``WindowDataset`` items;
    numpy arrays or CPU tensors), ready for :func:`score_baselines`."""
    inputs = [np.asarray(it["inputs"]) for it in items]
    targets = [np.asarray(it["targets"]) for it in items]
    chords = [chords_of(it["labels"]) for it in items]
    return inputs, targets, [r for r, _ in chords], [c for _, c in chords]


def strike_steps(root_pc: np.ndarray, bits: np.ndarray, beat: int | None = BEAT,
                 phase: int = 0) -> np.ndarray:
    """Steps ``[K]`` where the block chord is struck: step 0, every beat (``(t - phase) % beat
    == 0``; none when ``beat`` is None) and every chord change. root_pc ``[T]``, bits
    ``[T, 12]``."""
    t = np.arange(len(root_pc))
    change = np.zeros(len(root_pc), dtype=bool)
    change[1:] = (root_pc[1:] != root_pc[:-1]) | (bits[1:] != bits[:-1]).any(axis=1)
    on_beat = (t - phase) % beat == 0 if beat else np.zeros(len(t), dtype=bool)
    return np.flatnonzero((t == 0) | on_beat | change)


def pitch_in_octave(pc: np.ndarray, low: int) -> np.ndarray:
    """MIDI pitch of pitch classes ``pc`` in the octave ``[low, low + 12)``."""
    return low + (np.asarray(pc) - low) % 12


def block_chords(root, chroma, *, bass_low: int = 40, chord_low: int = 53,
                 beat: int | None = BEAT, phase: int = 0,
                 root_in_chords: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The rule harmonizer's two voices, bool ``(bass [T, 128], chords [T, 128])``.

    At every strike (:func:`strike_steps`) of a step with a chord, the bass plays the root in
    ``[bass_low, bass_low + 12)`` and the chords play every chord tone (without the root when
    ``root_in_chords`` is False) in ``[chord_low, chord_low + 12)``; notes are held up to the
    step before the next strike (so each strike is an onset in a binary roll; a one-step segment
    keeps its step). root, chroma: as in :func:`~.rolls.chord_bits`.
    """
    root_pc, bits = chord_bits(root, chroma)
    n = len(root_pc)
    bass, chords = (np.zeros((n, PITCHES), dtype=bool) for _ in range(2))
    starts = strike_steps(root_pc, bits, beat, phase)
    ends = np.append(starts[1:], n)
    for s, e in zip(starts, ends, strict=True):
        if root_pc[s] < 0:
            continue
        stop = e - 1 if e - s >= 2 else e
        bass[s:stop, pitch_in_octave(root_pc[s], bass_low)] = True
        tones = np.flatnonzero(bits[s])
        tones = tones if root_in_chords else tones[tones != root_pc[s]]
        chords[s:stop, pitch_in_octave(tones, chord_low)] = True
    return bass, chords


def copy_prediction(inputs, layout: TrackLayout = POP909_LAYOUT) -> np.ndarray:
    """The input slots copied into their target slots, the rest silent.

    inputs: ``[T, m*128]`` (slot k of the input is slot k of the target for k in
    ``layout.copied``). Returns bool ``[T, n*128]``, ``n = layout.n_slots``."""
    x = np.asarray(inputs) > 0.5
    out = np.zeros((x.shape[0], layout.n_slots * PITCHES), dtype=bool)
    for k in layout.copied:
        out[:, k * PITCHES:(k + 1) * PITCHES] = x[:, k * PITCHES:(k + 1) * PITCHES]
    return out


def empty_prediction(n_steps: int, layout: TrackLayout = POP909_LAYOUT) -> np.ndarray:
    """A silent prediction, bool ``[T, n*128]``."""
    return np.zeros((n_steps, layout.n_slots * PITCHES), dtype=bool)


def rule_harmonization(inputs, root, chroma, *, layout: TrackLayout = POP909_LAYOUT,
                       voicing: Mapping | None = None) -> np.ndarray:
    """The rule baseline: :func:`copy_prediction` plus :func:`block_chords` in
    ``layout.bass_slot`` (root) and ``layout.chord_slot`` (chord tones).

    inputs: ``[T, m*128]``; root, chroma: per-step chords ``[T]`` (see :func:`~.rolls.chord_bits`);
    voicing: keyword arguments of :func:`block_chords` (default :data:`VOICING`).
    Returns bool ``[T, n*128]`` (POP909: ``[T, 384]``, melody | bridge copied, piano invented).
    """
    out = copy_prediction(inputs, layout)
    bass, chords = block_chords(root, chroma, **{**VOICING, **(voicing or {})})
    for slot, roll in ((layout.bass_slot, bass), (layout.chord_slot, chords)):
        out[:, slot * PITCHES:(slot + 1) * PITCHES] |= roll
    return out


def baseline_predictions(inputs: Sequence, roots: Sequence, chromas: Sequence, *,
                         layout: TrackLayout = POP909_LAYOUT,
                         voicing: Mapping | None = None) -> dict[str, list[np.ndarray]]:
    """``{"empty", "copy", "rule", "readout"}`` (:data:`BASELINES`): one prediction
    ``[T_i, n*128]`` per window; ``readout`` is the rule with :data:`READOUT` over ``voicing``.

    inputs: ``[T_i, m*128]`` per window; roots, chromas: ``[T_i]`` per window."""
    readout = {**(voicing or {}), **READOUT}
    return {
        "empty": [empty_prediction(len(x), layout) for x in inputs],
        "copy": [copy_prediction(x, layout) for x in inputs],
        "rule": [rule_harmonization(x, r, c, layout=layout, voicing=voicing)
                 for x, r, c in zip(inputs, roots, chromas, strict=True)],
        "readout": [rule_harmonization(x, r, c, layout=layout, voicing=readout)
                    for x, r, c in zip(inputs, roots, chromas, strict=True)],
    }


def score_baselines(inputs: Sequence, targets: Sequence, roots: Sequence, chromas: Sequence, *,
                    flavour: str = "reference", layout: TrackLayout = POP909_LAYOUT,
                    voicing: Mapping | None = None, per_window: bool = False) -> dict:
    """Floors, the rule baseline and the read-out floor on the windows a model is scored on.

    inputs ``[T_i, m*128]``, targets ``[T_i, n*128]``, roots and chromas ``[T_i]`` per window.
    Returns ``{"flavour", "n", "rows": {"empty" | "copy" | "rule" | "readout": summary}}``, each
    summary in the format of :func:`~.scoring.summarize_windows` (the model's format), plus
    ``"per_window"`` rows when asked.
    """
    preds = baseline_predictions(inputs, roots, chromas, layout=layout, voicing=voicing)
    out: dict[str, Any] = {"flavour": flavour, "n": len(targets), "rows": {}}
    for name, p in preds.items():
        scored = evaluate_windows(p, targets, flavour=flavour, layout=layout)
        out["rows"][name] = scored["summary"]
        if per_window:
            out.setdefault("per_window", {})[name] = scored["per_window"]
    return out
