"""Decoding an accompaniment that commits to one figure: the figure decoder of onset harmonizers.

Thresholding each cell of an onset roll on its own (:func:`.binarization.decode_notes`) cannot
comp like a pianist when the model is unsure *which* figure the pianist plays: its onset
probabilities are then calibrated but diffuse (spread over every position some figure would
strike), so a low threshold strikes every candidate (a flurry: twice the pianist's onsets per
bar) and a high one misses half bars, and the chroma of the half bar, which CS reads, follows the
few surest pitches (results/onset_criteria/pop909/tradeoff.md measures both). A pianist commits:
one figure, repeated bar after bar, spread over the chord. :func:`decode_figure` does the same,
from the model's own probabilities only (no chord label, no rule):

1. **Calibrate**: the model is trained with a strike weighing ``onset_weight`` in the onset BCE,
   which multiplies the odds of every onset by that weight; ``q = p / (p + w (1 - p))`` undoes it,
   so ``q`` sums to the number of strikes the model expects.
2. **The figure**: the window's onset profile, the mean of ``q`` summed over pitches at each of
   the ``bar_steps`` positions of the bar over all its bars; the positions at or above
   ``share`` of the profile's peak (each widened by one step, played timing) are the figure.
   Strikes fall there, in every bar: the one figure the model finds likeliest for the piece
   (a strike whose pitch class has no room left there goes outside it, ``OUTSIDE``).
   Its *core*, the positions at or above ``core`` of the peak, is struck first in every half
   bar (by the likeliest pitch with strikes left), so the figure recurs; the weaker positions
   are struck where the model likes them best, so it varies as a pianist's does.
3. **The budget**: each half bar (``unit`` steps, CS's unit and the grain of the chord changes)
   strikes as many notes as the model expects there (``round(sum q)``), shared among the
   pitch classes in proportion to the model's expected strikes of each (largest remainders), so
   the half bar's chroma is the model's expected chroma. Each pitch class strikes its likeliest
   cells of the figure; a cell's score is ``q`` divided by ``profile ** EQUALIZE`` at its
   position, because the beat, which every candidate figure strikes, would otherwise outvote the
   off-beat strikes of the figure.
4. **Notes**: a struck note sounds while its frame probability stays at or above ``threshold``,
   and at least a sixteenth note (``MIN_NOTE``), up to the next strike of its pitch (a key comes
   up one step before it is struck again).

The texture controls act on ``q`` before this: a density (odds × density) moves the budget, a
variation (a seeded emphasis per bar position) moves the profile, hence the figure.
"""

from __future__ import annotations

import numpy as np

#: When a pitch's strikes are placed, the cells this many steps either side of each are taken
#: from it (its later strikes go elsewhere in the figure).
MIN_GAP = 2
#: The shortest struck note, in steps (a sixteenth note at 16 steps per quarter): a strike the
#: frame channel does not hold would otherwise sound one step, a click (18 % of the notes on
#: the POP909 test windows of 16 bars, against 1 % of the pianist's, without this floor). A
#: pitch struck again 3 steps later (a sixteenth a step early) still sounds 2 steps: a quick
#: repeat, 14 % of the notes there, which the pianist never plays (MIN_GAP 3 would forbid it; it
#: scored lower on the validation windows; results/onset_criteria/pop909/short_notes.md).
MIN_NOTE = 4
#: How much the figure's positions are evened out before cells compete (module docstring, 3).
EQUALIZE = 0.5
#: The default core: positions at or above this share of the profile's peak (or the figure's
#: share, if higher) are struck in every half bar the budget allows.
CORE = 0.8
#: The weight of a cell outside the figure: far below any inside, so a strike goes there only
#: when its pitch class has no room left in the figure (a variation's narrow figure would
#: otherwise drop strikes the model expects and fall silent).
OUTSIDE = 1e-4
#: Half a 4/4 bar at 16 steps per quarter: the budget's unit.
UNIT = 32
BAR_STEPS = 64


def calibrate(onset_probs: np.ndarray, onset_weight: float) -> np.ndarray:
    """Onset probabilities ``[T, P]`` of a model trained with strikes weighing ``onset_weight``
    -> the probabilities at the unweighted odds ``p / (p + w (1 - p))``, ``[T, P]``."""
    if not onset_weight > 0:
        raise ValueError(f"onset_weight must be > 0, got {onset_weight}")
    p = np.asarray(onset_probs, dtype=np.float64)
    return p / (p + onset_weight * (1.0 - p))


def figure_profile(q: np.ndarray, bar_steps: int = BAR_STEPS) -> np.ndarray:
    """``q [T, P]`` -> ``[bar_steps]``: the expected strikes at each position of the bar, averaged
    over the window's bars (a last partial bar counts where it has steps)."""
    pos = np.arange(len(q)) % bar_steps
    total = np.bincount(pos, weights=q.sum(axis=1), minlength=bar_steps)
    count = np.bincount(pos, minlength=bar_steps)
    return total / np.maximum(count, 1)


