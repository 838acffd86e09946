"""Style similarity of a continuation to its prompt ([SPE] 3.3, App. C.2, Fig. 5; docs/math.md §6).

Notes are numpy arrays ``[N, 3]`` with columns ``(onset_beats, duration_beats, pitch)`` (a beat
is a quarter note). A *style profile* is a 2-D histogram of note features; two pieces are
compared by the cosine similarity of their flattened profiles (1 = same proportions). The two
profiles follow the official SPE groove evaluation (after Cífka et al. 2019), with bins of a
sixth of a beat (so that both 16th notes and triplets fall on bin edges):

* **onset-duration** ``[24, 12]``: row ``floor(φ / (1/6))`` with ``φ = onset mod bar_beats``
  (4 beats: the position in a 4/4 bar), column ``floor(duration / (1/6))`` for durations in
  ``[0, 2]`` beats. A duration of exactly 2 beats goes to the last column (the closed last edge of
  ``numpy.histogram``); longer notes are left out of this profile.
* **time-pitch** ``[24, 41]``: over all ordered pairs of distinct notes ``(i, j)`` with
  ``0 <= Δ = onset_j - onset_i < 4`` beats, row ``floor(Δ / (1/6))`` and column
  ``pitch_j - pitch_i + 20`` for intervals in ``[-20, 20]`` (others are left out). Simultaneous
  notes (``Δ = 0``) count in both orders, so their intervals appear with both signs.

Histograms hold raw counts; cosine similarity does not depend on their scale, so counts and
densities give the same similarity. A value less than 1/6000 beat below an edge is put above it,
which absorbs float rounding of tick positions (a tick is at least 1/960 beat).
A similarity involving an empty profile (no notes, or no pairs) is NaN.

Both profiles are invariant to transposition (they see no absolute pitch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stripes.extras import needs

with needs("music"):
    import symusic
    from symusic.core import ScoreQuarter, ScoreSecond, ScoreTick

BIN_BEATS = 1.0 / 6.0
BAR_BEATS = 4.0
MAX_DURATION_BEATS = 2.0
MAX_LAG_BEATS = 4.0
MAX_INTERVAL = 20
_TOLERANCE_BEATS = 1e-3 * BIN_BEATS  # below one tick at any usual resolution


def as_notes(onsets, durations, pitches) -> np.ndarray:
    """Stack note columns into the ``[N, 3]`` array ``(onset_beats, duration_beats, pitch)``."""
    cols = [np.asarray(c, dtype=np.float64).reshape(-1) for c in (onsets, durations, pitches)]
    if len({c.size for c in cols}) != 1:
        raise ValueError(f"note columns differ in length: {[c.size for c in cols]}")
    return np.stack(cols, axis=1)


def notes_from_score(score: ScoreTick | ScoreQuarter | ScoreSecond,
                     include_drums: bool = False) -> np.ndarray:
    """All notes of a symusic score as ``[N, 3]`` ``(onset_beats, duration_beats, pitch)``.

    Beats are quarter notes: tick scores are divided by ``score.ticks_per_quarter`` in float64;
    quarter scores are used as they are. Notes are sorted by onset, then pitch.

    Args:
        score: a ``symusic.Score`` in ``tick`` or ``quarter`` time (``second`` time has no beats).
        include_drums: keep drum tracks (their "pitches" are instruments, not intervals).
    """
    if score.ttype == symusic.TimeUnit.tick:
        scale = 1.0 / score.ticks_per_quarter
    elif score.ttype == symusic.TimeUnit.quarter:
        scale = 1.0
    else:
        raise ValueError(f"need a score in tick or quarter time, got {score.ttype}")
    parts = []
    for track in score.tracks:
        if track.is_drum and not include_drums:
            continue
        arrays = track.notes.numpy()
        parts.append(as_notes(arrays["time"] * scale, arrays["duration"] * scale, arrays["pitch"]))
    notes = np.concatenate(parts) if parts else np.zeros((0, 3))
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def _bin_index(values: np.ndarray, width: float) -> np.ndarray:
    """``floor(values / width)``, values just below an edge (float rounding) moved above it."""
    return np.floor((values + _TOLERANCE_BEATS) / width).astype(np.int64)


def onset_duration_histogram(
    notes: np.ndarray,
    bar_beats: float = BAR_BEATS,
    bin_beats: float = BIN_BEATS,
    max_duration: float = MAX_DURATION_BEATS,
) -> np.ndarray:
    """Counts of (onset position in the bar, duration): ``[24, 12]`` with the defaults.

    Args:
        notes: ``[N, 3]`` ``(onset_beats, duration_beats, pitch)``.
        bar_beats: bar length; onsets are taken modulo it (4 beats by default).
        bin_beats: bin width on both axes (1/6 beat).
        max_duration: durations in ``[0, max_duration]`` are counted, longer ones left out.

    Returns:
        ``[round(bar_beats / bin_beats), round(max_duration / bin_beats)]`` float counts.
    """
    n_onset, n_dur = round(bar_beats / bin_beats), round(max_duration / bin_beats)
    hist = np.zeros((n_onset, n_dur))
    if len(notes) == 0:
        return hist
    onset_bins = _bin_index(np.mod(notes[:, 0], bar_beats), bin_beats) % n_onset
    dur_bins = _bin_index(notes[:, 1], bin_beats)
    dur_bins = np.where(dur_bins == n_dur, n_dur - 1, dur_bins)  # closed last edge
    keep = (notes[:, 1] >= 0) & (notes[:, 1] <= max_duration + _TOLERANCE_BEATS)
    np.add.at(hist, (onset_bins[keep], dur_bins[keep]), 1.0)
    return hist


def note_pairs(notes: np.ndarray, max_lag: float = MAX_LAG_BEATS) -> tuple[np.ndarray, np.ndarray]:
    """Onset lags and intervals of all ordered note pairs with ``0 <= lag < max_lag``.

    Sorting by onset turns the pairs into shifts ``s = 1, 2, ...`` between sorted notes, stopping
    at the first shift whose lags all reach ``max_lag``: ``O(N · w)`` for ``w`` notes per window,
    instead of the ``N × N`` lag matrix. Pairs of simultaneous notes are added in both orders.

    Args:
        notes: ``[N, 3]``.
        max_lag: pairs whose later onset is at least ``max_lag`` beats after the earlier one are
            left out (up to the 1/6000-beat tolerance of the module docstring).

    Returns:
        ``(lags [P], intervals [P])``: ``onset_j - onset_i >= 0`` and ``pitch_j - pitch_i``.
    """
    order = np.argsort(notes[:, 0], kind="stable")
    onsets, pitches = notes[order, 0], notes[order, 2]
    limit = max_lag - _TOLERANCE_BEATS
    lags, intervals = [], []
    for shift in range(1, len(onsets)):
        lag = onsets[shift:] - onsets[:-shift]
        close = lag < limit
        if not close.any():
            break
        step = pitches[shift:] - pitches[:-shift]
        lags.append(lag[close])
        intervals.append(step[close])
        together = close & (lag <= _TOLERANCE_BEATS)
        lags.append(lag[together])
        intervals.append(-step[together])
    if not lags:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(lags), np.concatenate(intervals)


def time_pitch_histogram(
    notes: np.ndarray,
    max_lag: float = MAX_LAG_BEATS,
    bin_beats: float = BIN_BEATS,
    max_interval: int = MAX_INTERVAL,
) -> np.ndarray:
    """Counts of (onset lag, pitch interval) over note pairs: ``[24, 41]`` with the defaults.

    Args:
        notes: ``[N, 3]``.
        max_lag: pairs with ``0 <= lag < max_lag`` beats count (see :func:`note_pairs`).
        bin_beats: lag bin width (1/6 beat).
        max_interval: intervals in ``[-max_interval, max_interval]`` semitones count.

    Returns:
        ``[round(max_lag / bin_beats), 2 * max_interval + 1]`` float counts; column ``c`` is the
        interval ``c - max_interval``.
    """
    n_lag = round(max_lag / bin_beats)
    hist = np.zeros((n_lag, 2 * max_interval + 1))
    lags, intervals = note_pairs(notes, max_lag)
    lag_bins = np.minimum(_bin_index(lags, bin_beats), n_lag - 1)
    interval_bins = np.rint(intervals).astype(np.int64) + max_interval
    keep = (interval_bins >= 0) & (interval_bins <= 2 * max_interval)
    np.add.at(hist, (lag_bins[keep], interval_bins[keep]), 1.0)
    return hist


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the angle between two flattened histograms of the same shape; NaN if one is 0."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"histograms differ in size: {a.shape} vs {b.shape}")
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else float("nan")


def style_profiles(notes: np.ndarray) -> dict[str, np.ndarray]:
    """Both profiles of a note list: ``{"onset_duration": [24, 12], "time_pitch": [24, 41]}``."""
    return {
        "onset_duration": onset_duration_histogram(notes),
        "time_pitch": time_pitch_histogram(notes),
    }


def style_similarity(notes: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Cosine similarity of each style profile of ``notes`` to that of ``reference``.

    Args:
        notes: ``[N, 3]``, e.g. a generated continuation.
        reference: ``[M, 3]``, e.g. its prompt.

    Returns:
        ``{"onset_duration": s1, "time_pitch": s2}``, each in ``[0, 1]``; NaN where a profile
        is empty.
    """
    ours, theirs = style_profiles(notes), style_profiles(reference)
    return {name: cosine_similarity(ours[name], theirs[name]) for name in ours}


