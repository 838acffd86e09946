"""The model's one-token ``step`` (a loop over its blocks' ``step``) computes what its parallel
``forward`` computes, for every PE, feature map and attention kind; RoPE and RoPEPool rows read
off the module equal its own call."""

import pytest
import torch

from stripes.attention import AttentionConfig
from stripes.generation.decode import generate, parallel_log_probs, recurrent_log_probs
from stripes.models import ModelConfig, ModelState, StripesTransformer
from stripes.positional import PositionalConfig, RoPE, RoPEPool, available_kinds
from stripes.positional.ops.rotary_step import RotaryTable, pool_, rotate_

NEEDS_LABELS = {"structure_ape"}
BIAS_KINDS = {"shaw_rpe", "structure_rpe", "nonstationary_rpe"}
LM_KINDS = ["none"] + [k for k in available_kinds() if k not in NEEDS_LABELS | {"none"}]


def _lm(pe="none", attention="linear", dtype=torch.float64, feature_map="elu1p", pe_params=None,
        causal=True):
    cfg = ModelConfig(input_kind="tokens", input_dim=11, output_dim=11, d_model=24, n_layers=2,
                      n_heads=3, attention=AttentionConfig(attention, feature_map, chunk_size=8,
                                                           causal=causal),
                      pe=PositionalConfig(pe, pe_params or {}), max_len=64)
    torch.manual_seed(0)
    return StripesTransformer(cfg).to(dtype).eval()


@pytest.mark.parametrize("attention", ["linear", "softmax"])
@pytest.mark.parametrize("pe", LM_KINDS)
def test_step_log_probs_equal_parallel_for_every_pe(pe, attention):
    if pe in BIAS_KINDS and attention == "linear":
        pytest.skip("logit-bias PEs need softmax attention")
    model = _lm(pe, attention)
    assert model.decoding_blocker() is None
    ids = torch.randint(0, 11, (2, 23), generator=torch.Generator().manual_seed(1))
    code = model.draw_pe_code(23, None, torch.Generator().manual_seed(2))
    par = parallel_log_probs(model, ids, code=code)
    lean = recurrent_log_probs(model, ids, code=code, prefix=4, lean=True)
    torch.testing.assert_close(lean, par, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("feature_map", ["relu", "favor", "favor_hyperbolic"])
def test_step_log_probs_equal_parallel_for_every_feature_map(feature_map):
    model = _lm("rope_pool", feature_map=feature_map)
    ids = torch.randint(0, 11, (2, 19), generator=torch.Generator().manual_seed(3))
    par = parallel_log_probs(model, ids)
    lean = recurrent_log_probs(model, ids, prefix=1, lean=True)
    torch.testing.assert_close(lean, par, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_step_state_continues_with_the_parallel_form(attention):
    model = _lm("sine_spe", attention)
    ids = torch.randint(0, 11, (1, 12), generator=torch.Generator().manual_seed(4))
    code = model.draw_pe_code(12, None, torch.Generator().manual_seed(5))
    with torch.no_grad():
        full, _ = model(ids, code=code)
        _, state = model(ids[:, :3], code=code, output_state=True)
        dec = model.start_decoding(state, capacity=4)
        for t in range(3, 8):
            model.step(ids[:, t], dec)
        state = dec.state()
        for t in range(8, 12):
            logits, state = model(ids[:, t : t + 1], state=state, output_state=True)
            torch.testing.assert_close(logits[:, 0], full[:, t], rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("pe", ["rope_pool", "sine_spe", "sinusoidal", "fstripe"])
def test_float32_step_at_a_large_position_equals_the_parallel_row(pe, monkeypatch):
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
        step = model.step(x[:, p], model.start_decoding(state))
    assert float((step[0] - full[0, -1]).norm() / full[0, -1].norm()) < 1e-5


def test_models_the_step_cannot_decode_fall_back_to_the_parallel_form():
    model = _lm()
    assert model.train().decoding_blocker() and _lm(dtype=torch.bfloat16).decoding_blocker()
    with pytest.raises(ValueError, match="training mode"):
        model.start_decoding(ModelState(1, [], None))
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
    table = RotaryTable(pe, cls is RoPEPool, h, d, torch.float64, length=5)
    g = torch.Generator().manual_seed(7)
    work = torch.empty(b, 2, h, d // 2, dtype=torch.float64)
    for t in (0, 4, 5, 37, 1500):  # past the table's first length: it grows
        qk = torch.randn(b, 2, h, d, generator=g, dtype=torch.float64)
        ref = torch.cat(pe(qk[:, :1], qk[:, 1:], offset=t), 1)
        # the real pairs hold the complex row's numbers, and the step in real arithmetic
        # equals the module
        assert torch.equal(torch.view_as_complex(table.at_pairs(t)), table.at(t))
        if cls is RoPEPool:
            out = pool_(qk, table.at_pairs(t), work)
        else:
            out = rotate_(qk, table.at_pairs(t), work)
            assert out.data_ptr() == qk.data_ptr()  # in place
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("attention", ["linear", "softmax"])
@pytest.mark.parametrize("pe", ["rope", "rope_pool"])
def test_step_log_probs_equal_parallel_for_learned_rotary_frequencies(pe, attention):
    model = _lm(pe, attention, pe_params={"variant": "C"})
    ids = torch.randint(0, 11, (2, 21), generator=torch.Generator().manual_seed(8))
    par = parallel_log_probs(model, ids)
    lean = recurrent_log_probs(model, ids, prefix=2, lean=True)
    torch.testing.assert_close(lean, par, rtol=1e-8, atol=1e-8)


def test_step_of_a_pianoroll_model_equals_its_parallel_rows():
    cfg = ModelConfig(input_kind="pianoroll", input_dim=10, output_dim=7, d_model=24, n_layers=2,
                      n_heads=3, pe=PositionalConfig("rope_pool"), max_len=32)
    torch.manual_seed(0)
    model = StripesTransformer(cfg).double().eval()
    x = (torch.rand(2, 9, 10, generator=torch.Generator().manual_seed(9)) > 0.7).double()
    with torch.no_grad():
        full, _ = model(x)
        _, state = model(x[:, :3], output_state=True)
        dec = model.start_decoding(state)
        for t in range(3, 9):
            torch.testing.assert_close(model.step(x[:, t], dec), full[:, t], rtol=1e-8,
                                       atol=1e-8)


def test_autocast_and_non_causal_models_take_the_parallel_form():
    model = _lm(dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert "autocast" in model.decoding_blocker()
    assert model.decoding_blocker() is None
    assert "non-causal" in _lm(causal=False).decoding_blocker()
