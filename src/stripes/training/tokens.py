"""Batches of token ids and their next-token loss, shared by the token tasks (the language
models of :mod:`stripes.tasks.lm`, the trios of :mod:`stripes.tasks.groove`).

- :func:`collate_tokens` pads a batch to its longest item, with a mask of the real tokens;
- :func:`token_nll` / :func:`lm_loss`: next-token cross-entropy, padding ignored. A causal model
  needs no key mask: padding only ever follows the real tokens, so padded steps only affect
  padded targets, which the loss ignores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def token_nll(logits: Tensor, ids: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Negative log-likelihood of each next token.

    Args:
        logits: ``[B, T, V]``; ids: ``[B, T]``; mask: ``[B, T]`` True on real tokens (None: all).

    Returns:
        ``(nll [B, T-1], valid [B, T-1])``: entry ``t-1`` is ``-log p(ids[t] | ids[:t])``, and
        whether token ``t`` is real (0 where it is not).
    """
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), ids[:, 1:], reduction="none")
    valid = torch.ones_like(nll, dtype=torch.bool) if mask is None else mask[:, 1:]
    return nll * valid, valid


def lm_loss(model: torch.nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """Mean next-token cross-entropy (nats) over the real tokens of a batch (``ids``, ``mask``)."""
    logits, _ = model(batch["ids"])
    nll, valid = token_nll(logits, batch["ids"], batch.get("mask"))
    return nll.sum() / valid.sum().clamp_min(1)


def collate_tokens(items: Sequence[dict], pad_id: int = 0) -> dict[str, Tensor]:
    """Pad to the longest item: ``ids [B, T]`` long, ``mask [B, T]`` bool (True on real tokens),
    ``shift [B]``."""
    t = max(len(it["ids"]) for it in items)
    ids = torch.full((len(items), t), pad_id, dtype=torch.long)
    mask = torch.zeros(len(items), t, dtype=torch.bool)
    for b, it in enumerate(items):
        ids[b, : len(it["ids"])], mask[b, : len(it["ids"])] = it["ids"], True
    return {"ids": ids, "mask": mask, "shift": torch.tensor([it["shift"] for it in items])}
