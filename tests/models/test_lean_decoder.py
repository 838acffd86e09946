"""The lean decoder computes what the model's reference step computes, for every decodable PE,
feature map and attention kind; RoPE and RoPEPool rows read off the module equal its own call."""

import pytest
import torch

from stripes.attention import AttentionConfig
from stripes.generation.decode import generate, parallel_log_probs, recurrent_log_probs
from stripes.models import ModelConfig, StripesTransformer
from stripes.models.lean_decoder import LeanDecoder, unsupported
from stripes.models.rotary_step import RotaryTable, pool_, rotate_
from stripes.positional import PositionalConfig, RoPE, RoPEPool, available_kinds

NOT_FOR_TOKEN_LM = {"structure_ape", "shaw_rpe", "structure_rpe", "nonstationary_rpe"}
LM_KINDS = ["none"] + [k for k in available_kinds() if k not in NOT_FOR_TOKEN_LM | {"none"}]

def _lm(pe="none", attention="linear", dtype=torch.float64, feature_map="elu1p", pe_params=None):
    cfg = ModelConfig(input_kind="tokens", input_dim=11, output_dim=11, d_model=24, n_layers=2,
                      n_heads=3, attention=AttentionConfig(attention, feature_map, chunk_size=8),
                      pe=PositionalConfig(pe, pe_params or {}), max_len=64)
    torch.manual_seed(0)
    return StripesTransformer(cfg).to(dtype).eval()


@pytest.mark.parametrize("attention", ["linear", "softmax"])


@pytest.mark.parametrize("pe", LM_KINDS)


