"""The float32 model decodes the token at p = 8191 (not a power of two) as its parallel forward
computes that row: prompt of p tokens in parallel, then one step from the carried state."""

import pytest
import torch

from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig

P = 8191


@pytest.mark.parametrize("pe, params", [("sine_spe", {}), ("fstripe", {}), ("fstripe1", {}),
                                        ("rope", dict(variant="C")),
                                        ("rope_pool", dict(variant="C")),
                                        ("conv_spe", dict(kernel_size=5)), ("sinusoidal", {})])
def test_one_token_step_at_8191_equals_the_parallel_row(pe, params, monkeypatch):
    monkeypatch.setenv("STRIPES_COMPILE", "0")  # the eager paths (compiling costs seconds)
    cfg = ModelConfig(input_kind="tokens", input_dim=11, output_dim=11, d_model=16, n_layers=2,
                      n_heads=2, pe=PositionalConfig(pe, params), max_len=P + 1)
    torch.manual_seed(0)
    model = StripesTransformer(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "freq_logits" in name:  # frequencies of a trained model, up to 1/2
                p.normal_(0.0, 2.0)
        x = torch.randint(0, 11, (1, P + 1), generator=torch.Generator().manual_seed(1))
        code = model.draw_pe_code(P + 1, None, torch.Generator().manual_seed(2))
        full, _ = model(x, code=code)
        _, state = model(x[:, :P], code=code, output_state=True)
        step, _ = model(x[:, P:], state=state, output_state=True)
    assert float((step[0, 0] - full[0, -1]).norm() / full[0, -1].norm()) < 1e-5
