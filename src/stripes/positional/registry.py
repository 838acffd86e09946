"""Build any positional encoding from its ``kind`` string.

Every family registers itself with :func:`stripes.positional.base.register` when its module is
imported; this module imports them all, so that the registry is full whenever it is asked.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any

from stripes.positional import absolute, conv_spe, relative, rope, spe, structure  # noqa: F401
from stripes.positional.base import _REGISTRY, PE

#: Constructor arguments renamed since a checkpoint may have been written: old -> new.
RENAMED_PARAMS = {"chunk_size": "pool_rows"}


def available_kinds() -> list[str]:
    """Every registered ``kind`` string."""
    return sorted(_REGISTRY)


def build_positional(kind: str, **kwargs: Any) -> PE:
    """Build a PE from its ``kind`` and constructor keyword arguments (checked by
    :func:`check_arguments`)."""
    check_arguments(kind, kwargs)
    return _REGISTRY[kind](**kwargs)


def check_arguments(kind: str, kwargs: dict[str, Any]) -> None:
    """Refuse an unknown ``kind`` or an argument its constructor does not take (``ValueError``
    naming it, with the closest valid one); builds nothing."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown positional encoding {kind!r}{_closest(kind, _REGISTRY)}; "
                         f"choose from {available_kinds()}")
    accepted = inspect.signature(_REGISTRY[kind]).parameters
    open_ended = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    for name in kwargs:
        if name not in accepted and not open_ended:
            raise ValueError(f"positional encoding {kind!r} takes no argument {name!r}"
                             f"{_closest(name, accepted)}")


def rename_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with old argument names (:data:`RENAMED_PARAMS`) replaced: old checkpoints."""
    return {RENAMED_PARAMS.get(k, k): v for k, v in params.items()}


def _closest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass
class PositionalConfig:
    """A PE as configuration: its ``kind`` and the keyword arguments of its constructor."""

    kind: str = "none"
    params: dict[str, Any] = field(default_factory=dict)

    def build(self, **defaults: Any) -> PE:
        """Build it; ``defaults`` (``d_model``, ``n_heads``, ``head_dim``, ``position_dim``,
        ``max_len``...) fill what ``params`` omits, passed only where the constructor takes them.
        """
        if self.kind not in _REGISTRY:
            return build_positional(self.kind)  # raises the clear error
        accepted = inspect.signature(_REGISTRY[self.kind]).parameters
        taken = {k: v for k, v in defaults.items() if k in accepted}
        return build_positional(self.kind, **{**taken, **self.params})
