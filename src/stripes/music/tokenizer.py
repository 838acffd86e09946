"""REMI tokens through miditok, and the event grammar of those tokens.

One token stream per piece with ``Program`` tokens: the program of a note is its track index in
the corpus (POP909: MELODY 0, BRIDGE 1, PIANO 2; chorales: Soprano 0, Alto 1, Tenor 2, Bass 3),
so decoding gives the tracks back. No velocities (the pianorolls are binary), 4/4 bars only.
A REMI note is ``Position Program Pitch Duration`` (later notes at the same position repeat
``Program Pitch Duration``); :class:`EventGrammar` states which token type may follow which.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stripes.extras import needs
from stripes.files import atomic_write
from stripes.music.midi_io import BAR_STEPS, STEPS_PER_QUARTER, notes_to_score, resample_score
from stripes.music.pianoroll import pianoroll_to_notes, split_tracks

with needs("music"):
    with needs("music"):
        from symusic.core import Score, ScoreTick

TOKENIZER_FILE = "tokenizer.json"
PROGRAMS = (0, 1, 2, 3)


def build_tokenizer(beat_res: dict | None = None, pitch_range: tuple[int, int] = (21, 109)):
    """A miditok REMI tokenizer: one stream with programs 0..3, no velocities or time signatures.

    ``beat_res`` maps beat ranges to positions per beat (default ``{(0, 4): 8, (4, 12): 4}``:
    32nd notes within a bar, coarser durations beyond a bar).
    """
    with needs("music"):
        from miditok import REMI, TokenizerConfig

    config = TokenizerConfig(
        pitch_range=pitch_range,
        beat_res=beat_res or {(0, 4): 8, (4, 12): 4},
        use_velocities=False,
        use_programs=True,
        one_token_stream_for_programs=True,
        programs=list(PROGRAMS),
        use_time_signatures=False,
        use_pitchdrum_tokens=False,
    )
    return REMI(config)


def save_tokenizer(tokenizer, out_dir: str | Path) -> Path:
    """Write miditok's ``tokenizer.json`` (config and versions) into ``out_dir``; returns it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(out_dir, filename=TOKENIZER_FILE)
    return out_dir / TOKENIZER_FILE


def load_tokenizer(path: str | Path):
    """The REMI tokenizer saved at ``path`` (a ``tokenizer.json`` or the folder holding it)."""
    with needs("music"):
        from miditok import REMI

    path = Path(path)
    return REMI(params=path / TOKENIZER_FILE if path.is_dir() else path)


def score_to_ids(tokenizer, score: Score) -> list[int]:
    """Token ids of a score (all tracks merged into one stream by program); ``score`` is typed
    as ``symusic.Score(...)`` returns it (symusic's generic ``Score``), a ``ScoreTick`` included."""
    seq = tokenizer.encode(score)
    return list(seq.ids if hasattr(seq, "ids") else seq[0].ids)


def ids_to_score(tokenizer, ids: Sequence[int]) -> ScoreTick:
    """Score at 16 ticks per quarter of token ids; one track per program, ordered by program."""
    score = tokenizer.decode([int(i) for i in ids])
    score.tracks.sort(key=lambda t: t.program)
    return resample_score(score, STEPS_PER_QUARTER)


def notes_to_ids(
    tokenizer, notes: np.ndarray, tracks: Sequence[int], downbeat: int = 0
) -> list[int]:
    """Token ids of corpus notes ``[N, 4]`` (track, start, duration, pitch) of the given tracks.

    The notes are moved by ``(-downbeat) % 64`` steps so that REMI bars fall on the piece's bar
    lines; each track keeps its index as program.
    """
    lead = (-int(downbeat)) % BAR_STEPS
    parts = [notes[notes[:, 0] == k][:, 1:] + np.array([lead, 0, 0]) for k in tracks]
    score = notes_to_score(parts, [str(k) for k in tracks], programs=list(tracks))
    return score_to_ids(tokenizer, score)


def pianoroll_to_ids(
    tokenizer, roll: np.ndarray, programs: Sequence[int] | None = None
) -> list[int]:
    """Token ids of a stacked pianoroll ``[T, K * 128]`` starting on a bar line (track k gets
    program ``programs[k]``, default k)."""
    rolls = split_tracks(np.asarray(roll, dtype=bool))
    programs = list(programs) if programs is not None else list(range(len(rolls)))
    parts = [pianoroll_to_notes(r) for r in rolls]
    return score_to_ids(tokenizer, notes_to_score(parts, [str(p) for p in programs], programs))


