"""NaN or Inf in a user tensor stops the model at its entry with an error naming the tensor:
chunked linear attention would otherwise spread one bad step over its whole chunk (earlier steps
included), silently."""

import math

import pytest
import torch

from stripes.attention import AttentionConfig
from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig


def _model(pe="none", **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(input_dim=12, output_dim=6, d_model=16, n_layers=1, n_heads=2,
                      attention=AttentionConfig(chunk_size=8), pe=PositionalConfig(pe), **kw)
    return StripesTransformer(cfg).eval()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_input_step_raises_a_value_error_naming_x(bad):
    model = _model()
    x = torch.rand(2, 16, 12)
    x[1, 5, 3] = bad
    with pytest.raises(ValueError, match=r"x \[2, 16, 12\] holds NaN or Inf .*index \(1, 5, 3\)"):
        model(x)


def test_non_finite_structure_positions_raise_a_value_error_naming_positions():
    model = _model(pe="fstripe", position_dim=2)
    pos = torch.zeros(2, 16, 2)
    pos[0, 9, 1] = math.nan
    with pytest.raises(ValueError, match="positions .* holds NaN or Inf"):
        model(torch.rand(2, 16, 12), positions=pos)


def test_a_non_finite_decoding_step_is_refused_and_finite_inputs_pass():
    model = _model(pe="sine_spe")
    x = torch.rand(1, 9, 12)
    _, state = model(x[:, :8], output_state=True)
    with pytest.raises(ValueError, match="NaN or Inf"):
        model(torch.full((1, 1, 12), math.nan), state=state, output_state=True)
    logits, _ = model(x[:, 8:], state=state, output_state=True)
    assert torch.isfinite(logits).all()


def test_without_the_check_one_nan_step_would_poison_earlier_steps_of_its_chunk():
    """Why the check exists: the chunked causal path multiplies masked zeros by the NaN."""
    from stripes.attention import linear_attention

    q, k, v = (torch.rand(1, 16, 2, 4) for _ in range(3))
    v[0, 6] = math.nan
    o, _ = linear_attention(q, k, v, causal=True, chunk_size=8)
    assert torch.isnan(o[0, :6]).any()  # steps before the NaN, same chunk
