"""The segmented, hand-differentiated causal path against an explicit state-by-state reference:
every segment split (one chunk per segment up to one segment), an initial state and the final
state's gradient included, on awkward sizes."""

import pytest
import torch

from stripes.attention.chunked import (
    ChunkedCausalLinearAttention,
    chunked_causal_linear_attention_traced,
    segment_layout,
)

DT = torch.float64


def _explicit(phi_q, phi_k, v, s0, eps):
    """``S'_m = S'_0 + Σ_{n≤m} φ(k_n) [v_n, 1]ᵀ``, ``o'_m = φ(q_m)ᵀ S'_m``: every state built."""
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
    states = torch.einsum("bthm,bthe->bthme", phi_k, v1).cumsum(1)
    if s0 is not None:
        states = states + s0[:, None]
    o1 = torch.einsum("bthm,bthme->bthe", phi_q, states)
    return o1[..., :-1] / (o1[..., -1:] + eps), states[:, -1]


def _inputs(b, t, h, m, e, seed):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.rand(b, t, h, m, generator=g, dtype=DT), torch.rand(b, t, h, m, generator=g,
                                                                    dtype=DT),
          torch.randn(b, t, h, e, generator=g, dtype=DT),
          torch.rand(b, h, m, e + 1, generator=g, dtype=DT)]
    return [x.requires_grad_(True) for x in xs]


def _loss_grads(fn, xs, seed):
    o, s = fn(*xs)
    g = torch.Generator().manual_seed(seed + 1)
    wo = torch.randn(o.shape, generator=g, dtype=DT)
    ws = torch.randn(s.shape, generator=g, dtype=DT)
    grads = torch.autograd.grad((o * wo).sum() + (s * ws).sum(), xs)
    return o.detach(), s.detach(), grads


@pytest.mark.parametrize("t, chunk", [(1, 16), (37, 8), (64, 16), (129, 32)])
@pytest.mark.parametrize("segment_bytes", [1, 4 * 16 * 16 * 6 * 3, 1 << 30])
def test_segmented_forward_backward_equal_the_explicit_states(t, chunk, segment_bytes):
    xs = _inputs(2, t, 3, 5, 7, seed=t)
    fast = lambda q, k, v, s0: ChunkedCausalLinearAttention.apply(q, k, v, s0, chunk, 1e-6,
                                                                  segment_bytes)
    slow = lambda q, k, v, s0: _explicit(q, k, v, s0, 1e-6)
    o1, s1, g1 = _loss_grads(fast, xs, seed=t)
    o2, s2, g2 = _loss_grads(slow, xs, seed=t)
    torch.testing.assert_close(o1, o2, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s1, s2, rtol=1e-10, atol=1e-10)
    for name, a, b in zip(["dq", "dk", "dv", "ds0"], g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=name)


@pytest.mark.parametrize("t, chunk", [(1, 16), (37, 8), (64, 16)])
@pytest.mark.parametrize("with_s0", [True, False])
def test_traced_form_equals_the_explicit_states(t, chunk, with_s0):
    """The plain-ops form ``torch.compile`` runs (autograd's backward) computes the same."""
    xs = _inputs(2, t, 3, 5, 7, seed=t)
    if not with_s0:
        xs = xs[:3]
    fast = lambda q, k, v, s0=None: chunked_causal_linear_attention_traced(q, k, v, s0, chunk,
                                                                           1e-6)
    slow = lambda q, k, v, s0=None: _explicit(q, k, v, s0, 1e-6)
    o1, s1, g1 = _loss_grads(fast, xs, seed=t)
    o2, s2, g2 = _loss_grads(slow, xs, seed=t)
    torch.testing.assert_close(o1, o2, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s1, s2, rtol=1e-10, atol=1e-10)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_gradcheck_without_initial_state_on_several_segments():
    q, k, v, _ = _inputs(1, 11, 2, 3, 2, seed=3)
    fn = lambda q, k, v: ChunkedCausalLinearAttention.apply(q, k, v, None, 4, 1e-6, 1)[0]
    assert torch.autograd.gradcheck(fn, (q, k, v))


def test_segment_layout_covers_the_sequence_with_less_than_a_segment_of_padding():
    for bh, t, c in [(8, 32768, 64), (8, 5000, 64), (32, 1024, 64), (1, 1, 16), (3, 1000, 100)]:
        n_seg, per_seg = segment_layout(bh, t, c)
        n_chunks = -(-t // c)
        assert n_seg * per_seg >= n_chunks > (n_seg - 1) * per_seg  # only the last is partial
        assert bh * per_seg * c * c * 4 <= max(2 << 20, bh * c * c * 4)
