"""Choosing the binarization of predicted probabilities on validation, by a named criterion.

A frame harmonizer (the papers' setting) outputs probabilities ``[T, n*128]``; a binary pianoroll
comes from a threshold and an optional gap filling (runs of at most ``merge_gap`` off-steps inside
a pitch become on, which turns per-step flicker into held notes).

An onset harmonizer (``HarmonizationConfig.output = "onsets_frames"``, as in Onsets and Frames,
Hawthorne et al. 2018) also outputs onset probabilities ``[T, n*128]``; :func:`decode_notes`
starts a note only where an onset is predicted and holds it while the frame stays on, so an
uncertain figure no longer averages into a held pad. The decoded :class:`NoteRoll` keeps both
rolls: frames for the papers' metrics, onsets for the rhythm figures and the MIDI.

:func:`choose_binarization` searches the thresholds (and gaps, or onset thresholds) on validation
windows and keeps the best mean of one criterion of :data:`BINARIZATION_CRITERIA`, returned by
name with the chosen values, so a report can say how its rolls were made.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from stripes.evaluation.harmonization.figure import CORE, decode_figure, hold_notes
from stripes.evaluation.harmonization.layout import POP909_LAYOUT, TrackLayout
from stripes.evaluation.harmonization.reference_flavour import chroma_similarity_reference
from stripes.evaluation.harmonization.rhythm import rhythm_figures, rhythm_nearness
from stripes.evaluation.harmonization.rolls import select_slots
from stripes.music.pianoroll import pianoroll_to_notes

THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
MERGE_GAPS = (0, 2, 4, 8)
ONSET_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)
STRIKE_CAPS = (0,)  # 0: no cap on the notes struck at once
VOICE_HOLDS = (0.0,)
FIGURE_SHARES = (0.0,)  # 0: every cell on its own; > 0: the figure decoder (.figure)
FIGURE_CORES = (CORE,)
SLOT = 128  # columns of one pianoroll slot
#: The keys of a chosen binarization that :func:`decode_window` reads (what a record of a decode
#: keeps; the criterion, grid and score left out).
DECODE_KEYS = ("threshold", "merge_gap", "onset_threshold", "max_strikes", "voices",
               "voice_hold", "figure_share", "figure_core", "figure_slots", "onset_weight")


class NoteRoll(NamedTuple):
    """A binary arrangement: ``frames [T, P]`` (sounding cells) and ``onsets [T, P]`` (where a
    note begins), or ``onsets`` None when only frames are known (a run of frames is one note)."""

    frames: np.ndarray
    onsets: np.ndarray | None = None

    def note_onsets(self) -> np.ndarray:
        """``[T, P]`` bool: the onsets, or the first step of each run of frames."""
        if self.onsets is not None:
            return np.asarray(self.onsets, dtype=bool)
        on = np.asarray(self.frames) > 0.5
        before = np.zeros_like(on)
        before[1:] = on[:-1]
        return on & ~before


#: ``(pred, target) -> float``, higher is better.
Criterion = Callable[[NoteRoll, NoteRoll], float]


def fill_gaps(roll: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of 1..``max_gap`` off-steps that have an on-step before and after them.

    roll: binary ``[T, P]``. Returns bool ``[T, P]`` (a copy)."""
    out = np.asarray(roll).astype(bool).copy()
    if max_gap <= 0:
        return out
    for p in np.flatnonzero(out.any(axis=0)):
        on = np.flatnonzero(out[:, p])
        for start, stop in zip(on[:-1], on[1:], strict=True):
            if 1 < stop - start <= max_gap + 1:
                out[start + 1:stop, p] = True
    return out


def binarize(probs, threshold: float = 0.5, merge_gap: int = 0) -> np.ndarray:
    """``probs [T, P]`` -> bool ``[T, P]``: ``probs >= threshold``, then :func:`fill_gaps`."""
    check_threshold(threshold)
    return fill_gaps(np.asarray(probs) >= threshold, merge_gap)


