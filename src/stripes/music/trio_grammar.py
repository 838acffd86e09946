"""The grammar of the trio event format, for constrained sampling ([SPE] App. C.2).

A small state machine over the tokens of :class:`~stripes.music.trio_events.TrioVocabulary`,
batched over B sequences, in numpy: the generator asks :meth:`TrioGrammar.allowed` for the mask
of tokens that may come next (``[B, V]``, True where allowed) and reports each drawn token with
:meth:`TrioGrammar.advance`. The state is the time ``[B]`` (grid ticks), the onset of the note
sounding on each track and pitch ``[B, K, 128]`` (-1: silent), and whether ``eos`` was seen
``[B]``. Rules:

* ``note_off(k, p)`` only while a note ``(k, p)`` sounds (no spurious note-offs), and not at
  its onset: every note lasts at least one tick, as every encoded note does, so the decoded notes
  are unambiguous;
* ``note_on(k, p)`` only while no note ``(k, p)`` sounds (the encoder never overlaps one pitch
  on one track, see :func:`~stripes.music.trio_events.clean_notes`);
* no backward shift. Shifts are never negative in beats, but the offset of ``time_shift(b, o)``
  is the *absolute* tick inside the target beat, so ``time_shift(0, o)`` with ``o`` at or before
  the current offset inside the beat would move time back (or nowhere): those are forbidden.
  ``time_shift(b, o)`` with ``b >= 1`` always moves forward;
* ``eos`` is always allowed, and after it only ``eos`` (the padding); ``bos`` never comes next
  (it only opens a sequence).

The official SPE sampler forbids spurious note-offs and backward shifts; the one-tick minimum
and the rule on note-ons are ours (they keep the decoded notes unambiguous).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stripes.music.trio_events import (
    EOS,
    N_PITCHES,
    NOTE_OFF,
    NOTE_ON,
    TIME_SHIFT,
    TrioVocabulary,
)


class TrioGrammar:
    """Grammar state of ``batch`` token sequences (all start at time 0, nothing sounding).

    Args:
        vocab: the token vocabulary.
        batch: B, number of sequences.
    """

    def __init__(self, vocab: TrioVocabulary, batch: int = 1):
        self.vocab = vocab
        self.time = np.zeros(batch, np.int64)
        self.onset = np.full((batch, vocab.n_tracks, N_PITCHES), -1, np.int64)
        self.ended = np.zeros(batch, bool)
        tab = vocab.tables
        shifts = slice(vocab.shift_base, vocab.eos)
        self._shift_beats, self._shift_offset = tab["beats"][shifts], tab["offset"][shifts]

    @property
    def batch(self) -> int:
        """B."""
        return len(self.time)

    def allowed(self) -> np.ndarray:
        """Tokens that may come next: bool ``[B, V]``."""
        v, notes = self.vocab, self.vocab.n_tracks * N_PITCHES
        mask = np.zeros((self.batch, v.size), bool)
        onset = self.onset.reshape(self.batch, notes)
        mask[:, :notes] = onset < 0
        mask[:, notes : 2 * notes] = (onset >= 0) & (onset < self.time[:, None])
        offset = (self.time % v.ticks_per_beat)[:, None]
        forward = (self._shift_beats[None, :] > 0) | (self._shift_offset[None, :] > offset)
        mask[:, v.shift_base : v.eos] = forward
        mask[self.ended] = False
        mask[:, v.eos] = True
        return mask

    def advance(self, tokens: Sequence[int] | np.ndarray) -> None:
        """Take one token per sequence, ``[B]`` ids (allowed or not: the state stays sane)."""
        tokens = np.asarray(tokens, dtype=np.int64).reshape(self.batch)
        tab, t = self.vocab.tables, self.vocab.ticks_per_beat
        kind = tab["kind"][tokens]
        live = ~self.ended
        rows = np.flatnonzero(live & (kind == NOTE_ON))
        k, p = tab["track"][tokens[rows]], tab["pitch"][tokens[rows]]
        silent = self.onset[rows, k, p] < 0  # a second note-on keeps the first onset
        self.onset[rows[silent], k[silent], p[silent]] = self.time[rows[silent]]
        rows = np.flatnonzero(live & (kind == NOTE_OFF))
        self.onset[rows, tab["track"][tokens[rows]], tab["pitch"][tokens[rows]]] = -1
        rows = np.flatnonzero(live & (kind == TIME_SHIFT))
        target = (self.time[rows] - self.time[rows] % t + tab["beats"][tokens[rows]] * t
                  + tab["offset"][tokens[rows]])
        self.time[rows] = np.maximum(self.time[rows], target)
        self.ended |= kind == EOS

    def advance_all(self, tokens: np.ndarray) -> None:
        """Take ``[B, L]`` tokens, one column at a time."""
        for column in np.asarray(tokens, dtype=np.int64).reshape(self.batch, -1).T:
            self.advance(column)


def first_violation(tokens: Sequence[int] | np.ndarray, vocab: TrioVocabulary,
                    start: int = 0) -> int | None:
    """Index of the first token of ``tokens [L]`` the grammar forbids, or None.

    Tokens before ``start`` are taken without checking (e.g. a leading ``bos``, or a prompt).
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    grammar = TrioGrammar(vocab)
    for i, token in enumerate(tokens.tolist()):
        if i >= start and not grammar.allowed()[0, token]:
            return i
        grammar.advance([token])
    return None
