"""``torch.compile`` of the model: forward, training step (forward + backward) and one-token step
compile with ``fullgraph=True`` (any graph break is an error) for every PE and attention kind,
and compute what the eager model computes. The matrix runs on ``aot_eager`` (the graph Dynamo
captures and AOT autograd's backward, no code generation: seconds); Inductor, which generates
C++, on a subset: ``-m inductor`` (``make test-compile``, run by CI), the whole matrix marked
slow. The default suite runs the aot_eager matrix on one PE of each family (``QUICK``); the
rest of it is marked slow."""

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from stripes.attention import AttentionConfig
from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig, available_kinds

BIAS_KINDS = {"shaw_rpe", "structure_rpe", "nonstationary_rpe"}
#: kind -> (params, position_dim): the labelled PEs read structure labels.
PARAMS = {"structure_ape": ({"vocab_sizes": [5, 3]}, 2), "conv_spe": ({"kernel_size": 5,
          "n_realizations": 8, "block_size": 4}, 1), "structure_rpe": ({}, 2),
          "fstripe": ({"n_sines": 2}, 3)}
CASES = [(att, pe) for att in ("linear", "softmax") for pe in available_kinds()
         if not (att == "linear" and pe in BIAS_KINDS)]
#: one PE per family and code path (time tables, token pooling, structure tables, noise, bias)
QUICK = {("linear", "none"), ("linear", "rope_pool"), ("linear", "sine_spe"),
         ("linear", "fstripe1"), ("linear", "conv_spe"), ("softmax", "rope"),
         ("softmax", "shaw_rpe"), ("softmax", "structure_rpe")}
INDUCTOR = [("linear", "none"), ("linear", "rope_pool"), ("softmax", "shaw_rpe")]


def _marked(cases, keep):
    return [c if c in keep else pytest.param(*c, marks=pytest.mark.slow) for c in cases]
T = 37  # not a multiple of the chunk (8) nor of any PE block


def _model(att, pe, dtype=torch.float64):
    params, pdim = PARAMS.get(pe, ({}, 1))
    cfg = ModelConfig(input_kind="tokens", input_dim=11, output_dim=11, d_model=24, n_layers=2,
                      n_heads=3, attention=AttentionConfig(att, chunk_size=8),
                      pe=PositionalConfig(pe, params), position_dim=pdim, max_len=64)
    torch.manual_seed(0)
    return StripesTransformer(cfg).to(dtype)


def _positions(pe):
    """Structure labels for the labelled PEs, times (None) for the others."""
    _, pdim = PARAMS.get(pe, ({}, 1))
    if pdim == 1:
        return None
    gen = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 3, (2, T, pdim), generator=gen).cumsum(1) // 2
    return labels.clamp(max=2) if pe in ("structure_ape", "structure_rpe") else labels.double()


def _loss(model, ids, positions, code):
    logits, _ = model(ids, positions, code=code)
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())


def _grads(model):
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def _check_training_step(att, pe, backend):
    """Loss and every gradient of the compiled training step equal the eager ones; one graph."""
    model = _model(att, pe)
    ids = torch.randint(0, 11, (2, T), generator=torch.Generator().manual_seed(1))
    positions = _positions(pe)
    code = model.draw_pe_code(T, positions, torch.Generator().manual_seed(2), traceable=True)
    eager = _loss(model, ids, positions, code)
    eager.backward()
    expected = _grads(model)
    model.zero_grad()
    counter = CompileCounterWithBackend(backend)
    compiled = torch.compile(_loss, backend=counter, fullgraph=True)
    loss = compiled(model, ids, positions, code)
    loss.backward()
    assert counter.frame_count == 1  # fullgraph: one graph, no break
    torch.testing.assert_close(loss, eager, rtol=1e-9, atol=1e-9)
    got = _grads(model)
    assert len(got) == len(expected) > 0
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(("att", "pe"), _marked(CASES, QUICK))
def test_compiled_training_step_equals_eager_for_every_pe(att, pe):
    torch._dynamo.reset()
    _check_training_step(att, pe, "aot_eager")


@pytest.mark.inductor
@pytest.mark.parametrize(("att", "pe"), INDUCTOR)
def test_inductor_training_step_equals_eager(att, pe):
    """Inductor generates and compiles C++ (tens of seconds per case on two cores)."""
    torch._dynamo.reset()
    _check_training_step(att, pe, "inductor")


@pytest.mark.slow
@pytest.mark.parametrize(("att", "pe"), [c for c in CASES if c not in INDUCTOR])
def test_inductor_training_step_equals_eager_for_every_other_pe(att, pe):
    torch._dynamo.reset()
    _check_training_step(att, pe, "inductor")


