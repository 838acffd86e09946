"""Sampling from a trained language model: the REMI grammar as a constraint, seeded
continuations, and MIDI out of a checkpoint (``stripes generate``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from stripes.extras import needs
from stripes.generation.decode import generate
from stripes.models import StripesTransformer
from stripes.tasks.lm.train import load_checkpoint_tokenizer, load_language_model

SPECIAL_TOKENS = ("PAD", "BOS", "EOS", "MASK")


def grammar_constraint(tokenizer) -> Callable[[Tensor], Tensor]:
    """The REMI event grammar as a sampling constraint (last ids ``[B]`` -> allowed ``[B, V]``).

    Special tokens (PAD, BOS, EOS, MASK) are never sampled: a continuation does not end itself.
    """
    from stripes.music.tokenizer import EventGrammar

    grammar = EventGrammar.from_tokenizer(tokenizer)
    special = torch.tensor([t in SPECIAL_TOKENS for t in grammar.types])
    table = grammar.mask & ~special

    def allowed(last: Tensor) -> Tensor:
        return table[last.cpu()].to(last.device)

    return allowed


def sample_continuation(model: StripesTransformer, prompt: Sequence[int] | np.ndarray | Tensor,
                        n_tokens: int, *,
                        allowed: Callable | None = None, temperature: float = 1.0,
                        top_k: int | None = None, top_p: float | None = None, seed: int = 0,
                        progress: Callable[[int], None] | None = None,
                        compiled: bool = False) -> Tensor:
    """``[P + n_tokens]`` ids: ``prompt`` continued by sampling, with a PE realization and
    sampling noise both seeded by ``seed`` (the code is drawn on CPU, so any device agrees);
    ``compiled``: decode through the compiled step (``generate``)."""
    device = next(model.parameters()).device
    ids = torch.as_tensor(prompt, dtype=torch.long, device=device).reshape(1, -1)
    code = model.draw_pe_code(ids.shape[1] + n_tokens, None, torch.Generator().manual_seed(seed))
    gen = torch.Generator(device=device).manual_seed(seed)
    out = generate(model, ids, n_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                   generator=gen, allowed=allowed, code=code, progress=progress,
                   compiled=compiled)
    return out[0]


def check_sampling(n_tokens: int, temperature: float, top_p: float | None,
                   top_k: int | None) -> None:
    """ValueError for sampling options that cannot mean anything (``temperature == 0`` is
    greedy decoding, ``top_p == 1`` and ``top_k=None`` disable those filters)."""
    if n_tokens < 1:
        raise ValueError(f"--tokens must be >= 1, got {n_tokens}")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"--temperature must be >= 0 (0: greedy), got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {top_p}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {top_k}")


def read_prompt(tokenizer, prompt: str | Path) -> tuple[list[int], Any]:
    """``(REMI ids, score)`` of a prompt MIDI file; one clear error for a file that is not
    MIDI."""
    with needs("music"):
        import symusic

    from stripes.music.errors import UnreadableMidiError
    from stripes.music.tokenizer import score_to_ids

    path = Path(prompt)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    try:
        score = symusic.Score(str(path))
    except RuntimeError as err:  # symusic reports every parse failure as RuntimeError
        raise UnreadableMidiError(f"{path}: unreadable MIDI ({err})") from None
    ids = score_to_ids(tokenizer, score)
    if not ids:
        raise ValueError(f"{prompt}: the prompt gives no tokens (no notes on programs 0-3?)")
    return ids, score


def carry_timing(score: Any, prompt: Any | None) -> None:
    """Give ``score`` (the continuation) the prompt's tempo map and time signatures, on its own
    tick grid (REMI keeps neither): a prompt at 60 qpm is continued at 60 qpm, not 120."""
    from stripes.music.midi_io import resample_score

    if prompt is None:
        return
    timing = resample_score(prompt, score.ticks_per_quarter)
    if len(timing.tempos):
        score.tempos = timing.tempos.copy()
    if len(timing.time_signatures):
        score.time_signatures = timing.time_signatures.copy()


def generate_midi(checkpoint: str | Path, out_path: str | Path, *, prompt: str | Path | None = None,
                  n_tokens: int = 512, temperature: float = 1.2, top_p: float | None = 0.9,
                  top_k: int | None = None, seed: int = 0, grammar: bool = True,
                  device: str = "cpu", progress: Callable[[int], None] | None = None,
                  overwrite: bool = False, compiled: bool = False) -> dict[str, Any]:
    """Sample ``n_tokens`` REMI tokens after a prompt and write them as a MIDI file.

    Args:
        checkpoint: a checkpoint of :func:`stripes.tasks.lm.train.train_language_model`.
        out_path: the ``.mid`` to write, atomically (folders are created); never the prompt or
            the checkpoint, an existing file only with ``overwrite``.
        prompt: a MIDI file to continue (tracks by program 0-3); None starts from one bar line.
        temperature, top_p, top_k: sampling ([SPE] App. C.2 uses top-p 0.9, temperature 1.2);
            temperature 0 is greedy decoding (:func:`check_sampling` gives the ranges).
        seed: the PE realization and the sampling noise.
        grammar: constrain sampling with the REMI event grammar (no invalid sequence).
        progress: called with 1 after each token.
        compiled: decode through ``torch.compile`` of the model's step (same tokens).

    Returns:
        ``{"path", "prompt_tokens", "tokens", "notes"}``.
    """
    from stripes.files import atomic_write, check_outputs
    from stripes.music.tokenizer import ids_to_score

    check_sampling(n_tokens, temperature, top_p, top_k)
    check_outputs([out_path], [p for p in (prompt, checkpoint) if p is not None], overwrite)
    model, _ = load_language_model(checkpoint, device)
    tokenizer = load_checkpoint_tokenizer(checkpoint)
    ids, timing = [tokenizer.vocab["Bar_None"]], None
    if prompt is not None:
        ids, timing = read_prompt(tokenizer, prompt)
    allowed = grammar_constraint(tokenizer) if grammar else None
    out = sample_continuation(model, ids, n_tokens, allowed=allowed, temperature=temperature,
                              top_k=top_k, top_p=top_p, seed=seed, progress=progress,
                              compiled=compiled)
    score = ids_to_score(tokenizer, out.tolist())
    carry_timing(score, timing)
    out_path = Path(out_path)
    atomic_write(out_path, lambda f: f.write(score.dumps_midi()))
    return {"path": str(out_path), "prompt_tokens": len(ids), "tokens": len(out),
            "notes": sum(len(t.notes) for t in score.tracks)}
