"""Quadratic baselines ([S24]): hand-computed biases, sinusoidal factorisation, non-stationary
masks, refusal of oversized inputs, the layer's bias hook, and StructureRPE's low-rank factors
against its definition (bias and gradients, dense oracle of the fused layer path)."""

import math

import pytest
import torch

from stripes.attention import Attention, softmax_attention
from stripes.positional import NonStationaryRPE, ShawRPE, StructureRPE
from stripes.positional.absolute import sinusoid_embedding
from stripes.positional.relative import distinct_values, segment_times

# rows a(-1), a(0), a(1) of a one-head table with D = 2
TABLE = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=torch.float64)
Q = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]], dtype=torch.float64)[None, :, None]


def _with_table(pe):
    with torch.no_grad():
        pe.table.copy_(TABLE.expand_as(pe.table))
    return pe


def test_shaw_bias_equals_a_hand_computed_example():
    pe = _with_table(ShawRPE(1, 2, max_distance=1).double())
    bias = pe.bias(torch.arange(3)[None], q=Q)
    want = torch.tensor([[2, 3, 3], [3, 4, 7], [0, 0, 1]], dtype=torch.float64) / math.sqrt(2)
    torch.testing.assert_close(bias[0, 0], want)


def test_structure_rpe_uses_label_differences():
    pe = _with_table(StructureRPE(1, 2, max_distance=1).double())
    bias = pe.bias(torch.tensor([[0, 2, 2]]), q=Q)
    want = torch.tensor([[2, 3, 3], [3, 4, 4], [0, 1, 1]], dtype=torch.float64) / math.sqrt(2)
    torch.testing.assert_close(bias[0, 0], want)


def test_nonstationary_rpe_uses_within_segment_lags_and_zeroes_other_labels():
    pe = _with_table(NonStationaryRPE(1, 2, max_distance=1).double())
    bias = pe.bias(torch.tensor([[0, 2, 2]]), q=Q)
    want = torch.tensor([[2, 0, 0], [0, 4, 7], [0, 0, 1]], dtype=torch.float64) / math.sqrt(2)
    torch.testing.assert_close(bias[0, 0], want)
    labels = torch.tensor([[1, 1, 0, 1]])
    assert segment_times(labels).tolist() == [[0, 1, 0, 0]]
    q4 = torch.randn(1, 4, 1, 2, dtype=torch.float64)
    b4 = pe.bias(labels, q=q4)[0, 0]
    assert b4[3, 0] == q4[0, 3, 0] @ TABLE[0, 1] / math.sqrt(2)  # repeated section: lag 0
    assert b4[2, 0] == 0 and b4[0, 2] == 0


@pytest.mark.parametrize("non_stationary", [False, True])
def test_sinusoidal_structure_rpe_equals_its_direct_t_by_t_by_d_form(non_stationary):
    torch.manual_seed(0)
    pe = StructureRPE(2, 4, mode="sinusoidal", non_stationary=non_stationary).double()
    torch.nn.init.normal_(pe.weight)
    labels = torch.tensor([[3, 3, 7, 1, 1, 1, 3]])
    q = torch.randn(1, 7, 2, 4, dtype=torch.float64)
    values = segment_times(labels) if non_stationary else labels
    lag = (values[:, None, :] - values[:, :, None])[0]  # [T, S]: v_n − v_m
    emb = sinusoid_embedding(lag.double(), 4, pe.bases[0])  # [T, S, D]
    want = torch.einsum("thd,hde,tse->hts", q[0], pe.weight[0], emb) / 2
    if non_stationary:
        want = want * (labels[0, :, None] == labels[0, None, :])
    torch.testing.assert_close(pe.bias(labels, q=q)[0], want)


@pytest.mark.parametrize("make", [lambda: ShawRPE(2, 4), lambda: StructureRPE(2, 4)])
def test_quadratic_baselines_refuse_oversized_inputs_naming_the_memory(make):
    pe = make()
    q = torch.zeros(1, 200_000, 2, 4)
    with pytest.raises(MemoryError, match=r"would need 596\.05 GiB"):
        pe.bias(torch.arange(200_000)[None], q=q)
    small = make()
    small.max_bytes = 1000
    with pytest.raises(MemoryError, match="max_bytes"):
        small.bias(torch.arange(16)[None], q=torch.zeros(1, 16, 2, 4))