def check_threshold(threshold: float, name: str = "threshold") -> None:
    """ValueError unless ``0 < threshold < 1``."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {threshold}")


def decode_notes(frame_probs, onset_probs, threshold: float = 0.5,
                 onset_threshold: float = 0.5, max_strikes: int = 0,
                 voices: Sequence[int] = (), voice_hold: float = 0.0) -> NoteRoll:
    """Notes from onset and frame probabilities (both ``[T, P]``), as Onsets and Frames decodes.

    A note begins at the first step of each run of ``onset_probs >= onset_threshold`` and lasts
    while ``frame_probs >= threshold``, up to the next onset of its pitch; a frame never starts a
    note. With ``max_strikes`` > 0 at most that many notes begin at one step in one 128-pitch
    slot, the likeliest: independent per-pitch onsets would strike every candidate tone of an
    uncertain figure at once, a hand strikes a few. A note struck again is released one step
    before (a piano key comes up before it is struck again), so the frame roll alone still shows
    every strike to the papers' metrics. A slot ``k`` (128 columns) with ``voices[k]`` > 0 is
    a fixed set of voices and is decoded by :func:`decode_voices` instead. Returns a
    :class:`NoteRoll` of bool ``[T, P]`` rolls.
    """
    check_threshold(threshold)
    check_threshold(onset_threshold, "onset_threshold")
    frame_on = np.asarray(frame_probs) >= threshold
    strike = np.asarray(onset_probs) >= onset_threshold
    if frame_on.shape != strike.shape:
        raise ValueError(f"frame {frame_on.shape} and onset {strike.shape} probabilities differ")
    onsets = strike.copy()
    onsets[1:] &= ~strike[:-1]  # the first step of a run of onset steps
    if max_strikes > 0:
        onsets &= likeliest(np.asarray(onset_probs), onsets, max_strikes)
    frames = hold_notes(onsets, frame_on)
    for k, count in enumerate(voices):
        if count > 0:
            cols = slice(k * SLOT, (k + 1) * SLOT)
            onsets[:, cols], frames[:, cols] = decode_voices(
                np.asarray(frame_probs)[:, cols], np.asarray(onset_probs)[:, cols], count,
                threshold, onset_threshold, voice_hold)
    frames[:-1] &= ~onsets[1:]  # released before the next strike of the same pitch
    return NoteRoll(frames, onsets & frames)


def decode_voices(frame_probs: np.ndarray, onset_probs: np.ndarray, count: int,
                  threshold: float, onset_threshold: float, hold: float = 0.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(onsets, frames)`` bool ``[T, P]`` of a part of ``count`` voices (a chorale's bass: 1).

    Independent per-pitch decisions let a voice fall silent or split in two wherever the model
    hesitates between two pitches; a singer sings one. So at each step the part sounds the
    ``count`` pitches of highest frame probability among those at or above ``threshold`` (a
    sounding pitch gains ``hold``, so that a near tie does not flicker). A pitch that enters
    the set is struck; one that stays is struck again where its onset run begins
    (``onset_probs >= onset_threshold``), a repeated note. As Coconet reads one pitch per voice
    (Huang et al. 2017), with the onset channel kept for repeated notes."""
    T, P = frame_probs.shape
    onsets, frames = np.zeros((T, P), dtype=bool), np.zeros((T, P), dtype=bool)
    strike = onset_probs >= onset_threshold
    run_start = strike.copy()
    run_start[1:] &= ~strike[:-1]
    sounding = np.zeros(P, dtype=bool)
    for t in range(T):
        score = frame_probs[t] + hold * sounding
        top = np.argpartition(-score, count - 1)[:count] if count < P else np.arange(P)
        now = np.zeros(P, dtype=bool)
        now[top[frame_probs[t, top] >= threshold]] = True
        onsets[t] = now & (~sounding | run_start[t])
        frames[t] = sounding = now
    return onsets, frames


