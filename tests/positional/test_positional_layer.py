"""Every PE through the Attention layer: step-by-step decoding with a frozen realization equals
the parallel causal forward, for both attention kinds, and gradients reach every parameter."""

import pytest
import torch
from pe_cases import (
    ADDITIVE_CASES,
    BIAS_CASES,
    D_MODEL,
    N_HEADS,
    QK_CASES,
    build,
    hooks,
    make_positions,
)

from stripes.attention import Attention
from stripes.positional import QKTransformPE

T, PROMPT, B = 19, 7, 2


def _layer(pe, kind):
    torch.manual_seed(0)
    return Attention(D_MODEL, N_HEADS, kind=kind, chunk_size=4, **hooks(pe)).double()


def _steps(layer, x, pos, pe_kwargs, pe_add=None):
    """Prompt in parallel, then one token at a time; positions sliced along T."""
    def run(sl, state):
        xs = x[:, sl] if pe_add is None else pe_add(x[:, sl], _slice(pos, sl), offset=sl.start)
        qk_pos = None if pe_add is not None else _slice(pos, sl)
        return layer(xs, positions=qk_pos, **(pe_kwargs or {}), state=state, output_state=True)

    out, state = run(slice(0, PROMPT), None)
    outs = [out]
    for t in range(PROMPT, T):
        y, state = run(slice(t, t + 1), state)
        outs.append(y)
    return torch.cat(outs, 1), state


def _slice(pos, sl):
    return None if pos is None else pos[:, sl]


def _stochastic_kwargs(pe, layer_index=1):
    kw = {"layer": layer_index}
    if isinstance(pe, QKTransformPE) and pe.stochastic:
        kw["code"] = pe.draw_code(T, None, torch.Generator().manual_seed(7))
    return kw


@pytest.mark.parametrize("kind", ["linear", "softmax"])
@pytest.mark.parametrize("case", sorted(QK_CASES))
def test_qk_pe_decoding_with_frozen_code_equals_parallel_forward(case, kind):
    name, params, pdim = QK_CASES[case]
    pe = build(name, params, pdim)
    layer = _layer(pe, kind)
    x = torch.randn(B, T, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    pos = make_positions(name, pdim, B, T)
    kw = _stochastic_kwargs(pe)
    full, _ = layer(x, positions=pos, **kw)
    stepped, state = _steps(layer, x, pos, kw)
    torch.testing.assert_close(stepped, full)
    assert state.offset == T


@pytest.mark.parametrize("case", sorted(BIAS_CASES))
def test_bias_pe_decoding_equals_parallel_forward_and_refuses_linear_attention(case):
    name, params, pdim = BIAS_CASES[case]
    pe = build(name, params, pdim)
    layer = _layer(pe, "softmax")
    x = torch.randn(B, T, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    pos = make_positions(name, pdim, B, T)
    full, _ = layer(x, positions=pos)
    stepped, _ = _steps(layer, x, pos, None)
    torch.testing.assert_close(stepped, full)
    with pytest.raises(ValueError, match="softmax"):
        _layer(pe, "linear")(x, positions=pos)


@pytest.mark.parametrize("kind", ["linear", "softmax"])
@pytest.mark.parametrize("case", sorted(ADDITIVE_CASES))
def test_additive_pe_decoding_with_offsets_equals_parallel_forward(case, kind):
    name, params, pdim = ADDITIVE_CASES[case]
    pe = build(name, params, pdim)
    layer = _layer(None, kind)
    x = torch.randn(B, T, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    pos = make_positions(name, pdim, B, T)
    full, _ = layer(pe(x, pos))
    stepped, _ = _steps(layer, x, pos, None, pe_add=pe)
    torch.testing.assert_close(stepped, full)


ALL_CASES = {**QK_CASES, **BIAS_CASES, **ADDITIVE_CASES}


@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_gradients_reach_every_learnable_parameter(case):
    name, params, pdim = ALL_CASES[case]
    pe = build(name, params, pdim)
    kind = "softmax" if case in BIAS_CASES else "linear"
    additive = case in ADDITIVE_CASES
    layer = _layer(None if additive else pe, kind)
    x = torch.randn(B, T, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    pos = make_positions(name, pdim, B, T)
    loss = 0.0
    for index in (0, 1):  # one shared PE, per-layer gates: both layers' gates must learn
        if additive:
            y, _ = layer(pe(x, pos))
        else:
            y, _ = layer(x, positions=pos, **_stochastic_kwargs(pe, index))
        loss = loss + y.square().sum()
    loss.backward()
    for pname, p in pe.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{case}: {pname} gets no gradient"
    fixed = ("rope_A", "rope_B", "rope_pool_A", "none", "sinusoidal", "structure_ape_sine")
    assert (len(list(pe.parameters())) == 0) == (case in fixed)
