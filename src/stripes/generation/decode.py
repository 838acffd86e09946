"""Autoregressive decoding with a carried state: each new token costs the same at any position.

The model's state holds every layer's attention state (``(S, z)`` for linear attention, a KV
cache for softmax) and the frozen PE realization, so decoding continues the *same* function the
parallel forward computes ([SPE] Sec. 2: a code drawn once serves every step). The official SPE
code instead recomputes the whole prefix and redraws the noise at every token.

Steps go through the model's one-token form, ``StripesTransformer.step`` (a loop over its blocks'
``step``: static buffers, fused projections, a preallocated KV cache for softmax) where it
applies, else through its parallel ``forward`` on one token (``lean=False`` forces it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from stripes.generation.sampling import sample
from stripes.models import ModelState, StripesTransformer

AllowedFn = Callable[[Tensor], Tensor]  # last ids [B] -> allowed mask [B, V]
StepFn = Callable[[Tensor], Tensor]  # ids [B, 1] -> logits [B, V] of the next position


def stepper(model: StripesTransformer, state: ModelState, capacity: int, lean: bool = True,
            compiled: bool = False) -> StepFn:
    """One decoding step after ``state``: the model's ``step`` when its ``decoding_blocker``
    allows (and ``lean``), else its parallel ``forward`` (which carries the state itself).
    ``compiled``: the step through :meth:`StripesTransformer.compile_step` (the first tokens
    pay the compilation)."""
    if lean and model.decoding_blocker() is None:
        decoder = model.start_decoding(state, capacity=capacity)
        step = model.compile_step() if compiled else model.step
        return lambda ids: step(ids, decoder)
    box = [state]

    def reference(ids: Tensor) -> Tensor:
        logits, new = model(ids, state=box[0], output_state=True)
        assert new is not None
        box[0] = new
        return logits[:, -1]

    return reference


@torch.no_grad()
def generate(
    model: StripesTransformer,
    prompt: Tensor,
    n_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    allowed: AllowedFn | None = None,
    code: list | None = None,
    progress: Callable[[int], None] | None = None,
    lean: bool = True,
    compiled: bool = False,
) -> Tensor:
    """Continue ``prompt`` by ``n_tokens`` sampled tokens, one recurrent step each.

    Args:
        model: a token model (``StripesTransformer`` with ``input_kind="tokens"``).
        prompt: ``[B, P]`` token ids, ``P >= 1``.
        n_tokens: how many tokens to add.
        temperature, top_k, top_p: see :func:`stripes.generation.sampling.sample`.
        generator: the randomness of both the PE code (if drawn here) and the sampling.
        allowed: grammar constraint: maps the last ids ``[B]`` to an allowed mask ``[B, V]``
            ([SPE] App. C.2: no invalid sequences).
        code: a frozen PE realization (``model.draw_pe_code``); drawn from ``generator`` if None.
        progress: called with 1 after each token (e.g. ``tqdm.update``).
        lean: the model's ``step`` where it applies (False: ``forward`` on each token).
        compiled: that step through ``torch.compile`` (:func:`stepper`).

    Returns:
        ``[B, P + n_tokens]`` ids.
    """
    if prompt.dim() != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt must be [B, P] with P >= 1, got {tuple(prompt.shape)}")
    was_training = model.training
    model.eval()
    if code is None:
        code = model.draw_pe_code(prompt.shape[1] + n_tokens, None, generator)
    logits, state = model(prompt, state=None, output_state=True, code=code)
    assert state is not None
    step = stepper(model, state, prompt.shape[1] + n_tokens, lean, compiled)
    ids = [prompt]
    last = logits[:, -1]
    for _ in range(n_tokens):
        mask = allowed(ids[-1][:, -1]) if allowed is not None else None
        nxt = sample(last, temperature, top_k, top_p, generator, allowed_mask=mask)[:, None]
        ids.append(nxt)
        last = step(nxt)
        if progress is not None:
            progress(1)
    model.train(was_training)
    return torch.cat(ids, dim=1)


@torch.no_grad()
def recurrent_log_probs(
    model: StripesTransformer, ids: Tensor, code: list | None = None, prefix: int = 1,
    lean: bool = False,
) -> Tensor:
    """Log-probabilities of ``ids[:, 1:]`` computed token by token with the carried state.

    The first ``prefix`` tokens are encoded in one parallel call, the rest one step each (the
    parallel ``forward`` on each token, or the model's ``step`` with ``lean``); this must equal
    the parallel forward with the same ``code`` (tests check it for every PE).

    Returns:
        ``[B, T-1]`` log p(ids[t] | ids[:t]).
    """
    logits, state = model(ids[:, :prefix], output_state=True, code=code)
    assert state is not None
    step = stepper(model, state, ids.shape[1], lean)
    steps = [logits]
    for t in range(prefix, ids.shape[1] - 1):
        steps.append(step(ids[:, t : t + 1]).clone()[:, None])
    logp = torch.cat(steps, dim=1)[:, : ids.shape[1] - 1].log_softmax(-1)
    return logp.gather(-1, ids[:, 1:, None])[..., 0]


@torch.no_grad()
def parallel_log_probs(model: StripesTransformer, ids: Tensor, code: list | None = None) -> Tensor:
    """``[B, T-1]`` log p(ids[t] | ids[:t]) from one parallel forward."""
    logits, _ = model(ids, code=code)
    logp = logits[:, :-1].log_softmax(-1)
    return logp.gather(-1, ids[:, 1:, None])[..., 0]