def test_attention_layer_bias_argument_matches_the_oracle_with_a_kv_cache():
    torch.manual_seed(0)
    layer = Attention(8, 2, kind="softmax").double()
    x = torch.randn(1, 6, 8, dtype=torch.float64)
    bias = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    q, k, v = layer.qkv(x).view(1, 6, 3, 2, 4).unbind(2)
    want = layer.out(softmax_attention(q, k, v, causal=True, bias=bias).reshape(1, 6, 8))
    torch.testing.assert_close(layer(x, bias=bias)[0], want)
    _, state = layer(x[:, :5], bias=bias[:, :, :5, :5], output_state=True)
    last, _ = layer(x[:, 5:], bias=bias[:, :, 5:], state=state)
    torch.testing.assert_close(last, want[:, 5:])
    with pytest.raises(ValueError, match="softmax"):
        Attention(8, 2, kind="linear").double()(x, bias=bias)


def test_distinct_values_lists_each_rows_labels_and_indexes_them():
    labels = torch.tensor([[5, 2, 5, 9, 2], [7, 7, 7, 7, 7]])
    values, index = distinct_values(labels)
    assert values.tolist() == [[2, 5, 9], [7, 0, 0]]
    assert index.tolist() == [[1, 0, 1, 2, 0], [0, 0, 0, 0, 0]]
    torch.testing.assert_close(values.gather(1, index), labels)


def _labels(b, s, levels, seed):
    """Piecewise-constant integer labels ``[b, s, levels]`` with repeats, some lags beyond C."""
    g = torch.Generator().manual_seed(seed)
    runs = [torch.randint(0, 9 * (lvl + 1), (b, s), generator=g) for lvl in range(levels)]
    cut = [(torch.arange(s) // (lvl + 2)) for lvl in range(levels)]
    return torch.stack([r.gather(1, c.expand(b, -1)) for r, c in zip(runs, cut, strict=True)],
                       -1).double()


@pytest.mark.parametrize("batch_labels", [3, 1])
def test_structure_rpe_factors_equal_the_reference_bias_forward_and_backward(batch_labels):
    torch.manual_seed(0)
    pe = StructureRPE(3, 6, position_dim=2, max_distance=5).double()
    keys = _labels(batch_labels, 37, 2, seed=1)
    queries = keys[:, -11:]  # decoding: the last T of the S keys
    q = torch.randn(3, 11, 3, 6, dtype=torch.float64, requires_grad=True)
    left, right = pe.bias_factors(queries, keys, q)
    assert left.shape[:3] == (3, 11, 3) and right.shape[:2] == (batch_labels, 37)
    fast = pe.bias(queries, keys, q)
    slow = pe.bias_reference(queries, keys, q)
    torch.testing.assert_close(fast, slow)
    grad = torch.randn_like(slow)
    g_fast = torch.autograd.grad((fast * grad).sum(), (q, pe.table))
    g_slow = torch.autograd.grad((slow * grad).sum(), (q, pe.table))
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b)


def test_structure_rpe_has_no_factors_where_they_would_not_pay():
    q = torch.randn(1, 9, 2, 4, dtype=torch.float64)
    labels = torch.arange(9)[None]
    assert StructureRPE(2, 4, mode="sinusoidal").bias_factors(labels, q=q) is None
    assert StructureRPE(2, 4, non_stationary=True).bias_factors(labels, q=q) is None
    pe = StructureRPE(2, 4).double()
    pe.max_rank = 8  # 9 distinct labels
    assert pe.bias_factors(labels, q=q) is None
    torch.testing.assert_close(pe.bias(labels, q=q), pe.bias_reference(labels, q=q))


@pytest.mark.parametrize("causal", [True, False])
def test_attention_folds_structure_rpe_factors_into_q_and_k_like_the_dense_oracle(causal):
    torch.manual_seed(0)
    pe = StructureRPE(2, 5, position_dim=2, max_distance=4).double()
    torch.nn.init.normal_(pe.table)
    layer = Attention(10, 2, kind="softmax", causal=causal, bias_pe=pe).double()
    x = torch.randn(2, 23, 10, dtype=torch.float64, requires_grad=True)
    labels = _labels(2, 23, 2, seed=3)
    q, k, v = layer.qkv(x).view(2, 23, 3, 2, 5).unbind(2)
    bias = pe.bias_reference(labels, q=q)
    want = layer.out(softmax_attention(q, k, v, causal=causal, bias=bias).reshape(2, 23, 10))
    got, _ = layer(x, positions=labels)
    torch.testing.assert_close(got, want)
    grad = torch.randn_like(want)
    params = (x, pe.table, layer.qkv.weight)
    for a, b in zip(torch.autograd.grad((got * grad).sum(), params),
                    torch.autograd.grad((want * grad).sum(), params), strict=True):
        torch.testing.assert_close(a, b)
    if causal:  # a prefill through the factors, then steps through the cache's dense bias
        _, state = layer(x[:, :20], positions=labels[:, :20], output_state=True)
        last, _ = layer(x[:, 20:], positions=labels[:, 20:], state=state)
        torch.testing.assert_close(last, want[:, 20:])
