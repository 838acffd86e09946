"""Models built from ``stripes.attention`` and ``stripes.positional``."""

from stripes.models.config import INPUT_KINDS, ModelConfig
from stripes.models.transformer import Block, StripesTransformer

__all__ = ["INPUT_KINDS", "Block", "ModelConfig", "StripesTransformer"]