def split_notes_by_time(
    notes: np.ndarray, chunk_beats: float, start_beats: float = 0.0, n_chunks: int | None = None
) -> list[np.ndarray]:
    """Cut a note list into consecutive chunks ``[start + i·c, start + (i+1)·c)`` by onset.

    Notes keep their absolute onsets (so bar positions are unchanged) and their full durations.
    Notes before ``start_beats`` or past the last chunk are dropped.

    Args:
        notes: ``[N, 3]``.
        chunk_beats: chunk length ``c`` in beats (e.g. 16 for 4 bars of 4/4).
        start_beats: onset where the first chunk starts (e.g. the end of the prompt).
        n_chunks: number of chunks; by default just enough to reach the last onset.

    Returns:
        ``n_chunks`` arrays ``[N_i, 3]`` (possibly empty).
    """
    if chunk_beats <= 0:
        raise ValueError(f"chunk_beats must be > 0, got {chunk_beats}")
    index = _bin_index(notes[:, 0] - start_beats, chunk_beats)
    if n_chunks is None:
        n_chunks = int(index.max()) + 1 if len(notes) and index.max() >= 0 else 0
    return [notes[index == i] for i in range(n_chunks)]


def style_similarity_curve(
    continuation: np.ndarray,
    prompt: np.ndarray,
    chunk_beats: float = 4 * BAR_BEATS,
    start_beats: float = 0.0,
    n_chunks: int | None = None,
) -> dict[str, np.ndarray]:
    """Similarity to the prompt of each successive chunk of a continuation ([SPE] Fig. 5).

    A style that drifts away from the prompt shows as a decreasing curve. Time-pitch pairs are
    formed inside each chunk only.

    Args:
        continuation: ``[N, 3]`` generated notes.
        prompt: ``[M, 3]`` the prompt (the reference style).
        chunk_beats, start_beats, n_chunks: as in :func:`split_notes_by_time`.

    Returns:
        ``{"onset_duration": [C], "time_pitch": [C]}``, NaN for a chunk without notes or pairs.
    """
    reference = style_profiles(prompt)
    chunks = split_notes_by_time(continuation, chunk_beats, start_beats, n_chunks)
    curves: dict[str, list[float]] = {name: [] for name in reference}
    for chunk in chunks:
        for name, hist in style_profiles(chunk).items():
            curves[name].append(cosine_similarity(hist, reference[name]))
    return {name: np.asarray(values, dtype=np.float64) for name, values in curves.items()}


def mean_style_similarity(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean over ``(continuation, prompt)`` pairs of :func:`style_similarity`, ignoring NaNs."""
    scores = [style_similarity(cont, prompt) for cont, prompt in pairs]
    names = ("onset_duration", "time_pitch")
    return {name: _nanmean([s[name] for s in scores]) for name in names}


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")
