"""The chunked, non-causal and recurrent linear-attention paths equal their explicit references."""

import pytest
import torch

from stripes.attention import (
    linear_attention,
    naive_linear_attention,
    naive_recurrent_linear_attention,
    recurrent_linear_attention_step,
)

DT = torch.float64


def _inputs(b, t, h, m, e, seed=0, dtype=DT):
    g = torch.Generator().manual_seed(seed)
    phi_q = torch.rand(b, t, h, m, generator=g, dtype=dtype)
    phi_k = torch.rand(b, t, h, m, generator=g, dtype=dtype)
    v = torch.randn(b, t, h, e, generator=g, dtype=dtype)
    return phi_q, phi_k, v


def _grads(fn, *xs):
    xs = [x.detach().clone().requires_grad_(True) for x in xs]
    out = fn(*xs)
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * w).sum().backward()
    return out.detach(), [x.grad for x in xs]


@pytest.mark.parametrize("t", [1, 63, 65, 500])
@pytest.mark.parametrize("chunk", [16, 64, 100])
def test_causal_chunked_matches_explicit_masked_forward_and_backward(t, chunk):
    phi_q, phi_k, v = _inputs(2, t, 3, 60, 60)
    fast = lambda q, k, vv: linear_attention(q, k, vv, causal=True, chunk_size=chunk)[0]
    slow = lambda q, k, vv: naive_linear_attention(q, k, vv, causal=True)
    o1, g1 = _grads(fast, phi_q, phi_k, v)
    o2, g2 = _grads(slow, phi_q, phi_k, v)
    torch.testing.assert_close(o1, o2, rtol=1e-10, atol=1e-10)
    for a, b in zip(g1, g2, strict=False):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("t", [1, 65])
def test_noncausal_matches_explicit_forward_and_backward(t):
    phi_q, phi_k, v = _inputs(2, t, 2, 60, 17)
    o1, g1 = _grads(lambda *x: linear_attention(*x, causal=False)[0], phi_q, phi_k, v)
    o2, g2 = _grads(lambda *x: naive_linear_attention(*x, causal=False), phi_q, phi_k, v)
    torch.testing.assert_close(o1, o2)
    for a, b in zip(g1, g2, strict=False):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("causal", [True, False])
def test_key_padding_drops_padded_keys(causal):
    phi_q, phi_k, v = _inputs(3, 65, 2, 8, 5)
    pad = torch.zeros(3, 65, dtype=torch.bool)
    pad[1, 40:] = True
    pad[2, 10:] = True
    fast, _ = linear_attention(phi_q, phi_k, v, causal=causal, chunk_size=16, key_padding_mask=pad)
    slow = naive_linear_attention(phi_q, phi_k, v, causal=causal, key_padding_mask=pad)
    torch.testing.assert_close(fast, slow)
    # and a padded batch row equals that row alone, truncated
    alone, _ = linear_attention(phi_q[2:, :10], phi_k[2:, :10], v[2:, :10], causal=causal)
    if causal:
        torch.testing.assert_close(fast[2:, :10], alone)


def test_splitting_a_sequence_across_two_calls_equals_one_call():
    phi_q, phi_k, v = _inputs(2, 130, 2, 12, 9)
    whole, state_whole = linear_attention(
        phi_q, phi_k, v, causal=True, chunk_size=32, output_final_state=True
    )
    first, state = linear_attention(
        phi_q[:, :77], phi_k[:, :77], v[:, :77], causal=True, chunk_size=32, output_final_state=True
    )
    second, state2 = linear_attention(
        phi_q[:, 77:],
        phi_k[:, 77:],
        v[:, 77:],
        causal=True,
        chunk_size=32,
        initial_state=state,
        output_final_state=True,
    )
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    for a, b in zip(state2, state_whole, strict=False):
        torch.testing.assert_close(a, b)


def test_noncausal_initial_state_adds_the_earlier_tokens():
    phi_q, phi_k, v = _inputs(1, 40, 2, 6, 4)
    _, state = linear_attention(phi_q[:, :25], phi_k[:, :25], v[:, :25], output_final_state=True)
    o, _ = linear_attention(phi_q[:, 25:], phi_k[:, 25:], v[:, 25:], initial_state=state)
    full = naive_linear_attention(phi_q, phi_k, v)
    torch.testing.assert_close(o, full[:, 25:])


def test_recurrent_steps_equal_parallel_causal_output_and_state():
    phi_q, phi_k, v = _inputs(2, 70, 3, 10, 6)
    parallel, pstate = linear_attention(
        phi_q, phi_k, v, causal=True, chunk_size=16, output_final_state=True
    )
    state, outs = None, []
    for t in range(70):
        o, state = recurrent_linear_attention_step(phi_q[:, t], phi_k[:, t], v[:, t], state)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs, 1), parallel)
    for a, b in zip(state, pstate, strict=False):
        torch.testing.assert_close(a, b)
    loop, lstate = naive_recurrent_linear_attention(phi_q, phi_k, v)
    torch.testing.assert_close(loop, parallel)