def likeliest(probs: np.ndarray, candidates: np.ndarray, k: int, width: int = 128
               ) -> np.ndarray:
    """bool ``[T, P]``: of the ``candidates`` of each step, the ``k`` likeliest in each slot of
    ``width`` columns (ties: the lower pitch)."""
    T, P = probs.shape
    scores = np.where(candidates, probs, -1.0).reshape(T, P // width, width)
    rank = np.argsort(np.argsort(-scores, axis=-1, kind="stable"), axis=-1, kind="stable")
    return (rank < k).reshape(T, P)


def decode_window(window: Mapping, choice: Mapping) -> NoteRoll:
    """The binary arrangement of one predicted window (``probs``, and ``onset_probs`` for an
    onset harmonizer) under a chosen binarization (``threshold``, ``merge_gap``,
    ``onset_threshold``, ``max_strikes``, and ``voices``, ``voice_hold`` for voiced slots;
    ``figure_share`` > 0 decodes the ``figure_slots`` with :func:`.figure.decode_figure`, its
    ``figure_core`` struck in every half bar, the model's ``onset_weight`` undone)."""
    onset_probs = window.get("onset_probs")
    if onset_probs is None:
        return NoteRoll(binarize(window["probs"], choice["threshold"], choice["merge_gap"]))
    roll = decode_notes(window["probs"], onset_probs, choice["threshold"],
                        choice["onset_threshold"], choice.get("max_strikes", 0),
                        choice.get("voices", ()), choice.get("voice_hold", 0.0))
    share = choice.get("figure_share", 0.0)
    if not share:
        return roll
    assert roll.onsets is not None
    for k in choice["figure_slots"]:
        cols = slice(k * SLOT, (k + 1) * SLOT)
        roll.onsets[:, cols], roll.frames[:, cols] = decode_figure(
            np.asarray(window["probs"])[:, cols], np.asarray(onset_probs)[:, cols],
            choice["threshold"], share, choice["onset_weight"], choice["figure_core"])
    return roll


def target_roll(window: Mapping) -> NoteRoll:
    """The original of a window: ``targets`` frames and, when known, their ``onsets``."""
    onsets = window.get("onsets")
    return NoteRoll(np.asarray(window["targets"]) > 0.5,
                    None if onsets is None else np.asarray(onsets) > 0.5)


def frame_f1(pred, target) -> float:
    """Frame-level F1 of two binary rolls ``[T, P]`` (1 when both are silent)."""
    pred, target = np.asarray(pred) > 0.5, np.asarray(target) > 0.5
    total = float(pred.sum() + target.sum())
    return 1.0 if total == 0 else 2 * float((pred & target).sum()) / total


def negative_mse(pred, target) -> float:
    """Minus the mean squared error of two rolls ``[T, P]`` (the [S24] code picks its threshold
    by this error; negated so that higher is better, like every criterion here)."""
    diff = np.asarray(pred, dtype=float) - np.asarray(target, dtype=float)
    return -float(np.mean(diff ** 2))


def onset_f1(pred, target, tolerance: int = 1) -> float:
    """F1 of two onset rolls ``[T, P]``, an onset counting as found within ``tolerance`` steps
    (played timing); 1 when neither has an onset."""
    pred, target = np.asarray(pred) > 0.5, np.asarray(target) > 0.5
    if not pred.any() and not target.any():
        return 1.0
    hit_p = (pred & widen(target, tolerance)).sum() / max(int(pred.sum()), 1)
    hit_t = (target & widen(pred, tolerance)).sum() / max(int(target.sum()), 1)
    return 0.0 if hit_p + hit_t == 0 else float(2 * hit_p * hit_t / (hit_p + hit_t))


def widen(roll: np.ndarray, steps: int) -> np.ndarray:
    """``roll [T, P]`` bool with each True spread ``steps`` steps earlier and later."""
    out = roll.copy()
    for s in range(1, steps + 1):
        out[s:] |= roll[:-s]
        out[:-s] |= roll[s:]
    return out


def roll_notes(roll: NoteRoll) -> np.ndarray:
    """The notes ``[N, 3]`` (start, duration, column) of a roll, split at its onsets."""
    return pianoroll_to_notes(np.asarray(roll.frames) > 0.5, roll.note_onsets())


def note_f1(pred: NoteRoll, target: NoteRoll, onset_tolerance: int = 1,
            offset_ratio: float = 0.2, min_offset: int = 2) -> float:
    """Note F1 with offsets, as transcription is scored (mir_eval's rule, on the step grid): a
    predicted note matches an unmatched original note of its pitch when its onset is within
    ``onset_tolerance`` steps and its end within ``max(min_offset, offset_ratio × the
    original's duration)`` steps; 1 when neither has a note. Sees strikes, lengths and extra
    notes at once: a pad and a flurry both lose."""
    p, t = roll_notes(pred), roll_notes(target)
    if not len(p) and not len(t):
        return 1.0
    matched = 0
    for pitch in np.intersect1d(p[:, 2], t[:, 2]):
        mine, theirs = p[p[:, 2] == pitch], t[t[:, 2] == pitch]
        free = np.ones(len(theirs), dtype=bool)
        for start, length, _ in mine:
            slack = np.maximum(min_offset, offset_ratio * theirs[:, 1])
            ok = (free & (np.abs(theirs[:, 0] - start) <= onset_tolerance)
                  & (np.abs(theirs[:, 0] + theirs[:, 1] - start - length) <= slack))
            if ok.any():
                free[np.argmax(ok)] = False
                matched += 1
    return 2 * matched / (len(p) + len(t))


def on_frames(fn: Callable[[np.ndarray, np.ndarray], float]) -> Criterion:
    """A criterion of two frame rolls, read on the frames of two :class:`NoteRoll`."""
    return lambda pred, target: fn(pred.frames, target.frames)


def onsets_and_frames(pred: NoteRoll, target: NoteRoll) -> float:
    """Mean of the onset F1 (±1 step) and the frame F1: sees rhythm and duration."""
    return 0.5 * (onset_f1(pred.note_onsets(), target.note_onsets())
                  + frame_f1(pred.frames, target.frames))


def cs_and_rhythm(pred: NoteRoll, target: NoteRoll) -> float:
    """Mean of CS (reference flavour, /100) and the nearness of the rhythm figures to the
    original's (:func:`.rhythm.rhythm_nearness`), in [0, 1]: the right chroma *and* the
    pianist's rhythm. CS alone cannot tell a flurry from a figure (it reads onset counts
    per half bar up to scale), note F1 rewards exact onsets a model cannot know."""
    cs = chroma_similarity_reference(pred.frames, target.frames) / 100.0
    near = rhythm_nearness(rhythm_figures(pred.frames, pred.note_onsets()),
                           rhythm_figures(target.frames, target.note_onsets()))
    return 0.5 * (cs + near)


def on_accompaniment(fn: Criterion, layout: TrackLayout = POP909_LAYOUT) -> Criterion:
    """``fn`` applied to the accompaniment slots of ``layout`` only."""
    def part(roll: NoteRoll) -> NoteRoll:
        onsets = roll.note_onsets()
        return NoteRoll(select_slots(roll.frames, layout.accompaniment),
                        select_slots(onsets, layout.accompaniment))

    return lambda pred, target: fn(part(pred), part(target))


#: Higher is better for every criterion; ``(pred: NoteRoll, target: NoteRoll) -> float`` on
#: rolls ``[T, n*128]``. The ``_accompaniment`` ones use the POP909 layout (piano slot); build
#: others with :func:`on_accompaniment`. Only ``onset_*``, ``note_f1*`` and ``cs*`` see rhythm
#: (CS reads onsets per half bar); frame F1 and MSE reward a held pad as much as a figure.
BINARIZATION_CRITERIA: dict[str, Criterion] = {
    "frame_f1": on_frames(frame_f1),
    "frame_f1_accompaniment": on_accompaniment(on_frames(frame_f1)),
    "cs": on_frames(chroma_similarity_reference),
    "cs_accompaniment": on_accompaniment(on_frames(chroma_similarity_reference)),
    "neg_mse": on_frames(negative_mse),
    "onset_frame_f1": onsets_and_frames,
    "onset_frame_f1_accompaniment": on_accompaniment(onsets_and_frames),
    "note_f1": note_f1,
    "note_f1_accompaniment": on_accompaniment(note_f1),
    "cs_rhythm": cs_and_rhythm,
    "cs_rhythm_accompaniment": on_accompaniment(cs_and_rhythm),
}


def criteria_for(layout: TrackLayout) -> dict[str, Criterion]:
    """:data:`BINARIZATION_CRITERIA` with the ``_accompaniment`` ones on ``layout``'s slots."""
    table = dict(BINARIZATION_CRITERIA)
    for name in [n for n in table if n.endswith("_accompaniment")]:
        table[name] = on_accompaniment(BINARIZATION_CRITERIA[name.removesuffix(
            "_accompaniment")], layout)
    return table


def choose_binarization(windows: Sequence[Mapping], criterion: str = "frame_f1", *,
                        thresholds: Sequence[float] = THRESHOLDS,
                        merge_gaps: Sequence[int] = MERGE_GAPS,
                        onset_thresholds: Sequence[float] = ONSET_THRESHOLDS,
                        strike_caps: Sequence[int] = STRIKE_CAPS,
                        voices: Sequence[int] = (),
                        voice_holds: Sequence[float] = VOICE_HOLDS,
                        figure_shares: Sequence[float] = FIGURE_SHARES,
                        figure_cores: Sequence[float] = FIGURE_CORES,
                        figure_slots: Sequence[int] = (), onset_weight: float = 1.0,
                        criteria: dict[str, Criterion] | None = None) -> dict:
    """The binarization with the best mean ``criterion`` over validation windows.

    windows: mappings with ``probs`` and ``targets`` ``[T_i, n*128]`` (and ``onset_probs``,
    ``onsets`` for an onset harmonizer: then the grid is ``thresholds × onset_thresholds ×
    strike_caps × voice_holds × figure_shares × figure_cores`` (a share of 0, the per-cell
    decode, with the first core only) and ``merge_gap`` is 0; ``voices``, the layout's voice
    count per slot, ``figure_slots``, the slots a figure share > 0 decodes with
    :func:`.figure.decode_figure`, and the model's ``onset_weight`` are part of every point).
    Returns ``{"criterion": name, "threshold", "merge_gap", "onset_threshold",
    "max_strikes", "voice_hold", "figure_share", "figure_core", "voices", "figure_slots" and
    "onset_weight" (onset harmonizers), "score", "grid": [[threshold, merge_gap, score] or
    [threshold, onset threshold, max strikes, voice hold, figure share, figure core, score],
    ...]}``
    (ties: the first in grid order, thresholds ascending).
    """
    table = BINARIZATION_CRITERIA if criteria is None else criteria
    if criterion not in table:
        raise ValueError(f"criterion must be one of {sorted(table)}, got {criterion!r}")
    if not windows:
        raise ValueError("need at least one validation window to choose a binarization on")
    fn = table[criterion]
    targets = [target_roll(w) for w in windows]
    keys: tuple[str, ...]
    points: Iterable[tuple[float, ...]]
    fixed: dict = {"merge_gap": 0}
    if windows[0].get("onset_probs") is not None:
        keys = ("threshold", "onset_threshold", "max_strikes", "voice_hold", "figure_share",
                "figure_core")
        points = [p for p in itertools.product(thresholds, onset_thresholds, strike_caps,
                                               voice_holds, figure_shares, figure_cores)
                  if p[4] or p[5] == figure_cores[0]]  # a core means nothing per cell
        fixed.update(voices=[int(v) for v in voices], figure_slots=[int(k) for k in figure_slots],
                     onset_weight=float(onset_weight))
    else:
        keys = ("threshold", "merge_gap")
        points = itertools.product(thresholds, merge_gaps)
    grid = []
    for point in points:
        choice = {**fixed, **dict(zip(keys, point, strict=True))}
        scores = [fn(decode_window(w, choice), t) for w, t in zip(windows, targets, strict=True)]
        grid.append([*point, float(np.mean(scores))])
    best = max(grid, key=lambda row: row[-1])
    return {"criterion": criterion, **fixed, **dict(zip(keys, best, strict=False)),
            "score": best[-1], "grid": grid}
