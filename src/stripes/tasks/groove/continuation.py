"""The runner of the groove continuation protocol ([SPE] Sec. 3.3, App. C.2, Fig. 5).

For each test piece (a *style*): prompt with its first bars, sample ``samples`` continuations to
``tokens`` tokens at ``temperature`` under the trio grammar, cut each into equal-duration chunks
and score each chunk's style against the whole piece (:mod:`~stripes.tasks.groove.protocol`).
:func:`reference_scores` scores the same way the real continuation (the ceiling) and the real
continuation of another style (the floor); they need no model, so an experiment computes them
once for all its runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stripes.generation.decode import generate
from stripes.models import StripesTransformer
from stripes.music.trio_events import TrioVocabulary, trio_to_score
from stripes.tasks.groove import protocol
from stripes.tasks.groove.config import GrooveSampling
from stripes.tasks.groove.constraint import trio_constraint
from stripes.tasks.groove.pieces import TrioPiece

Scores = dict[str, list[float]]  # metric -> [C] mean over slots


def sample_piece(model: StripesTransformer, reference: np.ndarray, vocab: TrioVocabulary,
                 sampling: GrooveSampling, seed: int) -> tuple[np.ndarray, int]:
    """``samples`` continuations of the prompt of ``reference [N, 4]``.

    One PE code and the sampling noise come from ``seed`` (the code is drawn on the CPU, so any
    device agrees); the samples are one batch.

    Returns:
        ``(tokens [S, tokens], P)``: prompt + sampled ids of each sample, the prompt length.
    """
    prompt = protocol.prompt_tokens(reference, vocab, sampling.prompt_bars)
    if len(prompt) >= sampling.tokens:
        raise ValueError(f"the {sampling.prompt_bars}-bar prompt has {len(prompt)} tokens, not "
                         f"fewer than sampling.tokens ({sampling.tokens})")
    device = next(model.parameters()).device
    ids = torch.as_tensor(prompt, device=device).repeat(sampling.samples, 1)
    code = model.draw_pe_code(sampling.tokens, None, torch.Generator().manual_seed(seed))
    gen = torch.Generator(device=device).manual_seed(seed)
    out = generate(model, ids, sampling.tokens - len(prompt), temperature=sampling.temperature,
                   generator=gen, allowed=trio_constraint(vocab, ids), code=code)
    return out.cpu().numpy(), len(prompt)


def score_continuations(continuations: Sequence[np.ndarray], reference: np.ndarray, start: int,
                        n_chunks: int, drum_slots: Sequence[int]) -> Scores:
    """Each chunk's similarity to ``reference``, pooled over ``continuations`` and averaged
    over the pitched slots: ``{metric: [C]}`` (NaN where no chunk has notes)."""
    sim = protocol.chunk_similarity(continuations, reference, start, n_chunks, drum_slots)
    return {m: [float(v) for v in values]
            for m, values in protocol.mean_over_slots(sim).items()}


def continue_pieces(model: StripesTransformer, pieces: Sequence[TrioPiece],
                    sampling: GrooveSampling, midi_dir: Path | None = None,
                    progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Sample and score the first ``sampling.prompts`` pieces (prompt ``i`` seeded with
    ``sampling.seed + i``).

    Returns:
        One entry per piece: ``name``, ``style``, ``prompt_tokens``, ``start`` (tick), ``notes``
        per sample, ``eos`` (samples that ended early) and ``scores`` (``{metric: [C]}``).
        With ``midi_dir``, every sample is written there as ``<name>_<s>.mid``.
    """
    vocab = TrioVocabulary(n_tracks=len(pieces[0].roles))
    out = []
    for i, piece in enumerate(pieces[: sampling.prompts]):
        reference = piece.trio()
        tokens, n_prompt = sample_piece(model, reference, vocab, sampling, sampling.seed + i)
        decoded = [protocol.continuation_notes(t, n_prompt, vocab) for t in tokens]
        start = decoded[0][1]
        notes = [d[0] for d in decoded]
        out.append({
            "name": piece.name, "style": piece.style, "prompt_tokens": n_prompt, "start": start,
            "notes": [len(n) for n in notes],
            "eos": int(sum(vocab.eos in t[n_prompt:] for t in tokens.tolist())),
            "scores": score_continuations(notes, reference, start, sampling.chunks,
                                          piece.drum_slots)})
        if midi_dir is not None:
            write_samples(midi_dir, piece, tokens, vocab)
        if progress is not None:
            progress(piece.name)
    return out


def write_samples(folder: Path, piece: TrioPiece, tokens: np.ndarray,
                  vocab: TrioVocabulary) -> None:
    """Each sample ``tokens [S, L]`` (prompt included) as ``<folder>/<name>_<s>.mid``."""
    from stripes.files import atomic_write
    from stripes.music.trio_events import decode_tokens

    folder.mkdir(parents=True, exist_ok=True)
    drums = [k in piece.drum_slots for k in range(len(piece.roles))]
    for s, row in enumerate(tokens):
        score = trio_to_score(decode_tokens(row, vocab), piece.slot_names, drums=drums,
                              qpm=piece.qpm)
        atomic_write(folder / f"{piece.name}_{s}.mid", midi_writer(score.dumps_midi()))


def midi_writer(data: bytes) -> Callable[[Any], Any]:
    """The writer of ``data`` for :func:`stripes.files.atomic_write`."""
    return lambda f: f.write(data)


def reference_scores(pieces: Sequence[TrioPiece], sampling: GrooveSampling,
                     floor_seed: int = 0) -> list[dict[str, Any]]:
    """The ceiling and the floor of the first ``sampling.prompts`` pieces.

    Ceiling: the piece's own notes after its prompt, within ``sampling.tokens`` tokens (as much
    music as a sample). Floor: the same for another piece (of another style, drawn by
    :func:`~stripes.tasks.groove.protocol.other_style` with ``floor_seed`` among the prompted
    pieces), scored against this piece.

    Returns:
        One entry per piece: ``name``, ``style``, ``floor_piece``, ``ceiling`` and ``floor``
        (``{metric: [C]}`` each).
    """
    used = list(pieces[: sampling.prompts])
    vocab = TrioVocabulary(n_tracks=len(used[0].roles))
    real = []
    for piece in used:
        reference = piece.trio()
        prompt = protocol.prompt_tokens(reference, vocab, sampling.prompt_bars)
        start = protocol.time_reached(prompt, vocab)
        real.append((protocol.real_continuation(reference, vocab, start, sampling.tokens), start))
    others = protocol.other_style([p.style for p in used], floor_seed)
    out = []
    for i, piece in enumerate(used):
        reference, j = piece.trio(), others[i]
        out.append({
            "name": piece.name, "style": piece.style, "floor_piece": used[j].name,
            "ceiling": score_continuations([real[i][0]], reference, real[i][1], sampling.chunks,
                                           piece.drum_slots),
            "floor": score_continuations([real[j][0]], reference, real[j][1], sampling.chunks,
                                         piece.drum_slots)})
    return out
