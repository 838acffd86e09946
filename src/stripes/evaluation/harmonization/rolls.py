"""The pianoroll grid that every harmonization score reads (docs/math.md §6).

A harmonization roll is ``[T, n * 128]``: ``T`` steps at 16 per quarter note (one 4/4 bar = 64
steps) and ``n`` stacked slots of 128 MIDI pitches (e.g. melody | bridge | piano); a cell is *on*
when its value is > 0.5, so bool, 0/1 and probabilities all work. The two metric flavours, the
floors and the sanity figures share the helpers here: the on cells and onsets of each slot, sums
over units of steps, the columns of some slots, and the chords of the corpus labels.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stripes.music.midi_io import BAR_STEPS, STEPS_PER_QUARTER
from stripes.music.pianoroll import N_PITCHES

PITCHES = N_PITCHES
HALF_BAR = 2 * STEPS_PER_QUARTER
SIXTEENTH = STEPS_PER_QUARTER // 4
BAR = BAR_STEPS


def slot_cells(roll) -> np.ndarray:
    """The on cells of each slot of a pianoroll.

    roll: ``[T, n*128]`` array-like (numpy, CPU tensor, nested lists). Returns bool ``[T, n, 128]``.
    """
    arr = np.asarray(roll)
    if arr.ndim != 2 or arr.shape[1] % PITCHES or 0 in arr.shape:
        raise ValueError(f"expected a pianoroll [T >= 1, n*{PITCHES}], got shape {arr.shape}")
    return (arr > 0.5).reshape(arr.shape[0], -1, PITCHES)


def slot_onsets(roll) -> np.ndarray:
    """Onsets per slot: roll ``[T, n*128]`` -> int ``[T, n, 128]`` (1 where a pitch turns on).

    A cell is an onset when it is on and the same pitch of the same slot was off one step before;
    step 0 has an implicit "off" before it.
    """
    on = slot_cells(roll)
    before = np.concatenate([np.zeros_like(on[:1]), on[:-1]], axis=0)
    return (on & ~before).astype(np.int64)


def pool_steps(x: np.ndarray, unit: int) -> np.ndarray:
    """Sum consecutive groups of ``unit`` steps, zero-padding the last group.

    x: ``[T, ...]``. Returns ``[ceil(T / unit), ...]``.
    """
    pad = (-x.shape[0]) % unit
    x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), dtype=x.dtype)], axis=0)
    return x.reshape(-1, unit, *x.shape[1:]).sum(axis=1)


def check_pair(pred, target) -> None:
    """Raise ``ValueError`` unless ``pred`` and ``target`` share one shape."""
    if np.shape(pred) != np.shape(target):
        raise ValueError(f"pred {np.shape(pred)} and target {np.shape(target)} differ in shape")


def select_slots(roll, slots: tuple[int, ...]):
    """Columns of ``slots`` of a roll ``[T, n * 128]`` -> ``[T, len(slots) * 128]`` (a copy)."""
    arr = np.asarray(roll)
    return np.concatenate([arr[:, k * PITCHES:(k + 1) * PITCHES] for k in slots], axis=1)


def longest_run(on: np.ndarray) -> int:
    """Longest run of consecutive True steps in any column of ``on [T, P]`` (0 when none)."""
    best = 0
    for col in np.flatnonzero(on.any(axis=0)):
        edges = np.diff(np.concatenate([[0], on[:, col].astype(np.int8), [0]]))
        best = max(best, int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max()))
    return best


def chord_bits(root, chroma) -> tuple[np.ndarray, np.ndarray]:
    """Per-step chords as a root pitch class and a binary chroma.

    root: ``[T]`` int, pitch class + 1 with 0 = no chord (the ``root`` label). chroma: ``[T]``
    12-bit ints (the ``chroma`` label) or ``[T, 12]`` binary. Returns ``(root_pc [T]`` int, -1 =
    no chord; ``bits [T, 12]`` bool). A step without a root or without chroma has no chord.
    """
    root = np.asarray(root, dtype=np.int64)
    chroma = np.asarray(chroma)
    if chroma.ndim == 1:
        bits = ((chroma.astype(np.int64)[:, None] >> np.arange(12)) & 1).astype(bool)
    else:
        bits = chroma.astype(bool)
    if bits.shape != (len(root), 12):
        raise ValueError(f"chroma {chroma.shape} does not match root {root.shape}")
    none = (root <= 0) | ~bits.any(axis=1)
    return np.where(none, -1, root - 1), bits & ~none[:, None]


def chords_of(labels: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """``(root [T], chroma [T])`` numpy arrays of a labels dict (numpy or torch values)."""
    return np.asarray(labels["root"]), np.asarray(labels["chroma"])
