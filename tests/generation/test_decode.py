"""Recurrent decoding gives the parallel model's log-probabilities, for every PE that decodes."""

import pytest
import torch

from stripes.attention import AttentionConfig
from stripes.generation.decode import generate, parallel_log_probs, recurrent_log_probs
from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig, available_kinds

# PEs that need per-sample structure labels or exact T×T bias are not token-LM decodable here.
NOT_FOR_TOKEN_LM = {"structure_ape", "shaw_rpe", "structure_rpe", "nonstationary_rpe"}
LM_KINDS = ["none"] + [k for k in available_kinds() if k not in NOT_FOR_TOKEN_LM | {"none"}]


def _lm(pe="none", attention="linear"):
    cfg = ModelConfig(
        input_kind="tokens",
        input_dim=11,
        output_dim=11,
        d_model=32,
        n_layers=2,
        n_heads=2,
        attention=AttentionConfig(attention, chunk_size=8),
        pe=PositionalConfig(pe),
        max_len=64,
    )
    torch.manual_seed(0)
    return StripesTransformer(cfg).double().eval()


@pytest.mark.parametrize("attention", ["linear", "softmax"])
@pytest.mark.parametrize("pe", LM_KINDS)
def test_recurrent_log_probs_equal_parallel_for_every_pe(pe, attention):
    model = _lm(pe, attention)
    ids = torch.randint(0, 11, (2, 23), generator=torch.Generator().manual_seed(1))
    code = model.draw_pe_code(23, None, torch.Generator().manual_seed(2))
    par = parallel_log_probs(model, ids, code=code)
    rec = recurrent_log_probs(model, ids, code=code, prefix=4)
    torch.testing.assert_close(rec, par, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("pe", LM_KINDS)
def test_generation_runs_past_the_training_length(pe):
    model = _lm(pe)
    if pe == "learned":
        pytest.skip("a learned APE table cannot extrapolate (tested in tests/positional)")
    out = generate(
        model,
        torch.zeros(1, 3, dtype=torch.long),
        90,
        top_p=0.9,
        generator=torch.Generator().manual_seed(0),
    )
    assert out.shape == (1, 93)
    assert int(out.min()) >= 0 and int(out.max()) < 11


def test_constrained_generation_never_emits_forbidden_tokens():
    model = _lm()

    def allowed(last):  # an odd token must follow an even one and vice versa
        parity = torch.arange(11)[None] % 2
        return parity != (last[:, None] % 2)

    out = generate(
        model,
        torch.tensor([[0], [1]]),
        40,
        temperature=1.5,
        generator=torch.Generator().manual_seed(3),
        allowed=allowed,
    )
    assert ((out[:, 1:] % 2) != (out[:, :-1] % 2)).all()


def test_generation_is_reproducible_with_a_seeded_generator():
    model = _lm()
    a = generate(
        model, torch.zeros(1, 2, dtype=torch.long), 20, generator=torch.Generator().manual_seed(5)
    )
    b = generate(
        model, torch.zeros(1, 2, dtype=torch.long), 20, generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(a, b)
