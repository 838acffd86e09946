"""The multi-track event format of [SPE] App. C.2, after Cífka et al.'s Groove2Groove encoding.

A *trio* is an int note array ``[N, 4]`` of ``(track, start, duration, pitch)`` on a grid of
:data:`TICKS_PER_BEAT` = 12 ticks per beat (a beat is a quarter note), so that both 16th notes
(3 ticks) and eighth-note triplets (4 ticks) fall on the grid. Tokens, in this id order (the
order of the official SPE groove code, so ids match its models):

* ``note_on(track, pitch)``: a note of ``track`` starts now (K · 128 tokens);
* ``note_off(track, pitch)``: the earliest sounding note ``(track, pitch)`` ends now (K · 128);
* ``time_shift(b, o)``: move to tick ``o`` of the beat ``b`` beats after the current one (M · 12);
* ``eos`` (end, also the padding) and ``bos`` (start of sequence).

With K = 3 tracks and a maximum shift M = 2 beats: 384 + 384 + 24 + 2 = **794** tokens ([SPE]
App. C.2). The shift offset ``o`` is the *absolute* tick inside the target beat, not a distance:
``time_shift(0, o)`` (``o`` in 1..11) moves inside the current beat, ``time_shift(b, o)`` with
``b`` in 1..M-1 and ``o`` in 0..11 moves ``b`` beats on, and ``time_shift(M, 0)`` is the longest
step; longer gaps repeat it. That gives 11 + (M-1)·12 + 1 = M·12 shift tokens. There are no
velocity, program or tempo tokens (no dynamics).

Drums are one track like the others ([SPE]'s trios: bass, drums, one harmonic track): their
"pitch" is the General MIDI drum key, and their notes keep their MIDI durations (on and off
events, as for pitched tracks). Only the score written back marks that track as a drum track.

At one time, note-offs come before note-ons (a repeated note ends before it starts again), each
group ordered by track then pitch. :func:`clean_notes` makes a note array encodable: notes of one
track and pitch never overlap (a note is cut where the next one of its pitch starts), and every
note lasts at least one tick.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from stripes.extras import needs

with needs("music"):
    from symusic.core import NoteTickList, ScoreTick, TempoTick, TimeSignatureTick, TrackTick

TICKS_PER_BEAT = 12
MAX_SHIFT_BEATS = 2
N_TRACKS = 3
N_PITCHES = 128

# Token kinds in TrioVocabulary.kind.
NOTE_ON, NOTE_OFF, TIME_SHIFT, EOS, BOS = range(5)
KIND_NAMES = ("note_on", "note_off", "time_shift", "eos", "bos")


@dataclass(frozen=True)
class TrioVocabulary:
    """Token ids of the format for ``n_tracks`` tracks (the module docstring has the table).

    Args:
        n_tracks: K, tracks of a piece (3 for [SPE]'s trios).
        ticks_per_beat: grid resolution (12).
        max_shift_beats: M, the longest single time shift is ``time_shift(M, 0)`` (2).
    """

    n_tracks: int = N_TRACKS
    ticks_per_beat: int = TICKS_PER_BEAT
    max_shift_beats: int = MAX_SHIFT_BEATS

    @property
    def n_shifts(self) -> int:
        """Number of time-shift tokens, ``M · ticks_per_beat``."""
        return self.max_shift_beats * self.ticks_per_beat

    @property
    def shift_base(self) -> int:
        """Id of ``time_shift(0, 1)``, the first shift token."""
        return 2 * self.n_tracks * N_PITCHES

    @property
    def eos(self) -> int:
        """End-of-sequence id (also the padding id, as in the official code)."""
        return self.shift_base + self.n_shifts

    @property
    def bos(self) -> int:
        """Start-of-sequence id."""
        return self.eos + 1

    @property
    def size(self) -> int:
        """Vocabulary size V (794 for the defaults)."""
        return self.bos + 1

    def note_on(self, track: int, pitch: int) -> int:
        """Id of ``note_on(track, pitch)``."""
        self._check_note(track, pitch)
        return track * N_PITCHES + pitch

    def note_off(self, track: int, pitch: int) -> int:
        """Id of ``note_off(track, pitch)``."""
        self._check_note(track, pitch)
        return (self.n_tracks + track) * N_PITCHES + pitch

    def time_shift(self, beats: int, offset: int) -> int:
        """Id of ``time_shift(beats, offset)``: shift ``k = beats · T + offset`` has id
        ``shift_base + k - 1`` (valid ``k`` are 1..M·T, with ``offset < T``)."""
        t, m = self.ticks_per_beat, self.max_shift_beats
        if not (0 <= offset < t and 0 <= beats <= m and 1 <= beats * t + offset <= m * t):
            raise ValueError(f"no token time_shift({beats}, {offset}) (T = {t}, M = {m})")
        return self.shift_base + beats * t + offset - 1

    def _check_note(self, track: int, pitch: int) -> None:
        if not (0 <= track < self.n_tracks and 0 <= pitch < N_PITCHES):
            raise ValueError(f"no note token for track {track}, pitch {pitch}")

    @cached_property
    def tables(self) -> dict[str, np.ndarray]:
        """Per-token int64 arrays ``[V]``: ``kind`` (:data:`NOTE_ON` ...), ``track``, ``pitch``
        (-1 off notes), ``beats``, ``offset`` (-1 off shifts)."""
        v, notes = self.size, self.n_tracks * N_PITCHES
        kind = np.full(v, TIME_SHIFT, np.int64)
        kind[:notes], kind[notes : 2 * notes] = NOTE_ON, NOTE_OFF
        kind[self.eos], kind[self.bos] = EOS, BOS
        ids = np.arange(2 * notes) % notes
        track = np.full(v, -1, np.int64)
        pitch = np.full(v, -1, np.int64)
        track[: 2 * notes], pitch[: 2 * notes] = ids // N_PITCHES, ids % N_PITCHES
        beats = np.full(v, -1, np.int64)
        offset = np.full(v, -1, np.int64)
        k = np.arange(1, self.n_shifts + 1)
        shifts = slice(self.shift_base, self.eos)
        beats[shifts], offset[shifts] = k // self.ticks_per_beat, k % self.ticks_per_beat
        return {"kind": kind, "track": track, "pitch": pitch, "beats": beats, "offset": offset}

    def describe(self, token: int) -> tuple:
        """A readable token: ``("note_on", track, pitch)``, ``("time_shift", beats, offset)``,
        ``("eos",)``..."""
        if not 0 <= token < self.size:
            raise ValueError(f"token {token} outside the vocabulary of {self.size}")
        tab = self.tables
        kind = int(tab["kind"][token])
        if kind in (NOTE_ON, NOTE_OFF):
            return (KIND_NAMES[kind], int(tab["track"][token]), int(tab["pitch"][token]))
        if kind == TIME_SHIFT:
            return (KIND_NAMES[kind], int(tab["beats"][token]), int(tab["offset"][token]))
        return (KIND_NAMES[kind],)


def clean_notes(notes: np.ndarray) -> np.ndarray:
    """An encodable trio: durations of at least 1 tick, no two notes of one ``(track, pitch)``
    overlapping (a note is cut where the next one of its pitch starts; of notes starting
    together, the longest is kept), sorted by start, track, pitch.

    Args:
        notes: ``[N, 4]`` (track, start, duration, pitch).

    Returns:
        ``[N', 4]`` int64, ``N' <= N``.
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4).copy()
    if len(notes) == 0:
        return notes
    notes[:, 2] = np.maximum(notes[:, 2], 1)
    # Group by (track, pitch), starts ascending, longest first among equal starts.
    order = np.lexsort((-notes[:, 2], notes[:, 1], notes[:, 3], notes[:, 0]))
    notes = notes[order]
    same_key = (notes[1:, 0] == notes[:-1, 0]) & (notes[1:, 3] == notes[:-1, 3])
    duplicate = same_key & (notes[1:, 1] == notes[:-1, 1])
    notes = notes[np.concatenate([[True], ~duplicate])]
    same_key = (notes[1:, 0] == notes[:-1, 0]) & (notes[1:, 3] == notes[:-1, 3])
    ends = notes[:, 1] + notes[:, 2]
    cut = np.where(same_key, np.minimum(ends[:-1], notes[1:, 1]), ends[:-1])
    notes[:-1, 2] = cut - notes[:-1, 1]
    return notes[np.lexsort((notes[:, 3], notes[:, 0], notes[:, 1]))]


def shift_tokens(old: int, new: int, vocab: TrioVocabulary) -> list[int]:
    """The time-shift ids moving the cursor from tick ``old`` to tick ``new >= old``.

    Whole steps of ``time_shift(M, 0)`` first, then one ``time_shift(b, o)`` for the rest (none
    when ``new`` is the start of the beat the whole steps reach).
    """
    t, m = vocab.ticks_per_beat, vocab.max_shift_beats
    if new < old:
        raise ValueError(f"time cannot move back from {old} to {new}")
    if new == old:
        return []
    new_beat, offset = divmod(new, t)
    steps, rest = divmod(new_beat - old // t, m)
    out = [vocab.time_shift(m, 0)] * steps
    if rest or offset:
        out.append(vocab.time_shift(rest, offset))
    return out


def encode_notes(
    notes: np.ndarray, vocab: TrioVocabulary, *, bos: bool = False, eos: bool = False
) -> np.ndarray:
    """Tokens of a trio (cleaned first with :func:`clean_notes`); the cursor starts at tick 0.

    Args:
        notes: ``[N, 4]`` (track, start, duration, pitch) on the 12-per-beat grid, starts >= 0.
        vocab: the vocabulary (its ``n_tracks`` must exceed every track index).
        bos, eos: put :attr:`TrioVocabulary.bos` first / :attr:`TrioVocabulary.eos` last.

    Returns:
        ``[L]`` int64 ids.
    """
    notes = clean_notes(notes)
    if len(notes) and (notes[:, 1].min() < 0 or notes[:, 0].max() >= vocab.n_tracks):
        raise ValueError("notes need starts >= 0 and tracks below vocab.n_tracks")
    offs = np.stack([notes[:, 1] + notes[:, 2], np.zeros(len(notes), np.int64), notes[:, 0],
                     notes[:, 3]], axis=1)
    ons = np.stack([notes[:, 1], np.ones(len(notes), np.int64), notes[:, 0], notes[:, 3]], axis=1)
    events = np.concatenate([offs, ons])
    events = events[np.lexsort((events[:, 3], events[:, 2], events[:, 1], events[:, 0]))]
    base = np.where(events[:, 1] == 0, vocab.n_tracks, 0)  # note_off ids follow the note_ons
    ids = (base + events[:, 2]) * N_PITCHES + events[:, 3]
    out = [vocab.bos] if bos else []
    cursor = 0
    for time, token in zip(events[:, 0].tolist(), ids.tolist(), strict=True):
        if time != cursor:
            out.extend(shift_tokens(cursor, time, vocab))
            cursor = time
        out.append(token)
    if eos:
        out.append(vocab.eos)
    return np.asarray(out, dtype=np.int64)


def decode_tokens(tokens: Sequence[int] | np.ndarray, vocab: TrioVocabulary,
                  close_open: bool = True) -> np.ndarray:
    """The trio of a token sequence; lenient where the grammar would not be.

    ``bos`` is skipped and decoding stops at the first ``eos``. A note-off closes the earliest
    sounding note of its track and pitch (none sounding: ignored); a note lasts at least one
    tick. A shift that would not move forward (``time_shift(0, o)`` with ``o`` at or before the
    current offset) leaves the time where it is.

    Args:
        tokens: ``[L]`` ids.
        vocab: the vocabulary.
        close_open: end notes still sounding at the end at the final time (False: drop them, as
            the official decoder does).

    Returns:
        ``[N, 4]`` int64 (track, start, duration, pitch), sorted by start, track, pitch.
    """
    tab, t = vocab.tables, vocab.ticks_per_beat
    time = 0
    sounding: dict[tuple[int, int], deque[int]] = {}
    done: list[tuple[int, int, int, int]] = []
    for token in np.asarray(tokens, dtype=np.int64).tolist():
        kind = int(tab["kind"][token])
        if kind == EOS:
            break
        if kind == TIME_SHIFT:
            time = max(time, time - time % t + int(tab["beats"][token]) * t
                       + int(tab["offset"][token]))
        elif kind in (NOTE_ON, NOTE_OFF):
            key = (int(tab["track"][token]), int(tab["pitch"][token]))
            if kind == NOTE_ON:
                sounding.setdefault(key, deque()).append(time)
            elif sounding.get(key):
                start = sounding[key].popleft()
                done.append((key[0], start, max(time - start, 1), key[1]))
    if close_open:
        done.extend((k[0], s, max(time - s, 1), k[1]) for k, q in sounding.items() for s in q)
    notes = np.asarray(done, dtype=np.int64).reshape(-1, 4)
    return notes[np.lexsort((notes[:, 3], notes[:, 0], notes[:, 1]))]


def quantize_ticks(ticks: np.ndarray, tpq: int, ticks_per_beat: int = TICKS_PER_BEAT) -> np.ndarray:
    """MIDI ticks (``tpq`` per quarter) to the nearest grid tick, halves rounded up."""
    ticks = np.asarray(ticks, dtype=np.int64)
    return (2 * ticks * ticks_per_beat + tpq) // (2 * tpq)


def score_to_trio(score: ScoreTick, slots: Sequence[Sequence[int]],
                  ticks_per_beat: int = TICKS_PER_BEAT) -> np.ndarray:
    """A tick-time score's notes on the 12-per-beat grid as a trio.

    The beat is the score's quarter note (``ticks_per_quarter`` ticks; the tempo map only turns
    beats into seconds and is not needed). Onsets and ends are rounded to the nearest grid tick,
    then :func:`clean_notes` applies.

    Args:
        score: a score in tick time (what ``symusic.Score(path)`` reads).
        slots: for each trio track k, the indices of the score's tracks merged into it (an empty
            entry gives an empty track).
        ticks_per_beat: grid resolution.

    Returns:
        ``[N, 4]`` int64 (track, start, duration, pitch).
    """
    if not isinstance(score, ScoreTick):
        raise TypeError(f"need a score in tick time, got {type(score).__name__}")
    parts = []
    for k, indices in enumerate(slots):
        for i in indices:
            arrays = score.tracks[i].notes.numpy()
            start = quantize_ticks(arrays["time"], score.ticks_per_quarter, ticks_per_beat)
            end = quantize_ticks(arrays["time"].astype(np.int64) + arrays["duration"],
                                 score.ticks_per_quarter, ticks_per_beat)
            parts.append(np.stack([np.full(len(start), k), start, end - start,
                                   arrays["pitch"].astype(np.int64)], axis=1))
    notes = np.concatenate(parts) if parts else np.zeros((0, 4), np.int64)
    return clean_notes(notes)


def trio_to_score(
    notes: np.ndarray,
    names: Sequence[str],
    programs: Sequence[int] | None = None,
    drums: Sequence[bool] | None = None,
    qpm: float = 120.0,
    velocity: int = 80,
    ticks_per_beat: int = TICKS_PER_BEAT,
) -> ScoreTick:
    """A score at ``ticks_per_beat`` ticks per quarter (one tick per grid tick), one track per
    name, in 4/4 at ``qpm``; every note gets ``velocity`` (the format has no dynamics).

    Args:
        notes: ``[N, 4]`` (track, start, duration, pitch).
        names: track names, one per trio track.
        programs: General MIDI programs (0 by default). drums: which tracks are drum tracks.
        qpm: tempo in quarters per minute.
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
    # symusic's core tick classes, not its factories (symusic.Score...), which mypy cannot use
    # as types.
    score = ScoreTick(ticks_per_beat)
    score.time_signatures.append(TimeSignatureTick(0, 4, 4))
    score.tempos.append(TempoTick(0, qpm=qpm))
    programs = programs if programs is not None else [0] * len(names)
    drums = drums if drums is not None else [False] * len(names)
    for k, (name, program, drum) in enumerate(zip(names, programs, drums, strict=True)):
        track = TrackTick(name, int(program), bool(drum))
        mine = notes[notes[:, 0] == k]
        if len(mine):
            track.notes.extend(NoteTickList.from_numpy(
                mine[:, 1].astype(np.int32), mine[:, 2].astype(np.int32),
                mine[:, 3].astype(np.int8), np.full(len(mine), velocity, dtype=np.int8)))
        score.tracks.append(track)
    return score


def trio_beats(notes: np.ndarray, ticks_per_beat: int = TICKS_PER_BEAT) -> np.ndarray:
    """``[N, 4]`` grid notes to ``[N, 3]`` float ``(onset_beats, duration_beats, pitch)``, the
    note layout of :mod:`stripes.evaluation.style` (track column dropped)."""
    notes = np.asarray(notes).reshape(-1, 4)
    scale = 1.0 / ticks_per_beat
    return np.stack([notes[:, 1] * scale, notes[:, 2] * scale, notes[:, 3].astype(np.float64)],
                    axis=1)
