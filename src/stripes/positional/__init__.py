"""Positional encodings, one file per family; importing this package registers every ``kind``."""

from stripes.positional.base import (
    AdditivePE,
    PositionalConfig,
    QKTransformPE,
    available_kinds,
    build_positional,
    default_positions,
    register,
)

__all__ = [
    "AdditivePE",
    "PositionalConfig",
    "QKTransformPE",
    "available_kinds",
    "build_positional",
    "default_positions",
    "register",
]
