"""The Transformer: decoding with a carried state equals the parallel forward; config round trip
and the migration of the flat shape."""

import pytest
import torch

from stripes.attention import AttentionConfig
from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig


def _tiny(attention="linear", pe="none", **kw):
    base = dict(d_model=32, n_layers=2, n_heads=4,
                attention=AttentionConfig(attention, chunk_size=8), pe=PositionalConfig(pe))
    return ModelConfig(**{**base, **kw})


@pytest.mark.parametrize("attention", ["linear", "softmax"])
@pytest.mark.parametrize("input_kind", ["pianoroll", "tokens"])
def test_stepwise_decoding_equals_parallel_forward(attention, input_kind):
    torch.manual_seed(0)
    cfg = _tiny(attention=attention, input_kind=input_kind, input_dim=20, output_dim=20)
    model = StripesTransformer(cfg).double().eval()
    if input_kind == "tokens":
        x = torch.randint(0, 20, (2, 19))
    else:
        x = (torch.rand(2, 19, 20) < 0.2).double()
    full, _ = model(x)
    logits, state = model(x[:, :5], output_state=True)
    outs = [logits]
    for t in range(5, 19):
        y, state = model(x[:, t : t + 1], state=state, output_state=True)
        outs.append(y)
    torch.testing.assert_close(torch.cat(outs, 1), full)


def test_config_round_trip_and_unknown_fields():
    cfg = _tiny(pe="none", attention="softmax")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown key n_layer .did you mean 'n_layers'"):
        ModelConfig.from_dict({**cfg.to_dict(), "n_layer": 3})
    with pytest.raises(ValueError, match=r"unknown key attention.kindd \(did you mean 'kind'"):
        ModelConfig.from_dict({"attention": {"kindd": "softmax"}})
    with pytest.raises(ValueError, match="attention.kind: unknown attention kind 'sofmax'"):
        ModelConfig.from_dict({"attention": {"kind": "sofmax"}})
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(d_model=30, n_heads=4)


FLAT = {"d_model": 32, "n_layers": 2, "n_heads": 4, "attention": "softmax", "feature_map": "relu",
        "chunk_size": 8, "causal": True, "feature_seed": 0, "pe": "sine_spe",
        "pe_params": {"n_realizations": 8, "chunk_size": 16}, "share_pe": True}


def test_the_flat_shape_of_old_checkpoints_migrates_with_one_note():
    with pytest.warns(DeprecationWarning, match="older shape") as notes:
        cfg = ModelConfig.from_dict(FLAT)
    assert len(notes) == 1 and len(str(notes[0].message).splitlines()) == 1
    assert cfg.attention == AttentionConfig("softmax", "relu", chunk_size=8, feature_seed=0)
    # the PE's pooling rows were once called chunk_size
    assert cfg.pe == PositionalConfig("sine_spe", {"n_realizations": 8, "pool_rows": 16})
    assert StripesTransformer(cfg).qk_pes[0].pool_rows == 16
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg  # the nested shape: no note


def test_a_model_of_the_flat_shape_is_the_same_model_bit_for_bit():
    flat = {**FLAT, "attention": "linear", "feature_map": "favor", "n_features": 6}
    with pytest.warns(DeprecationWarning):
        old = ModelConfig.from_dict(flat)
    nested = _tiny(pe="sine_spe", attention="linear").attention
    assert old.attention.feature_seed == 0 and nested.feature_seed is None
    torch.manual_seed(3)
    a = StripesTransformer(old)
    torch.manual_seed(3)
    b = StripesTransformer(ModelConfig(**{**old.__dict__, "attention": AttentionConfig(
        "linear", "favor", 6, chunk_size=8)}))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name  # FAVOR projections drawn with seed 0 + i either way
    torch.manual_seed(3)
    c = StripesTransformer(ModelConfig(**{**old.__dict__, "attention": AttentionConfig(
        "linear", "favor", 6, chunk_size=8, feature_seed=5)}))
    key = "blocks.1.attn.phi.projection"
    assert not torch.equal(a.state_dict()[key], c.state_dict()[key])  # the seed is what counts


def test_every_block_builds_its_attention_from_the_model_config():
    model = StripesTransformer(_tiny(pe="none", attention="linear"))
    for i, block in enumerate(model.blocks):
        cfg = model.config.layer_attention(i)
        assert (block.attn.kind, block.attn.chunk_size) == (cfg.kind, cfg.chunk_size)
        assert cfg.feature_seed == (model.config.attention.feature_seed or 0) + i


def test_causal_model_output_ignores_the_future():
    torch.manual_seed(1)
    model = StripesTransformer(_tiny(input_dim=12, output_dim=6)).eval()
    x = torch.rand(1, 30, 12)
    y, _ = model(x)
    x2 = x.clone()
    x2[:, 20:] = 1.0
    y2, _ = model(x2)
    assert torch.equal(y[:, :20], y2[:, :20])
    assert not torch.allclose(y[:, 20:], y2[:, 20:])