def test_compiled_forward_with_state_padding_and_pianoroll_input():
    """The harmonizer's shape of call: pianoroll frames, structure positions, a padding mask,
    and the state returned for decoding; outputs and state equal eager."""
    cfg = ModelConfig(input_kind="pianoroll", input_dim=10, output_dim=6, d_model=16,
                      n_layers=2, n_heads=2, pe=PositionalConfig("fstripe"), position_dim=2)
    torch.manual_seed(0)
    model = StripesTransformer(cfg).double()
    x = torch.rand(2, T, 10, dtype=torch.float64)
    pos = (torch.randint(0, 3, (2, T, 2)).cumsum(1) // 2).double()
    pad = torch.zeros(2, T, dtype=torch.bool)
    pad[1, -5:] = True

    def run(x, pos, pad):
        logits, state = model(x, pos, key_padding_mask=pad, output_state=True)
        return logits, state.layers[0].s

    counter = CompileCounterWithBackend("aot_eager")
    got = torch.compile(run, backend=counter, fullgraph=True)(x, pos, pad)
    assert counter.frame_count == 1
    torch.testing.assert_close(got, run(x, pos, pad), rtol=1e-9, atol=1e-9)


def test_compiled_forward_draws_a_fresh_code_in_the_graph():
    """Without a code the compiled graph draws one itself (convSPE: its noise, no seed):
    one graph, and the output has the shape and finiteness of a forward."""
    model = _model("linear", "conv_spe")
    ids = torch.randint(0, 11, (2, T), generator=torch.Generator().manual_seed(1))
    counter = CompileCounterWithBackend("aot_eager")
    logits, _ = torch.compile(model, backend=counter, fullgraph=True)(ids)
    assert counter.frame_count == 1
    assert logits.shape == (2, T, 11) and bool(torch.isfinite(logits).all())


@pytest.mark.parametrize("pe", ["none", "fstripe", *(pytest.param(pe, marks=pytest.mark.slow)
                                                     for pe in ("rope_pool", "sine_spe",
                                                                "conv_spe"))])
def test_compiled_linear_step_equals_eager_step(pe):
    """``model.step`` (linear attention: its state updated in place) compiles whole; the
    compiled decoder's logits equal the eager one's token after token. At most two graphs: the
    first offset may be specialized, the second call makes it symbolic (Dynamo's automatic
    dynamic ints), and no later offset recompiles."""
    _check_step(pe, "aot_eager", torch.float64, 1e-9)


@pytest.mark.parametrize("pe", ["none", "shaw_rpe", pytest.param("rope", marks=pytest.mark.slow)])
def test_compiled_softmax_step_keeps_the_cache_length_symbolic(pe):
    """The KV cache's length grows every token; the compiled step does not recompile for it."""
    _check_step(pe, "aot_eager", torch.float64, 1e-9, attention="softmax")


@pytest.mark.inductor
@pytest.mark.parametrize("pe", ["none", "rope_pool", "rope", "conv_spe"])
def test_inductor_linear_step_equals_eager_step(pe):
    """The decoding step through Inductor, in float32 (as decoding runs); convSPE's window of
    drawn noise once failed there alone (a view of a slice sized by the whole noise)."""
    _check_step(pe, "inductor", torch.float32, 1e-5)


def _check_step(pe, backend, dtype, tol, attention="linear"):
    torch._dynamo.reset()
    model = _model(attention, pe, dtype).eval()
    ids = torch.randint(0, 11, (2, 20), generator=torch.Generator().manual_seed(1))
    _, pdim = PARAMS.get(pe, ({}, 1))
    pos = None if pdim == 1 else (torch.arange(20.0)[None, :, None] // torch.tensor(
        [1.0, 3.0, 5.0])[:pdim]).expand(2, 20, pdim).to(dtype)  # labels that change at times
    code = model.draw_pe_code(20, pos, torch.Generator().manual_seed(2), traceable=True)
    with torch.no_grad():
        _, state = model(ids[:, :4], None if pos is None else pos[:, :4], code=code,
                         output_state=True)
    eager, compiled_dec = (model.start_decoding(state, capacity=32) for _ in range(2))
    counter = CompileCounterWithBackend(backend)
    step = torch.compile(model.step, backend=counter, fullgraph=True)
    for t in range(4, 20):
        p = None if pos is None else pos[:, t : t + 1]
        expected = model.step(ids[:, t], eager, p).clone()
        torch.testing.assert_close(step(ids[:, t], compiled_dec, p), expected, rtol=tol,
                                   atol=tol)
    assert 1 <= counter.frame_count <= 2


@pytest.mark.inductor
def test_generate_through_the_compiled_step_gives_the_same_tokens():
    from stripes.generation.decode import generate

    torch._dynamo.reset()
    model = _model("linear", "rope_pool", torch.float32).eval()
    prompt = torch.randint(0, 11, (2, 5), generator=torch.Generator().manual_seed(1))
    eager, compiled = (generate(model, prompt, 24, temperature=0.0, compiled=c)
                       for c in (False, True))
    assert torch.equal(eager, compiled) and compiled.shape == (2, 29)
