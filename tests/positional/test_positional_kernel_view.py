"""The unified view ([ST] Prop. 1): for every PE, the logits rebuilt from kernels and explicit
codes are the ones the Attention layer actually uses."""

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

from stripes.attention import Attention, softmax_attention
from stripes.positional import QKTransformPE
from stripes.positional.kernel_view import (
    additive_logits,
    context_kernel,
    expected_logits,
    induced_logits,
)

B, T = 2, 11


def _softmax_with_logits(layer, x, logits):
    """The layer's output when its attention logits are ``logits`` (causal)."""
    q, k, v = layer.qkv(x).view(B, T, 3, N_HEADS, layer.head_dim).unbind(2)
    zeros = torch.zeros_like(q)
    o = softmax_attention(zeros, zeros, v, causal=True, bias=logits)
    return layer.out(o.reshape(B, T, D_MODEL)), q, k


@pytest.mark.parametrize("case", sorted({**QK_CASES, **BIAS_CASES}))
def test_kernel_view_logits_equal_the_logits_the_layer_uses(case):
    name, params, pdim = {**QK_CASES, **BIAS_CASES}[case]
    pe = build(name, params, pdim)
    torch.manual_seed(0)
    layer = Attention(D_MODEL, N_HEADS, kind="softmax", **hooks(pe)).double()
    x = torch.randn(B, T, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    pos = make_positions(name, pdim, B, T)
    kw = {"layer": 1}
    if isinstance(pe, QKTransformPE) and pe.stochastic:
        kw["code"] = pe.draw_code(T, pos, torch.Generator().manual_seed(4))
    y, _ = layer(x, positions=pos, **kw)
    _, q, k = _softmax_with_logits(layer, x, torch.zeros(1))
    logits = induced_logits(pe, q, k, positions=pos, code=kw.get("code"), layer=1)
    want, _, _ = _softmax_with_logits(layer, x, logits)
    torch.testing.assert_close(y, want)


@pytest.mark.parametrize("case", sorted(ADDITIVE_CASES))
def test_additive_pe_logits_and_gram_kernel(case):
    name, params, pdim = ADDITIVE_CASES[case]
    pe = build(name, params, pdim)
    torch.manual_seed(0)
    layer = Attention(D_MODEL, N_HEADS, kind="softmax").double()
    x = torch.randn(B, T, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    pos = make_positions(name, pdim, B, T)
    xe = pe(x, pos)
    logits = additive_logits(pe, layer, x, pos)
    want, _, _ = _softmax_with_logits(layer, xe, logits)
    torch.testing.assert_close(layer(xe)[0], want)
    gram = context_kernel(pe, pos if pos is not None else torch.arange(T)[None], d_model=D_MODEL)
    e = pe(torch.zeros(B, T, D_MODEL, dtype=torch.float64), pos)
    torch.testing.assert_close(gram, torch.einsum("btd,bsd->bts", e, e)[: gram.shape[0]])


@pytest.mark.parametrize("case", ["rope_A", "rope_B", "rope_C_vector", "rope_pool_A",
                                  "rope_pool_C"])
def test_rope_kernel_view_is_exact(case):
    name, params, pdim = QK_CASES[case]
    pe = build(name, params, pdim)
    q, k = torch.randn(2, B, T, N_HEADS, 8, dtype=torch.float64)
    pos = make_positions(name, pdim, B, T)
    pos = pos[:1] if pos is not None else None
    torch.testing.assert_close(expected_logits(pe, q, k, pos), induced_logits(pe, q, k, pos))
    qh, kh = pe(q, k, positions=pos)
    direct = torch.einsum("bthd,bshd->bhts", qh, kh) / qh.shape[-1] ** 0.5
    torch.testing.assert_close(induced_logits(pe, q, k, pos), direct)