def figure_positions(profile: np.ndarray, share: float) -> np.ndarray:
    """bool ``[bar_steps]``: positions whose profile is at least ``share`` of its peak, each
    widened by one step either side (within the bar, cyclic). All False for a silent profile."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"figure share must lie in (0, 1), got {share}")
    peak = profile.max()
    if peak <= 0:
        return np.zeros(len(profile), dtype=bool)
    keep = profile >= share * peak
    return keep | np.roll(keep, 1) | np.roll(keep, -1)


def share_budget(expected: np.ndarray, total: int) -> np.ndarray:
    """``total`` strikes shared in proportion to ``expected`` ``[K]`` (>= 0) by largest
    remainders -> int counts ``[K]`` summing to ``total`` (zeros when nothing is expected)."""
    if total <= 0 or expected.sum() <= 0:
        return np.zeros(len(expected), dtype=int)
    exact = total * expected / expected.sum()
    counts = np.floor(exact).astype(int)
    rest = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:rest]] += 1
    return counts


def strike_half_bar(score: np.ndarray, q: np.ndarray, pitch_class: np.ndarray,
                    anchors: np.ndarray) -> np.ndarray:
    """The strikes of one unit: ``score``, ``q`` ``[S, P]`` -> bool ``[S, P]``. ``round(q.sum())``
    strikes are shared among pitch classes as ``q`` expects; each step of ``anchors`` (the
    figure's peaks, strongest first) is struck first, by the best-scoring pitch whose class has
    strikes left, so that the figure is played whole in every unit the budget allows; the rest
    of each class's strikes go to its best-scoring cells."""
    strikes = np.zeros(q.shape, dtype=bool)
    counts = share_budget(np.bincount(pitch_class, weights=q.sum(axis=0), minlength=12),
                          int(round(float(q.sum()))))
    cand = score.copy()

    def strike(t: int, col: int) -> None:
        strikes[t, col] = True
        counts[pitch_class[col]] -= 1
        cand[max(0, t - MIN_GAP):t + MIN_GAP + 1, col] = 0.0

    for t in anchors:
        row = np.where(counts[pitch_class] > 0, cand[t], 0.0)
        if row.max() > 0:
            strike(int(t), int(np.argmax(row)))
    for pc in np.flatnonzero(counts > 0):
        cols = np.flatnonzero(pitch_class == pc)
        while counts[pc] > 0:
            t, j = np.unravel_index(np.argmax(cand[:, cols]), (len(cand), len(cols)))
            if cand[t, cols[j]] <= 0:
                break                                    # no cell of this class is left
            strike(int(t), int(cols[j]))
    return strikes


def decode_figure(frame_probs, onset_probs, threshold: float, share: float,
                  onset_weight: float, core: float = CORE, unit: int = UNIT,
                  bar_steps: int = BAR_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """``(onsets, frames)`` bool ``[T, P]`` of one free part (P pitches, 128 per slot) from its
    frame and onset probabilities ``[T, P]``, decoded as the module docstring says."""
    frame_on = np.asarray(frame_probs) >= threshold
    q = calibrate(onset_probs, onset_weight)
    if frame_on.shape != q.shape:
        raise ValueError(f"frame {frame_on.shape} and onset {q.shape} probabilities differ")
    T, P = q.shape
    profile = figure_profile(q, bar_steps)
    weight = np.where(figure_positions(profile, share),
                      1.0 / np.maximum(profile, 1e-6) ** EQUALIZE, OUTSIDE)
    score = q * weight[np.arange(T) % bar_steps][:, None]
    peaks = sorted(np.flatnonzero((profile >= max(share, core) * profile.max())
                                  & (profile > 0)), key=lambda k: -profile[k])
    pitch_class = np.arange(P) % 12
    onsets = np.zeros((T, P), dtype=bool)
    for s in range(0, T, unit):
        anchors = np.array([t for k in peaks for t in range(k - s % bar_steps, unit, bar_steps)
                            if 0 <= t < min(unit, T - s)], dtype=int)
        onsets[s:s + unit] = strike_half_bar(score[s:s + unit], q[s:s + unit], pitch_class,
                                             anchors)
    held = frame_on.copy()
    for k in range(1, MIN_NOTE):                 # every strike sounds at least MIN_NOTE steps
        held[k:] |= onsets[:-k]
    frames = hold_notes(onsets, held)
    frames[:-1] &= ~onsets[1:]
    return onsets & frames, frames


def hold_notes(onsets: np.ndarray, frame_on: np.ndarray) -> np.ndarray:
    """bool ``[T, P]``: each note sounds from its onset while ``frame_on`` stays True (a frame
    never starts a note). onsets, frame_on: bool ``[T, P]``."""
    frames = np.zeros(frame_on.shape, dtype=bool)
    sounding = np.zeros(frame_on.shape[1], dtype=bool)
    for t in range(frame_on.shape[0]):
        sounding = onsets[t] | (sounding & frame_on[t])
        frames[t] = sounding
    return frames
