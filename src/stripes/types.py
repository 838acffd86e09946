"""Type aliases shared by parts that cannot import each other (``attention`` and ``positional``
sit on one layer)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

#: A query/key PE's one-token form (``QKTransformPE.token_step``, called by ``Attention.step``):
#: ``(qk [B, 2, H, D], offset, positions [B or 1, 1(, L)] or None) -> [B, 2, H, D']``.
TokenStep = Callable[[Tensor, int, "Tensor | None"], Tensor]
