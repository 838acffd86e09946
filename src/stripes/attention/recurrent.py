"""One-token decoding for linear attention: O(1) time and memory per token ([SPE] Eq. 10).

The state ``(S [B, H, M, E], z [B, H, M])`` is the same object that
:func:`stripes.attention.linear.linear_attention` takes as ``initial_state`` and returns as its
final state, so a prompt can be encoded in parallel and continued token by token.
"""

from __future__ import annotations

import torch
from torch import Tensor

from stripes.attention.linear import State


def recurrent_linear_attention_step(
    phi_q_t: Tensor, phi_k_t: Tensor, v_t: Tensor, state: State | None, *, eps: float = 1e-6
) -> tuple[Tensor, State]:
    """Attend from one new token to itself and everything summarised in ``state``.

    Args:
        phi_q_t: ``[B, H, M]`` featurized query of the new token.
        phi_k_t: ``[B, H, M]`` featurized key of the new token.
        v_t: ``[B, H, E]`` value of the new token.
        state: ``(S [B, H, M, E], z [B, H, M])`` before this token, or ``None`` (empty prefix).

    Returns:
        ``(o_t [B, H, E], state)`` with the state updated to include this token.
    """
    acc = torch.promote_types(v_t.dtype, torch.float32)
    q, k, v = phi_q_t.to(acc), phi_k_t.to(acc), v_t.to(acc)
    outer = k[..., :, None] * v[..., None, :]
    if state is None:
        s, z = outer, k
    else:
        s, z = state[0] + outer, state[1] + k
    num = (q[..., None, :] @ s).squeeze(-2)  # [B, H, E]
    den = (q * z).sum(-1, keepdim=True)
    return (num / (den + eps)).to(v_t.dtype), (s, z)
