"""The ``paper`` flavour of the melody-harmonization metrics (docs/math.md §6; [FS] IV-E,
[ST] IV-F): our reading of the papers' text; the [S24] code's is :mod:`.reference_flavour`.

Every metric compares a predicted pianoroll with its target. Both are arrays ``[T, P]`` at 16 steps
per quarter note (one 4/4 bar = 64 steps), ``P = n * 128`` (``n`` stacked tracks of 128 MIDI
pitches, e.g. melody | bridge | piano); a cell is *on* when its value is > 0.5 (so bool, 0/1 and
probabilities all work). Tracks are merged as follows:

- onset metrics (CS, SSMD, GS) take onsets per track, then *sum* the tracks, so a pitch struck in
  two tracks at once counts twice (as in the [S24] code);
- the note-density metric (NDD) *ORs* the tracks: it counts distinct sounding pitches.

Conventions (the papers leave them open):

- onset: a cell is an onset when it is on and the same pitch of the same track was off one step
  before; step 0 has an implicit "off" before it.
- a trailing partial unit (half-bar, quarter, sixteenth) is zero-padded and counted;
- cosine similarity of two all-zero vectors is 1 (both silent: they agree) and of one zero and one
  non-zero vector is 0. The [S24] code gives 0 in both cases (``eps`` in the denominator), so
  silent half-bars lowered its CS even for a perfect prediction.
- NDD skips sixteenths whose target is silent; if the whole target is silent it is 0 (nothing can
  be missing).

Units: CS = 32 steps (half a 4/4 bar), GS = 16 steps (a quarter), NDD = 4 steps (a sixteenth).
All scores are percentages (CS, GS, NDD in [0, 100]; SSMD in [0, 50] for these non-negative vectors
because of the [ST] division by 2).
"""

from __future__ import annotations

from typing import cast

import numpy as np

from stripes.evaluation.harmonization.rolls import (
    HALF_BAR,
    PITCHES,
    SIXTEENTH,
    check_pair,
    pool_steps,
    slot_cells,
)


def detect_onsets(roll) -> np.ndarray:
    """Onset counts per step and pitch, summed over tracks.

    roll: ``[T, n*128]``. Returns int ``[T, 128]``: the number of tracks where the pitch turns on.
    """
    on = slot_cells(roll)
    before = np.concatenate([np.zeros_like(on[:1]), on[:-1]], axis=0)
    return (on & ~before).sum(axis=1)


def merge_tracks(roll) -> np.ndarray:
    """OR the tracks of a pianoroll. roll: ``[T, n*128]``. Returns bool ``[T, 128]``."""
    return cast(np.ndarray, slot_cells(roll).any(axis=1))  # numpy types .any() loosely


def chroma_onsets(roll, unit: int = HALF_BAR) -> np.ndarray:
    """Chroma onset counts per unit (pitch class = MIDI pitch mod 12, 0 = C).

    roll: ``[T, n*128]``. Returns float ``[U, 12]`` with ``U = ceil(T / unit)``.
    """
    onsets = pool_steps(detect_onsets(roll), unit).astype(float)
    octaves = np.pad(onsets, ((0, 0), (0, (-PITCHES) % 12)))
    return octaves.reshape(len(onsets), -1, 12).sum(axis=1)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a [N, F]`` with every row of ``b [M, F]``: ``[N, M]``.

    Two zero rows have similarity 1; a zero row and a non-zero row have similarity 0.
    """
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dots = a @ b.T
    denom = np.outer(na, nb)
    sim = np.divide(dots, denom, out=np.zeros_like(dots, dtype=float), where=denom > 0)
    sim[np.outer(na == 0, nb == 0)] = 1.0
    return sim


def chroma_similarity(pred, target) -> float:
    """CS ↑: mean cosine similarity of half-bar chroma onset counts, ×100.

    pred, target: ``[T, n*128]``. Returns a score in [0, 100].
    """
    check_pair(pred, target)
    cp, ct = chroma_onsets(pred), chroma_onsets(target)
    return float(np.diag(cosine_rows(cp, ct)).mean() * 100)


def ssm_distance(pred, target) -> float:
    """SSMD ↓: mean |SSM_pred − SSM_tgt| / 2 × 100 ([ST] scaling).

    SSM: cosine self-similarity ``[U, U]`` of the half-bar chroma onset vectors.
    pred, target: ``[T, n*128]``. Returns a score in [0, 50].
    """
    check_pair(pred, target)
    cp, ct = chroma_onsets(pred), chroma_onsets(target)
    diff = np.abs(cosine_rows(cp, cp) - cosine_rows(ct, ct))
    return float(diff.mean() / 2 * 100)


def grooving_patterns(roll) -> np.ndarray:
    """Onset pattern of each quarter note.

    Flag ``k`` of a quarter is True when any pitch of any track has an onset in its ``k``-th
    sixteenth (steps ``4k .. 4k+3`` of the quarter). roll: ``[T, n*128]``. Returns bool ``[Q, 4]``.
    """
    per_sixteenth = pool_steps(detect_onsets(roll).sum(axis=1), SIXTEENTH) > 0
    pad = (-len(per_sixteenth)) % 4
    return np.concatenate([per_sixteenth, np.zeros(pad, dtype=bool)]).reshape(-1, 4)


def grooving_similarity(pred, target) -> float:
    """GS ↑: percentage of quarter notes whose four sixteenth-onset flags all agree.

    pred, target: ``[T, n*128]``. Quarters silent in both count as agreeing. Returns [0, 100].
    """
    check_pair(pred, target)
    agree = (grooving_patterns(pred) == grooving_patterns(target)).all(axis=1)
    return float(agree.mean() * 100)


def sounding_pitches(roll) -> np.ndarray:
    """Pitches sounding at any step of each sixteenth, tracks ORed.

    roll: ``[T, n*128]``. Returns bool ``[S, 128]``, ``S = ceil(T / 4)``.
    """
    return pool_steps(merge_tracks(roll), SIXTEENTH) > 0


def note_density_distance(pred, target, *, missing: str = "set") -> float:
    """NDD ↓: mean percentage of the target's pitches missing from the prediction, per sixteenth.

    Per sixteenth ``s`` with target pitch set ``A`` (non-empty) and predicted set ``B``, the
    missing fraction is ``|A \\ B| / |A|`` (``missing="set"``, default) or
    ``max(|A| − |B|, 0) / |A|`` (``missing="count"``: a density reading, blind to which pitches).
    Sixteenths with a silent target are skipped; an all-silent target gives 0. Extra predicted
    pitches are not penalized (the ``reference`` flavour's NDD counts them).
    pred, target: ``[T, n*128]``. Returns [0, 100].
    """
    check_pair(pred, target)
    a, b = sounding_pitches(target), sounding_pitches(pred)
    n_target = a.sum(axis=1)
    if missing == "set":
        lost = (a & ~b).sum(axis=1)
    elif missing == "count":
        lost = np.maximum(n_target - b.sum(axis=1), 0)
    else:
        raise ValueError(f"missing must be 'set' or 'count', got {missing!r}")
    keep = n_target > 0
    if not keep.any():
        return 0.0
    return float(np.mean(lost[keep] / n_target[keep]) * 100)
