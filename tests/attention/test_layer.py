"""The Attention layer: parallel equals step-by-step decoding; softmax kind equals the oracle."""

import pytest
import torch

from stripes.attention import Attention, AttentionConfig, softmax_attention


@pytest.mark.parametrize(
    "kind,fmap",
    [("linear", "elu1p"), ("linear", "relu"), ("linear", "favor"), ("softmax", "elu1p")],
)
def test_layer_decoding_with_state_equals_parallel_forward(kind, fmap):
    torch.manual_seed(0)
    layer = (
        AttentionConfig(kind=kind, feature_map=fmap, chunk_size=8, feature_seed=0)
        .build(d_model=32, n_heads=4)
        .double()
    )
    x = torch.randn(2, 21, 32, dtype=torch.float64)
    full, _ = layer(x)
    prompt, state = layer(x[:, :9], output_state=True)
    outs = [prompt]
    for t in range(9, 21):
        y, state = layer(x[:, t : t + 1], state=state, output_state=True)
        outs.append(y)
    torch.testing.assert_close(torch.cat(outs, 1), full)
    assert state.offset == 21


def test_softmax_layer_equals_oracle_on_its_projections():
    torch.manual_seed(1)
    layer = Attention(16, 2, kind="softmax").double()
    x = torch.randn(1, 11, 16, dtype=torch.float64)
    q, k, v = layer.qkv(x).view(1, 11, 3, 2, 8).unbind(2)
    expected = layer.out(softmax_attention(q, k, v, causal=True).reshape(1, 11, 16))
    torch.testing.assert_close(layer(x)[0], expected)


def test_layer_key_padding_matches_unpadded_sequence():
    torch.manual_seed(2)
    for kind in ("linear", "softmax"):
        layer = Attention(16, 2, kind=kind, causal=False).double()
        x = torch.randn(1, 12, 16, dtype=torch.float64)
        pad = torch.zeros(1, 12, dtype=torch.bool)
        pad[:, 7:] = True
        padded, _ = layer(x, key_padding_mask=pad)
        alone, _ = layer(x[:, :7])
        torch.testing.assert_close(padded[:, :7], alone)


def test_layer_gradients_reach_every_parameter():
    layer = Attention(16, 2, kind="linear", feature_map="favor", feature_seed=0)
    y, _ = layer(torch.randn(2, 10, 16))
    y.square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_layer_rejects_bad_configuration():
    with pytest.raises(ValueError, match="divisible"):
        Attention(30, 4)
    with pytest.raises(ValueError, match="unknown attention kind"):
        Attention(32, 4, kind="sparse")
