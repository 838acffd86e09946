"""Mixed precision: the parts of attention that stay float32 under autocast (bf16 training).

The linear-attention state and normalizer, and every positional encoding's arithmetic (angles,
pooled sinusoids, custom autograd kernels), are computed in float32 by design; under
``torch.autocast`` they run inside :func:`autocast_off`, while the projections and the MLP
around them still run in bf16.
"""

from __future__ import annotations

import contextlib

import torch


def autocast_off(device: torch.device):
    """A context that turns autocast off on ``device`` when it is on there (else a no-op; the
    meta device has no autocast at all)."""
    try:
        enabled = torch.is_autocast_enabled(device.type)
    except (TypeError, RuntimeError):  # older torch, or a device type without autocast
        return contextlib.nullcontext()
    return torch.autocast(device.type, enabled=False) if enabled else contextlib.nullcontext()
