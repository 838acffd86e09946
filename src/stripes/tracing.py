"""What ``torch.compile`` needs from the eager fast paths.

The one-token decoding steps reuse buffers through ``out=`` arguments, often into strided views
(a step is bound by per-op overhead, so it allocates nothing). Dynamo cannot trace an ``out=``
into a strided view; under compilation the same op runs out of place and its result is copied
into the buffer, and the compiler plans its own memory. Eager code pays one function call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def call_into(op: Callable[..., Tensor], *args: Any, out: Tensor, **kwargs: Any) -> Tensor:
    """``op(*args, **kwargs, out=out)`` eagerly; ``out.copy_(op(*args, **kwargs))`` under
    ``torch.compile``. Returns ``out``."""
    if torch.compiler.is_compiling():
        return out.copy_(op(*args, **kwargs))
    return op(*args, **kwargs, out=out)
