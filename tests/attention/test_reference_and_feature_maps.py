"""Softmax oracle versus SDPA; feature maps; FAVOR estimates the softmax kernel."""

import math

import pytest
import torch
import torch.nn.functional as F

from stripes.attention import (
    FAVOR,
    build_feature_map,
    draw_orthogonal_gaussian,
    elu1p,
    linear_attention,
    relu,
    softmax_attention,
)


@pytest.mark.parametrize("causal", [True, False])
def test_softmax_oracle_matches_sdpa(causal):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 63, 3, 60, generator=g, dtype=torch.float64) for _ in range(3))
    ours = softmax_attention(q, k, v, causal=causal)
    ref = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal
    ).transpose(1, 2)
    torch.testing.assert_close(ours, ref)


def test_softmax_oracle_bias_and_padding():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 5, 1, 4, generator=g, dtype=torch.float64) for _ in range(3))
    bias = torch.randn(1, 1, 5, 5, generator=g, dtype=torch.float64)
    pad = torch.tensor([[False] * 5, [False, False, True, True, True]])
    out = softmax_attention(q, k, v, bias=bias, key_padding_mask=pad)
    # hand computation for batch row 1, query 0: only keys 0 and 1 are visible
    logits = (q[1, 0, 0] @ k[1, :2, 0].T) / 2.0 + bias[0, 0, 0, :2]
    w = torch.softmax(logits, -1)
    torch.testing.assert_close(out[1, 0, 0], w @ v[1, :2, 0])


def test_softmax_oracle_row_without_visible_key_is_zero():
    q = k = v = torch.ones(1, 2, 1, 2)
    pad = torch.tensor([[True, True]])
    assert torch.equal(softmax_attention(q, k, v, key_padding_mask=pad), torch.zeros(1, 2, 1, 2))


def test_pointwise_maps_are_positive_or_relu():
    x = torch.linspace(-3, 3, 13)
    assert (elu1p(x) > 0).all()
    torch.testing.assert_close(relu(x), x.clamp_min(0))
    assert build_feature_map("elu1p", 8).output_dim == 8
    with pytest.raises(ValueError, match="unknown feature map"):
        build_feature_map("cosine", 8)


def test_orthogonal_gaussian_rows_are_orthogonal_within_blocks():
    w = draw_orthogonal_gaussian(10, 4, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert w.shape == (10, 4)
    block = w[:4]
    gram = block @ block.T
    off = gram - torch.diag(torch.diagonal(gram))
    assert off.abs().max() < 1e-10


@pytest.mark.parametrize("hyperbolic", [False, True])
def test_favor_estimate_converges_to_softmax_kernel_like_one_over_sqrt_m(hyperbolic):
    g = torch.Generator().manual_seed(3)
    d = 16
    q = torch.randn(64, d, generator=g) * 0.5
    k = torch.randn(64, d, generator=g) * 0.5
    exact = torch.exp(q @ k.T / math.sqrt(d))
    errors = []
    for m in (16, 256, 4096):
        rel = []
        for seed in range(6):
            fm = FAVOR(d, m, hyperbolic=hyperbolic, seed=seed)
            est = fm(q, stabilize=False) @ fm(k, is_query=False).T
            rel.append(((est - exact).abs() / exact).mean())
        errors.append(torch.stack(rel).mean().item())
    assert errors[0] > errors[1] > errors[2]
    # 256x more features: error should shrink by about sqrt(256) = 16 (allow 8..32)
    assert 8 < errors[0] / errors[2] < 32
    assert errors[2] < 0.05


def test_favor_query_stabiliser_cancels_in_attention():
    g = torch.Generator().manual_seed(4)
    fm = FAVOR(8, 64, seed=0).double()
    q, k = (torch.randn(1, 30, 2, 8, generator=g, dtype=torch.float64) * 2 for _ in range(2))
    v = torch.randn(1, 30, 2, 5, generator=g, dtype=torch.float64)
    a, _ = linear_attention(fm(q), fm(k, is_query=False), v, causal=True, eps=0.0)
    b, _ = linear_attention(fm(q, stabilize=False), fm(k, is_query=False), v, causal=True, eps=0.0)
    torch.testing.assert_close(a, b)


def test_favor_projection_is_saved_and_changes_only_on_redraw():
    fm = FAVOR(8, 20, seed=0)
    w0 = fm.projection.clone()
    fm(torch.randn(3, 8))
    assert torch.equal(fm.projection, w0)
    assert "projection" in fm.state_dict()
    fm.redraw(torch.Generator().manual_seed(1))
    assert not torch.equal(fm.projection, w0)
    other = FAVOR(8, 20, seed=5)
    other.load_state_dict(fm.state_dict())
    assert torch.equal(other.projection, fm.projection)
