"""bf16 autocast training (TrainConfig.precision): every PE kind runs forward and backward under
CPU autocast, its arithmetic in float32, and the model's output stays close to float32's."""

import pytest
import torch

from stripes.attention import AttentionConfig
from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig

KINDS = ["none", "sinusoidal", "learned", "rope", "rope_pool", "fstripe", "fstripe1", "sine_spe",
         "conv_spe"]


@pytest.mark.parametrize("pe", KINDS)
def test_every_pe_trains_under_bf16_autocast_close_to_float32(pe):
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=32, n_layers=1, n_heads=2, pe=PositionalConfig(pe), input_dim=8,
                      output_dim=8, attention=AttentionConfig(chunk_size=16))
    model = StripesTransformer(cfg)
    x = torch.rand(2, 70, 8)
    code = model.draw_pe_code(70, None, torch.Generator().manual_seed(1))
    ref, _ = model(x, code=code)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = model(x, code=code)
    assert out.dtype == torch.bfloat16
    out.float().square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
    err = (out.float() - ref).abs().max() / ref.abs().max()
    assert err < 0.05, float(err)  # bf16 has 8 bits of mantissa
