"""The groove continuation protocol of [SPE] Sec. 3.3, App. C.2, Fig. 5: the parts without a model.

1. **Prompt**: the notes of a test piece that end by the end of bar 2, as ``bos`` + events (no
   ``eos``). The official notebook keeps notes ending strictly *before* the bar line, which drops
   a note ending exactly on it; we keep those.
2. **Sampling** (the runner, not built here): continue to :data:`SAMPLE_TOKENS` tokens, prompt
   included, at :data:`TEMPERATURE` with the grammar (:func:`~stripes.tasks.groove.constraint.
   trio_constraint`), several samples per prompt.
3. **Continuation**: the decoded notes that start at or after the time the prompt reaches.
4. **Chunks**: four chunks of equal duration, from that time to the end of the continuation's
   last note, by onset. (The official code cuts each track at its own end and counts onsets on a
   boundary in both chunks; here the chunks are the same spans for every track, half-open.)
5. **Similarity** of each chunk to the whole reference file, slot by slot, with the
   onset-duration and time-pitch profiles of :mod:`stripes.evaluation.style`: the chunks of all
   samples of one prompt are pooled (their histograms add up), each pitched slot is compared
   with the same slot of the reference, and the figure shows the mean over slots. Drum slots
   have no pitch intervals and are left out, as in [SPE]'s Fig. 5 (the official code gives them
   an onset-drum profile that the figure does not show).
6. **Ceiling**: the real continuation, the reference's own tokens up to the same budget.
   **Floor**: the real continuation of a piece of another style (:func:`other_style`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stripes.evaluation.style import cosine_similarity, style_profiles
from stripes.music.trio_events import TrioVocabulary, decode_tokens, encode_notes, trio_beats
from stripes.music.trio_grammar import TrioGrammar
from stripes.tasks.groove.pieces import BAR_BEATS, bar_ticks

PROMPT_BARS = 2
N_CHUNKS = 4
SAMPLE_TOKENS = 1024
TEMPERATURE = 0.6
METRICS = ("onset_duration", "time_pitch")


def prompt_notes(notes: np.ndarray, bars: int = PROMPT_BARS,
                 bar_beats: int = BAR_BEATS) -> np.ndarray:
    """The notes of ``notes [N, 4]`` that end by the end of bar ``bars``."""
    return notes[notes[:, 1] + notes[:, 2] <= bar_ticks(bars, bar_beats)]


def prompt_tokens(notes: np.ndarray, vocab: TrioVocabulary, bars: int = PROMPT_BARS,
                  bar_beats: int = BAR_BEATS) -> np.ndarray:
    """``bos`` + the events of the prompt (no ``eos``): ``[P]`` int64."""
    return encode_notes(prompt_notes(notes, bars, bar_beats), vocab, bos=True)


def time_reached(tokens: np.ndarray, vocab: TrioVocabulary) -> int:
    """The grid tick the cursor stands at after ``tokens [L]``."""
    grammar = TrioGrammar(vocab)
    grammar.advance_all(np.asarray(tokens)[None, :])
    return int(grammar.time[0])


def continuation_notes(tokens: np.ndarray, prompt_length: int,
                       vocab: TrioVocabulary) -> tuple[np.ndarray, int]:
    """The notes a sample adds to its prompt, and where the continuation starts.

    Args:
        tokens: ``[L]`` the prompt's ``P`` tokens followed by the sampled ones.
        prompt_length: P.

    Returns:
        ``(notes [N, 4], start)``: decoded notes starting at or after ``start``, the tick the
        prompt reaches (absolute times, so bar positions are those of the piece).
    """
    start = time_reached(tokens[:prompt_length], vocab)
    notes = decode_tokens(tokens, vocab)
    return notes[notes[:, 1] >= start], start


def real_continuation(reference: np.ndarray, vocab: TrioVocabulary, start: int,
                      n_tokens: int = SAMPLE_TOKENS) -> np.ndarray:
    """The ceiling: the reference's notes from ``start`` on, within its first ``n_tokens``
    tokens (``bos`` included), i.e. as much music as a sample of the same length."""
    notes = decode_tokens(encode_notes(reference, vocab, bos=True)[:n_tokens], vocab)
    return notes[notes[:, 1] >= start]


def split_chunks(notes: np.ndarray, start: int, n_chunks: int = N_CHUNKS,
                 end: int | None = None) -> list[np.ndarray]:
    """Cut ``notes [N, 4]`` by onset into ``n_chunks`` spans of equal duration.

    Chunk ``i`` holds the notes with ``start + i·d <= onset < start + (i+1)·d``, ``d = (end -
    start) / n_chunks`` (exact integer arithmetic); notes before ``start`` or from ``end`` on are
    left out.

    Args:
        start: first tick of the first chunk. end: end tick of the last chunk (default: the end
            of the last note).

    Returns:
        ``n_chunks`` arrays ``[N_i, 4]`` (possibly empty).
    """
    if end is None:
        end = int((notes[:, 1] + notes[:, 2]).max()) if len(notes) else start
    if end <= start:
        return [notes[:0] for _ in range(n_chunks)]
    index = (notes[:, 1] - start) * n_chunks // (end - start)
    inside = notes[:, 1] >= start
    return [notes[inside & (index == i)] for i in range(n_chunks)]


def slot_profiles(notes: np.ndarray, slot: int) -> dict[str, np.ndarray]:
    """Style profiles of one slot of a trio ``[N, 4]``."""
    return style_profiles(trio_beats(notes[notes[:, 0] == slot]))


def chunk_similarity(samples: Sequence[np.ndarray], reference: np.ndarray, start: int,
                     n_chunks: int = N_CHUNKS,
                     drum_slots: Sequence[int] = ()) -> dict[str, np.ndarray]:
    """Style similarity of each chunk of the continuations of one prompt to the reference.

    Args:
        samples: the continuations (``[N_s, 4]`` each, e.g. from :func:`continuation_notes`),
            each cut by :func:`split_chunks` from ``start`` to its own last note.
        reference: ``[M, 4]`` the whole reference file.
        start: where the continuations start.
        n_chunks: C.
        drum_slots: slots left out (no pitch intervals).

    Returns:
        ``{"slots": [S], "onset_duration": [S, C], "time_pitch": [S, C]}`` over the pitched
        slots ``S`` that have notes in the reference; NaN where a chunk has no notes (or pairs).
    """
    slots = [int(k) for k in np.unique(reference[:, 0]) if int(k) not in set(drum_slots)]
    chunked = [split_chunks(s, start, n_chunks) for s in samples]
    out = {"slots": np.asarray(slots, np.int64)}
    out.update({m: np.full((len(slots), n_chunks), np.nan) for m in METRICS})
    for row, slot in enumerate(slots):
        target = slot_profiles(reference, slot)
        for j in range(n_chunks):
            pooled = [slot_profiles(chunks[j], slot) for chunks in chunked]
            for m in METRICS:
                hist = np.sum([p[m] for p in pooled], axis=0) if pooled else target[m] * 0
                out[m][row, j] = cosine_similarity(hist, target[m])
    return out


def mean_over_slots(similarity: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{metric: [C]}``: the mean over slots of :func:`chunk_similarity`, NaNs ignored (NaN
    where no slot has a value)."""
    out = {}
    for m in METRICS:
        values = similarity[m]
        counts = np.sum(~np.isnan(values), axis=0)
        sums = np.nansum(values, axis=0)
        out[m] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out


def other_style(styles: Sequence[str], seed: int = 0) -> list[int]:
    """For the floor: for each piece ``i``, a piece ``j`` of another style, drawn with
    ``numpy.random.default_rng(seed)``."""
    styles = list(styles)
    rng = np.random.default_rng(seed)
    out = []
    for style in styles:
        others = [j for j, s in enumerate(styles) if s != style]
        if not others:
            raise ValueError("the floor needs at least two styles")
        out.append(others[int(rng.integers(len(others)))])
    return out
