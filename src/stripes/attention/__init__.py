"""Attention engine: one tensor layout ``[B, T, H, D]``, exact oracles beside every fast path.

- :func:`softmax_attention`: the quadratic oracle (with an additive ``bias`` hook).
- :func:`linear_attention`: kernelized attention on featurized q/k; chunked when causal.
- :func:`recurrent_linear_attention_step`: one token of decoding with a carried state.
- ``naive_*``: explicit references the tests compare against.
- :class:`Attention`: the layer (projections, heads, PE hooks, softmax or kernelized): its
  parallel ``forward``, one-token ``step`` and ``scores`` view, with typed states (``state.py``).
"""

from stripes.attention.feature_maps import (
    FAVOR,
    FEATURE_MAPS,
    build_feature_map,
    draw_orthogonal_gaussian,
    elu1p,
    relu,
)
from stripes.attention.layer import ATTENTION_KINDS, Attention, AttentionConfig
from stripes.attention.linear import State, linear_attention
from stripes.attention.recurrent import recurrent_linear_attention_step
from stripes.attention.reference import (
    naive_linear_attention,
    naive_recurrent_linear_attention,
    softmax_attention,
)
from stripes.attention.state import (
    AttentionState,
    AttentionStep,
    LinearState,
    LinearStep,
    SoftmaxState,
    SoftmaxStep,
)

__all__ = [
    "ATTENTION_KINDS",
    "FAVOR",
    "FEATURE_MAPS",
    "Attention",
    "AttentionConfig",
    "AttentionState",
    "AttentionStep",
    "LinearState",
    "LinearStep",
    "SoftmaxState",
    "SoftmaxStep",
    "State",
    "build_feature_map",
    "draw_orthogonal_gaussian",
    "elu1p",
    "linear_attention",
    "naive_linear_attention",
    "naive_recurrent_linear_attention",
    "recurrent_linear_attention_step",
    "relu",
    "softmax_attention",
]