def _token_types(tokenizer) -> list[str]:
    """Type of every id (``'Pitch'`` for ``'Pitch_60'``), ``[V]``."""
    names = sorted(tokenizer.vocab.items(), key=lambda kv: kv[1])
    return [name.split("_", 1)[0] for name, _ in names]


def follow_table(types: set[str]) -> dict[str, set[str]]:
    """Token type -> the types that may come next, for REMI with or without programs/velocities."""
    known = {
        "PAD",
        "BOS",
        "EOS",
        "MASK",
        "Bar",
        "Position",
        "Program",
        "Pitch",
        "Velocity",
        "Duration",
    }
    if types - known:
        raise ValueError(
            f"event grammar supports plain REMI only; unknown types {sorted(types - known)}"
        )
    note = "Program" if "Program" in types else "Pitch"
    return {
        "BOS": {"Bar"},
        "Bar": {"Bar", "Position", "EOS"},
        "Position": {note},
        "Program": {"Pitch"},
        "Pitch": {"Velocity" if "Velocity" in types else "Duration"},
        "Velocity": {"Duration"},
        "Duration": {note, "Position", "Bar", "EOS"},
        "EOS": {"PAD"},
        "PAD": {"PAD"},
        "MASK": set(),
    }


class EventGrammar:
    """Which token may follow which: ``mask [V, V]`` bool, row = previous token id.

    ``allowed_next`` gives one row (a constraint for sampling); ``is_valid_sequence`` checks a
    whole sequence against the same rule, so constrained sampling only yields valid sequences.
    """

    def __init__(self, types: Sequence[str]):
        self.types = list(types)
        table = follow_table(set(self.types))
        by_type = np.array(self.types)
        rows = [np.isin(by_type, sorted(table[t])) for t in self.types]
        self.mask = torch.from_numpy(np.stack(rows))
        self.first = torch.from_numpy(np.isin(by_type, ["BOS", "Bar"]))

    @classmethod
    def from_tokenizer(cls, tokenizer) -> EventGrammar:
        """The grammar of a miditok REMI tokenizer's vocabulary."""
        return cls(_token_types(tokenizer))

    def allowed_next(self, prev_token_id: int | None) -> torch.Tensor:
        """Bool mask ``[V]`` of the tokens allowed after ``prev_token_id`` (None: at the start)."""
        return (
            self.first.clone() if prev_token_id is None else self.mask[int(prev_token_id)].clone()
        )

    def is_valid_sequence(self, ids: Sequence[int] | torch.Tensor) -> bool:
        """True when the sequence starts with BOS or Bar and every step follows the grammar."""
        ids = torch.as_tensor(list(ids), dtype=torch.long)
        if len(ids) == 0:
            return True
        if not self.first[ids[0]]:
            return False
        return bool(self.mask[ids[:-1], ids[1:]].all())


def write_tokens(pieces: Sequence[np.ndarray], downbeats: Sequence[int] | np.ndarray,
                 split: np.ndarray, tracks: Sequence[int], out_dir: str | Path,
                 progress: bool = False) -> dict:
    """REMI ids of the pieces' notes ``[N, 4]`` (``tracks`` only) into ``out_dir/tokens.npz``:
    ``ids [N]`` int16, ``offsets [S+1]``, ``split [S]``; plus ``tokenizer.json``. Returns a
    summary (vocabulary size, token count)."""
    from tqdm.auto import tqdm

    tokenizer = build_tokenizer()
    seqs = [notes_to_ids(tokenizer, notes, tracks, int(db))
            for notes, db in tqdm(list(zip(pieces, downbeats, strict=True)), desc="tokens",
                                  disable=not progress)]
    offsets = np.cumsum([0] + [len(s) for s in seqs])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = np.concatenate(seqs).astype(np.int16)
    arrays: dict[str, Any] = {"ids": ids, "offsets": offsets, "split": np.asarray(split, np.int8)}
    atomic_write(out_dir / "tokens.npz", lambda f: np.savez(f, **arrays))
    save_tokenizer(tokenizer, out_dir)
    return {"vocab_size": len(tokenizer), "tokens": int(offsets[-1])}