@pytest.mark.parametrize("chunk", [8, 64])
def test_perturbing_token_t_plus_1_leaves_outputs_up_to_t_unchanged(chunk):
    phi_q, phi_k, v = _inputs(1, 100, 2, 8, 8, dtype=torch.float32)
    base, _ = linear_attention(phi_q, phi_k, v, causal=True, chunk_size=chunk)
    for t in (0, 7, 8, 50, 98):
        q2, k2, v2 = phi_q.clone(), phi_k.clone(), v.clone()
        q2[:, t + 1 :] += 5.0
        k2[:, t + 1 :] += 5.0
        v2[:, t + 1 :] -= 3.0
        out, _ = linear_attention(q2, k2, v2, causal=True, chunk_size=chunk)
        assert torch.equal(out[:, : t + 1], base[:, : t + 1])
        assert not torch.allclose(out[:, t + 1], base[:, t + 1])


def test_low_precision_inputs_accumulate_state_in_float32():
    phi_q, phi_k, v = _inputs(1, 200, 2, 16, 8, dtype=torch.float32)
    o16, state = linear_attention(
        phi_q.bfloat16(), phi_k.bfloat16(), v.bfloat16(), causal=True, output_final_state=True
    )
    assert o16.dtype == torch.bfloat16
    assert state[0].dtype == torch.float32 and state[1].dtype == torch.float32
    ref = naive_linear_attention(
        phi_q.bfloat16().float(), phi_k.bfloat16().float(), v.bfloat16().float(), causal=True
    )
    torch.testing.assert_close(o16.float(), ref, rtol=2e-2, atol=2e-2)


def test_fresh_memory_poisoned_with_nan_never_leaks():
    """With deterministic mode, ATen fills every uninitialized allocation (torch.empty, resized
    outputs) with NaN; a result that read such memory before writing it would be NaN."""
    import torch.utils.deterministic as det

    previous = (torch.are_deterministic_algorithms_enabled(), det.fill_uninitialized_memory)
    torch.use_deterministic_algorithms(True)
    det.fill_uninitialized_memory = True
    try:
        assert torch.isnan(torch.empty(4)).all()  # the poisoning is active
        phi_q, phi_k, v = _inputs(2, 67, 2, 8, 8)
        out, state = linear_attention(
            phi_q, phi_k, v, causal=True, chunk_size=16, output_final_state=True
        )
        o, _ = recurrent_linear_attention_step(phi_q[:, 0], phi_k[:, 0], v[:, 0], state)
        nc, _ = linear_attention(phi_q, phi_k, v, causal=False)
    finally:
        torch.use_deterministic_algorithms(previous[0])
        det.fill_uninitialized_memory = previous[1]
    assert torch.isfinite(out).all() and all(torch.isfinite(s).all() for s in state)
    assert torch.isfinite(o).all() and torch.isfinite(nc).all()


def test_bad_shapes_raise_clear_errors():
    phi_q, phi_k, v = _inputs(1, 10, 2, 4, 3)
    with pytest.raises(ValueError, match="expects phi_q"):
        linear_attention(phi_q, phi_k[:, :5], v)
    with pytest.raises(ValueError, match="initial_state"):
        linear_attention(
            phi_q, phi_k, v, initial_state=(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4))
        )
    with pytest.raises(ValueError, match="chunk_size"):
        linear_attention(phi_q, phi_k, v, causal=True, chunk_size=0)


@pytest.mark.parametrize("causal", [True, False])
def test_bf16_autocast_runs_the_core_in_float32(causal):
    """Under CPU autocast (bf16 training) the chunked core must not mix bf16 products with the
    float32 carried state; it runs in float32 and matches the reference, gradients included
    (backward outside the autocast region, as in training)."""
    phi_q, phi_k, v = _inputs(2, 130, 2, 8, 4, dtype=torch.float32)
    ref, ref_grads = _grads(lambda q, k, x: naive_linear_attention(q, k, x, causal=causal),
                            phi_q, phi_k, v)
    xs = [x.detach().clone().requires_grad_(True) for x in (phi_q, phi_k, v)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = linear_attention(*xs, causal=causal, chunk_size=32)[0]
    assert out.dtype == torch.float32
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * w).sum().backward()
    torch.testing.assert_close(out.detach(), ref, rtol=1e-4, atol=1e-5)
    for x, r in zip(xs, ref_grads, strict=True):
        torch.testing.assert_close(x.grad, r, rtol=1e-4, atol=1e-5)
