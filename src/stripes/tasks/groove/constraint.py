"""Grammar-constrained sampling of trios: :class:`~stripes.music.trio_grammar.TrioGrammar` as the
``allowed`` callback of :func:`stripes.generation.decode.generate`."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from stripes.music.trio_events import TrioVocabulary
from stripes.music.trio_grammar import TrioGrammar


def trio_constraint(vocab: TrioVocabulary, prompt: Tensor) -> Callable[[Tensor], Tensor]:
    """The ``allowed`` callback for continuing ``prompt [B, P]``.

    ``generate`` calls it with the last token of each row ``[B]`` (first the prompt's last, then
    each sampled one) and expects the mask of the next ``[B, V]``, True where allowed; the
    grammar takes the prompt's other tokens here, once.
    """
    grammar = TrioGrammar(vocab, batch=prompt.shape[0])
    grammar.advance_all(prompt[:, :-1].cpu().numpy())

    def allowed(last: Tensor) -> Tensor:
        grammar.advance(last.cpu().numpy())
        return torch.from_numpy(grammar.allowed()).to(last.device)

    return allowed
