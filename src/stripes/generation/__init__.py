"""stripes.generation: sampling next tokens (and, in ``decode.py``, autoregressive decoding, whose
steps go through the model's one-token ``step``)."""

from stripes.generation.sampling import (
    apply_temperature,
    mask_forbidden,
    sample,
    top_k_filter,
    top_p_filter,
)

__all__ = ["apply_temperature", "mask_forbidden", "sample", "top_k_filter", "top_p_filter"]
