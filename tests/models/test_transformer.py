"""The Transformer: decoding with a carried state equals the parallel forward; config round trip."""

import pytest
import torch

from stripes.models import ModelConfig, StripesTransformer


def _tiny(**kw):
    base = dict(d_model=32, n_layers=2, n_heads=4, chunk_size=8)
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
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(d_model=30, n_heads=4)


def test_old_checkpoints_name_the_pe_pooling_rows_chunk_size_and_still_load():
    old = {**_tiny(pe="sine_spe").to_dict(), "pe_params": {"n_realizations": 8, "chunk_size": 16}}
    cfg = ModelConfig.from_dict(old)
    assert cfg.pe_params == {"n_realizations": 8, "pool_rows": 16}
    assert StripesTransformer(cfg).qk_pes[0].pool_rows == 16


def test_every_block_builds_its_attention_from_the_model_config():
    model = StripesTransformer(_tiny(pe="none", attention="linear"))
    for i, block in enumerate(model.blocks):
        cfg = model.config.attention_config(i)
        assert (block.attn.kind, block.attn.chunk_size) == (cfg.kind, cfg.chunk_size)
        assert cfg.feature_seed == model.config.feature_seed + i


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