def test_lean_log_probs_equal_parallel_for_every_pe(pe, attention):
    model = _lm(pe, attention)
    assert unsupported(model) is None
    ids = torch.randint(0, 11, (2, 23), generator=torch.Generator().manual_seed(1))
    code = model.draw_pe_code(23, None, torch.Generator().manual_seed(2))
    par = parallel_log_probs(model, ids, code=code)
    lean = recurrent_log_probs(model, ids, code=code, prefix=4, lean=True)
    torch.testing.assert_close(lean, par, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("feature_map", ["relu", "favor", "favor_hyperbolic"])


def test_lean_log_probs_equal_parallel_for_every_feature_map(feature_map):
    model = _lm("rope_pool", feature_map=feature_map)
    ids = torch.randint(0, 11, (2, 19), generator=torch.Generator().manual_seed(3))
    par = parallel_log_probs(model, ids)
    lean = recurrent_log_probs(model, ids, prefix=1, lean=True)
    torch.testing.assert_close(lean, par, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("attention", ["linear", "softmax"])


def test_lean_state_continues_with_the_reference_step(attention):
    model = _lm("sine_spe", attention)
    ids = torch.randint(0, 11, (1, 12), generator=torch.Generator().manual_seed(4))
    code = model.draw_pe_code(12, None, torch.Generator().manual_seed(5))
    with torch.no_grad():
        full, _ = model(ids, code=code)
        _, state = model(ids[:, :3], code=code, output_state=True)
        dec = LeanDecoder(model, state, capacity=4)
        for t in range(3, 8):
            dec.step(ids[:, t])
        state = dec.state()
        for t in range(8, 12):
            logits, state = model(ids[:, t : t + 1], state=state, output_state=True)
            torch.testing.assert_close(logits[:, 0], full[:, t], rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("pe", ["rope_pool", "sine_spe", "sinusoidal", "fstripe"])


def test_float32_lean_step_at_a_large_position_equals_the_parallel_row(pe, monkeypatch):
    monkeypatch.setenv("STRIPES_COMPILE", "0")  # the eager paths (compiling costs seconds)
    p = 4095
    cfg = ModelConfig(input_kind="tokens", input_dim=11, output_dim=11, d_model=16, n_layers=2,
                      n_heads=2, pe=PositionalConfig(pe), max_len=p + 1)
    torch.manual_seed(0)
    model = StripesTransformer(cfg).eval()
    x = torch.randint(0, 11, (1, p + 1), generator=torch.Generator().manual_seed(1))
    code = model.draw_pe_code(p + 1, None, torch.Generator().manual_seed(2))
    with torch.no_grad():
        full, _ = model(x, code=code)
        _, state = model(x[:, :p], code=code, output_state=True)
        step = LeanDecoder(model, state).step(x[:, p])
    assert float((step[0] - full[0, -1]).norm() / full[0, -1].norm()) < 1e-5


def test_models_the_lean_step_cannot_decode_fall_back_to_the_reference():
    model = _lm()
    assert unsupported(model.train()) and unsupported(_lm(dtype=torch.bfloat16))
    with pytest.raises(ValueError, match="training mode"):
        LeanDecoder(model, {"offset": 1, "layers": [], "code": None})
    model.eval()
    a = generate(model, torch.zeros(1, 2, dtype=torch.long), 15,
                 generator=torch.Generator().manual_seed(6))
    b = generate(model, torch.zeros(1, 2, dtype=torch.long), 15,
                 generator=torch.Generator().manual_seed(6), lean=False)
    assert torch.equal(a, b)


@pytest.mark.parametrize("variant", ["A", "B", "C"])


@pytest.mark.parametrize("cls", [RoPE, RoPEPool])


def test_rotary_table_step_equals_the_module_at_any_time(cls, variant):
    b, h, d = 2, 3, 8
    pe = cls(h, d, variant=variant, max_len=16).double()
    table = RotaryTable(pe, h, d, torch.float64, length=5)
    g = torch.Generator().manual_seed(7)
    work = torch.empty(b, 2, h, d // 2, dtype=torch.complex128)
    pooled = torch.empty(b, 2, h, d // 2, dtype=torch.float64)
    for t in (0, 4, 5, 37, 1500):  # past the table's first length: it grows
        qk = torch.randn(b, 2, h, d, generator=g, dtype=torch.float64)
        ref = torch.cat(pe(qk[:, :1], qk[:, 1:], offset=t), 1)
        if cls is RoPEPool:
            out = pool_(qk, table.at(t), work, pooled)
        else:
            rotate_(qk, table.at(t))
            out = qk
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("attention", ["linear", "softmax"])


@pytest.mark.parametrize("pe", ["rope", "rope_pool"])


def test_lean_log_probs_equal_parallel_for_learned_rotary_frequencies(pe, attention):
    model = _lm(pe, attention, pe_params={"variant": "C"})
    ids = torch.randint(0, 11, (2, 21), generator=torch.Generator().manual_seed(8))
    par = parallel_log_probs(model, ids)
    lean = recurrent_log_probs(model, ids, prefix=2, lean=True)
    torch.testing.assert_close(lean, par, rtol=1e-8, atol=1e-8)


def test_lean_step_of_a_pianoroll_model_equals_its_parallel_rows():
    cfg = ModelConfig(input_kind="pianoroll", input_dim=10, output_dim=7, d_model=24, n_layers=2,
                      n_heads=3, pe=PositionalConfig("rope_pool"), max_len=32)
    torch.manual_seed(0)
    model = StripesTransformer(cfg).double().eval()
    x = (torch.rand(2, 9, 10, generator=torch.Generator().manual_seed(9)) > 0.7).double()
    with torch.no_grad():
        full, _ = model(x)
        _, state = model(x[:, :3], output_state=True)
        dec = LeanDecoder(model, state)
        for t in range(3, 9):
            torch.testing.assert_close(dec.step(x[:, t]), full[:, t], rtol=1e-8, atol=1e-8)


def test_autocast_and_foreign_modules_take_the_reference_step():
    model = _lm(dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert "autocast" in unsupported(model)
    assert unsupported(model) is None
    assert "StripesTransformer" in unsupported(torch.nn.Linear(2, 2))
