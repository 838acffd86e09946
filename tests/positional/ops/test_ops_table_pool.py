"""F-StrIPE through small tables (times: chunk rotation; structure: distinct positions) equals the
direct sinusoid pooling, forward and backward, on awkward sizes; and falls back when it must."""

import pytest
import torch

from stripes.positional import FStrIPE, FStrIPE1
from stripes.positional.base import position_vectors
from stripes.positional.ops import table_pool as tp
from stripes.positional.ops.pooling import sinusoid_pool


def _direct(pe, q, k, positions, offset):
    """The same PE evaluated without tables (every sinusoid computed)."""
    pos = position_vectors(positions, q.shape[1], offset, None, q.dtype)
    freqs, w, th_q, th_k = pe._pool_args(q)
    return sinusoid_pool(pos, freqs, q, k, w, w, th_q, th_k, dense=False, chunk_tokens=5)


def _grads(pe, q, k, fn):
    params = [q, k, *[p for p in pe.parameters() if p.requires_grad]]
    qh, kh = fn()
    gen = torch.Generator().manual_seed(7)
    loss = (qh * torch.randn(qh.shape, generator=gen, dtype=qh.dtype)).sum() + (
        kh * torch.randn(kh.shape, generator=gen, dtype=kh.dtype)).sum()
    return (qh, kh), torch.autograd.grad(loss, params)


def _times(b, t):
    return None, 37  # positions None, offset 37


def _explicit_times(b, t):
    return (torch.arange(t) + 5)[None].expand(b, t), 0


def _labels_shared(b, t):
    return torch.randint(0, 4, (1, t), generator=torch.Generator().manual_seed(1)), 0


def _vectors_per_sample(b, t):
    gen = torch.Generator().manual_seed(2)
    return torch.randint(0, 3, (b, t, 2), generator=gen).double(), 0


@pytest.mark.parametrize("make", [_times, _explicit_times, _labels_shared, _vectors_per_sample])
@pytest.mark.parametrize("cls", ["fstripe", "fstripe1"])
def test_table_path_equals_direct_path_forward_and_backward(make, cls):
    torch.manual_seed(0)
    b, t = 2, 23  # 23 rows, chunks of 6 (pool_rows 12 over B = 2): a ragged last chunk
    positions, offset = make(b, t)
    dim = 1 if positions is None or positions.dim() == 2 else positions.shape[-1]
    pe = (FStrIPE(3, 5, n_sines=2, position_dim=dim, key_phases=True, pool_rows=12)
          if cls == "fstripe" else FStrIPE1(3, 5, position_dim=dim, pool_rows=12)).double()
    q, k = (torch.randn(b, t, 3, 5, dtype=torch.float64, requires_grad=True) for _ in range(2))
    assert tp.plan_tables(positions, t, offset, pe._pool_args(q)[0], b, 12) is not None
    got, g_got = _grads(pe, q, k, lambda: pe(q, k, positions=positions, offset=offset))
    want, g_want = _grads(pe, q, k, lambda: _direct(pe, q, k, positions, offset))
    for a, c in zip((*got, *g_got), (*want, *g_want), strict=True):
        torch.testing.assert_close(a, c)


def test_float32_chunk_bases_stay_accurate_far_from_the_origin():
    """Base angles are reduced modulo a turn in float64: at t ≈ 10⁵ float32 pooling through the
    table stays within 1e-4 of a float64 evaluation."""
    torch.manual_seed(0)
    pe = FStrIPE(2, 8, n_sines=3)
    q, k = torch.randn(2, 1, 300, 2, 8)
    got = pe(q, k, offset=100_000)
    # float64 reference with the very same (float32) frequencies, gains and phases
    args = [None if a is None else a.double() for a in pe._pool_args(q)]
    pos = position_vectors(None, 300, 100_000, None, torch.float64)
    want = sinusoid_pool(pos, args[0], q.double(), k.double(), args[1], args[1], args[2], None,
                         dense=False)
    for a, c in zip(got, want, strict=True):
        torch.testing.assert_close(a.double(), c, atol=1e-4, rtol=1e-4)


def test_too_many_distinct_positions_fall_back_to_direct_pooling(monkeypatch):
    torch.manual_seed(0)
    pe = FStrIPE(2, 4, n_sines=2, position_dim=2).double()
    pos = torch.rand(1, 30, 2, dtype=torch.float64) * 100  # all distinct
    freqs = pe._pool_args(pos)[0]
    assert tp.plan_tables(pos, 30, 0, freqs, 1, 8) is not None
    monkeypatch.setattr(tp, "TABLE_BUDGET", 10)
    assert tp.plan_tables(pos, 30, 0, freqs, 1, 8) is None
    q, k = torch.randn(2, 1, 30, 2, 4, dtype=torch.float64)
    torch.testing.assert_close(pe(q, k, positions=pos), _direct(pe, q, k, pos, 0))


def test_time_start_recognises_only_consecutive_times():
    assert tp.time_start(None, 4, 9) == 9
    assert tp.time_start(torch.arange(3, 7)[None], 4, 0) == 3
    assert tp.time_start(torch.tensor([[0, 1, 2, 4]]), 4, 0) is None
    assert tp.time_start(torch.tensor([[0.0, 1.0, 2.0, 3.5]]), 4, 0) is None
    assert tp.time_start(torch.stack([torch.arange(4), torch.arange(1, 5)]), 4, 0) is None


@pytest.mark.parametrize("cls", ["fstripe", "fstripe1"])
def test_compiled_kernels_equal_the_eager_table_path(cls, monkeypatch):
    """The torch.compile'd kernels for times (forward and the three gradients) equal the eager
    chunked path, with a ragged last chunk; compiling costs seconds, once per process."""
    torch.manual_seed(0)
    b, t = 2, 23  # chunks of 4 rows (pool_rows 8 over B = 2): 5 compiled groups + 3 rows
    pe = (FStrIPE(3, 5, n_sines=2, key_phases=True, pool_rows=8) if cls == "fstripe"
          else FStrIPE1(3, 5, pool_rows=8))
    q, k = (torch.randn(b, t, 3, 5, requires_grad=True) for _ in range(2))
    monkeypatch.setenv("STRIPES_COMPILE", "0")
    eager, g_eager = _grads(pe, q, k, lambda: pe(q, k, offset=11))
    monkeypatch.setenv("STRIPES_COMPILE", "1")
    monkeypatch.setattr(tp, "COMPILE_MIN_ROWS", 1)
    calls = []
    monkeypatch.setattr(tp, "_compiled_time_pool",
                        lambda *a: calls.append(1) or _compiled(*a))
    got, g_got = _grads(pe, q, k, lambda: pe(q, k, offset=11))
    assert len(calls) == 2 and not tp._COMPILED.get("failed")
    for a, c in zip((*got, *g_got), (*eager, *g_eager), strict=True):
        torch.testing.assert_close(a, c, atol=2e-5, rtol=1e-4)


_compiled = tp._compiled_time_pool
