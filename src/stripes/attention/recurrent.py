"""One-token decoding for linear attention: O(1) time and memory per token ([SPE] Eq. 10).

The state ``(S [B, H, M, E], z [B, H, M])`` is the same object that
:func:`stripes.attention.linear.linear_attention` takes as ``initial_state`` and returns as its
final state, so a prompt can be encoded in parallel and continued token by token.

:func:`recurrent_linear_attention_step` is the readable reference (fresh tensors each token);
:func:`recurrent_linear_attention_step_` is the lean decoder's form of the same step, in place on
the augmented state ``[S, z]`` (what ``Attention.step`` uses); tests compare the two.
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


# --- the lean decoding step: one augmented state updated in place -------------------------------
# The parallel path's trick (attention.linear): values get a column of ones, so ``S' = [S, z]`` is
# one ``M×(E+1)`` matrix per head; one batched rank-1 update and one batched product then give
# the new state, the numerator and the normalizer (four ops in all, no allocation with ``work``).


def augment_state(state: State | None, batch: int, heads: int, m: int, e: int, dtype: torch.dtype,
                  device: torch.device | None = None) -> Tensor:
    """``S' = [S, z]`` ``[B, H, M, E+1]`` (a fresh, contiguous copy; zeros when ``state`` is None).

    Args:
        state: ``(S [B, H, M, E], z [B, H, M])`` or None (empty prefix).
    """
    out = torch.zeros(batch, heads, m, e + 1, dtype=dtype, device=device)
    if state is not None:
        out[..., :e].copy_(state[0])
        out[..., e].copy_(state[1])
    return out


def split_state(augmented: Tensor) -> State:
    """``S' [B, H, M, E+1]`` -> ``(S [B, H, M, E], z [B, H, M])`` (copies: the decoder keeps
    updating ``S'`` in place)."""
    return augmented[..., :-1].clone(), augmented[..., -1].clone()


def recurrent_linear_attention_step_(
    phi_q_t: Tensor, phi_k_t: Tensor, v1_t: Tensor, augmented: Tensor, out: Tensor,
    *, eps: float = 1e-6, work: Tensor | None = None,
) -> Tensor:
    """:func:`recurrent_linear_attention_step` in place, on the augmented state (same result up
    to rounding; tests compare them).

    Args:
        phi_q_t, phi_k_t: ``[B, H, M]`` featurized query and key of the new token.
        v1_t: ``[B, H, E+1]`` its value with a trailing one (``v1_t[..., E] == 1``).
        augmented: ``S' = [S, z]`` ``[B, H, M, E+1]`` contiguous, updated in place.
        out: ``[B, H, E]`` contiguous, receives ``o_t``.
        work: optional ``[B·H, 1, E+1]`` buffer for the numerator and normalizer.

    Returns:
        ``out``.
    """
    b, h, m = phi_q_t.shape
    e = out.shape[-1]
    s = augmented.view(b * h, m, e + 1)
    s.baddbmm_(phi_k_t.reshape(b * h, m, 1), v1_t.reshape(b * h, 1, e + 1))
    num = torch.bmm(phi_q_t.reshape(b * h, 1, m), s, out=work)
    torch.div(num[..., :e], num[..., e:].add_(eps), out=out.view(b * h, 1, e))
    return out
