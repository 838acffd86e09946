"""The whole model on the meta device (no values; refuses to mix devices as CUDA does), for every
registered PE, softmax and linear attention: training forward and backward, then decoding one
token from the carried state. Plus, where CUDA exists, the model on CUDA equals the CPU."""

import pytest
import torch

from stripes.attention import AttentionConfig
from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig, available_kinds

META = torch.device("meta")
VOCAB, T = 11, 21
NEEDS = {"structure_ape": dict(vocab_sizes=[4]), "conv_spe": dict(kernel_size=5, block_size=4),
         "learned": {}}
LABELS = ("structure_ape", "structure_rpe", "nonstationary_rpe")
BIAS = ("shaw_rpe", "structure_rpe", "nonstationary_rpe")


def _model(pe, attention, feature_map="elu1p"):
    cfg = ModelConfig(input_kind="tokens", input_dim=VOCAB, output_dim=VOCAB, d_model=16,
                      n_layers=2, n_heads=2,
                      attention=AttentionConfig(attention, feature_map, chunk_size=8),
                      pe=PositionalConfig(pe, NEEDS.get(pe, {})), max_len=64)
    torch.manual_seed(0)
    return StripesTransformer(cfg)


def _labels(pe, length, device):
    return torch.zeros(1, length, dtype=torch.long, device=device) if pe in LABELS else None


CASES = [(pe, att) for pe in available_kinds() for att in ("softmax", "linear")
         if not (pe in BIAS and att == "linear")] + [("sine_spe", "favor"), ("none", "favor")]


@pytest.mark.parametrize("pe, attention", CASES)
def test_the_model_trains_and_decodes_on_the_meta_device(pe, attention):
    favor = attention == "favor"
    model = _model(pe, "linear" if favor else attention, "favor" if favor else "elu1p").to(META)
    x = torch.randint(0, VOCAB, (2, T), device=META)
    logits, _ = model(x, positions=_labels(pe, T, META))
    logits.sum().backward()
    assert logits.device == META and logits.shape == (2, T, VOCAB)
    assert all(p.grad is None or p.grad.device == META for p in model.parameters())
    with torch.no_grad():
        _, state = model(x[:, :5], positions=_labels(pe, 5, META), output_state=True)
        step, state = model(x[:, 5:6], positions=_labels(pe, 1, META), state=state,
                            output_state=True)
    assert step.device == META and state.offset == 6


@pytest.mark.gpu
@pytest.mark.parametrize("pe", ["sine_spe", "conv_spe", "fstripe", "rope", "rope_pool",
                                "sinusoidal"])
def test_the_model_on_cuda_equals_the_cpu_forward_and_backward(pe):
    """convSPE draws its noise on the device (another stream than the CPU's): CUDA-only run."""
    out = {}
    for device in ("cpu", "cuda"):
        model = _model(pe, "linear").double().to(device)
        x = torch.randint(0, VOCAB, (2, T), generator=torch.Generator().manual_seed(1))
        code = model.draw_pe_code(T, None, torch.Generator().manual_seed(2))
        logits, _ = model(x.to(device), code=code)
        logits.square().sum().backward()
        out[device] = [logits.detach().cpu(), *[p.grad.cpu() for p in model.parameters()
                                                  if p.grad is not None]]
    if pe == "conv_spe":
        assert all(torch.isfinite(t).all() for t in out["cuda"])
        return
    for a, b in zip(out["cuda"], out["cpu"], strict=True):
        torch.testing.assert_close(a, b)
