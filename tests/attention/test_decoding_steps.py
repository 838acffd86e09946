"""The lean decoding kernels compute what the reference step computes: the in-place recurrent
step on the augmented state, and the preallocated KV cache against softmax attention."""

import torch

from stripes.attention import recurrent_linear_attention_step, softmax_attention
from stripes.attention.kv_cache import KVCache
from stripes.attention.recurrent import (
    augment_state,
    recurrent_linear_attention_step_,
    split_state,
)


def test_in_place_recurrent_step_matches_the_reference_step_over_many_tokens():
    b, h, m, e = 2, 3, 5, 7
    g = torch.Generator().manual_seed(0)
    state = None
    aug = augment_state(None, b, h, m, e, torch.float64)
    out = torch.full((b, h, e), float("nan"), dtype=torch.float64)  # poisoned: must be written
    work = torch.empty(b * h, 1, e + 1, dtype=torch.float64)
    for _ in range(9):
        q, k = (torch.rand(b, h, m, generator=g, dtype=torch.float64) for _ in range(2))
        v = torch.randn(b, h, e, generator=g, dtype=torch.float64)
        ref, state = recurrent_linear_attention_step(q, k, v, state)
        v1 = torch.cat([v, torch.ones(b, h, 1, dtype=torch.float64)], -1)
        recurrent_linear_attention_step_(q, k, v1, aug, out, work=work)
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    s, z = split_state(aug)
    torch.testing.assert_close(s, state[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z, state[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(augment_state(state, b, h, m, e, torch.float64), aug)


def test_kv_cache_attends_as_softmax_over_the_prefix_and_grows_past_its_capacity():
    b, s, h, d, e = 2, 5, 3, 6, 4
    g = torch.Generator().manual_seed(1)
    q, k = (torch.randn(b, s + 4, h, d, generator=g, dtype=torch.float64) for _ in range(2))
    v = torch.randn(b, s + 4, h, e, generator=g, dtype=torch.float64)
    full = softmax_attention(q, k, v, causal=True)
    cache = KVCache.from_state(k[:, :s], v[:, :s], capacity=s + 1)  # must grow twice
    for t in range(s, s + 4):
        cache.append(k[:, t], v[:, t])
        o = cache.attend(q[:, t], d**-0.5)
        torch.testing.assert_close(o, full[:, t], rtol=1e-12, atol=1e-12)
    assert cache.capacity >= s + 4 and cache.length == s + 4
    kk, vv = cache.as_state()
    assert torch.equal(kk, k) and torch.equal(vv, v)
