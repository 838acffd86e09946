"""Models built from ``stripes.attention`` and ``stripes.positional``."""

from stripes.models.blocks import MLP, Block
from stripes.models.config import INPUT_KINDS, ModelConfig
from stripes.models.transformer import Decoder, ModelState, StripesTransformer, build_model

__all__ = ["INPUT_KINDS", "MLP", "Block", "Decoder", "ModelConfig", "ModelState",
           "StripesTransformer", "build_model"]
