"""The timing helpers on CUDA: they synchronize around every timed call (kernels are queued, not
finished, when a launch returns) and read the allocator's peak, not the process's resident memory.
CUDA's functions are replaced by recorders here, so this runs anywhere; the ``gpu`` test measures
for real where CUDA exists."""

import pytest
import torch

from stripes.benchmarking import common
from stripes.benchmarking.common import measure_call, peak_memory, synchronize, time_call


@pytest.fixture
def fake_cuda(monkeypatch):
    """Record calls to CUDA's synchronize and memory counters (no GPU needed)."""
    log = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: log.append(("sync", str(d))))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda d=None: log.append(("reset", str(d))))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: 100)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: 612)
    return log


def test_cuda_timing_synchronizes_before_and_after_every_timed_call(fake_cuda):
    calls = []
    fn = lambda: (calls.append(len(fake_cuda)), fake_cuda.append(("fn", "")))
    assert time_call(fn, repeats=3, warmup=1, device="cuda:0") >= 0
    timed = fake_cuda[fake_cuda.index(("fn", "")) + 1 :]  # after the warm-up call
    assert timed == [("sync", "cuda:0"), ("fn", ""), ("sync", "cuda:0")] * 3
    assert len(calls) == 4


def test_cuda_peak_memory_is_the_allocator_peak_above_the_start(fake_cuda):
    ran = []
    assert peak_memory(lambda: ran.append(1), device="cuda") == 512
    assert ran == [1] and ("reset", "cuda") in fake_cuda
    assert fake_cuda.index(("reset", "cuda")) < len(fake_cuda) - 1  # reset before the call ends
    out = measure_call(lambda: None, repeats=1, device="cuda")
    assert out["peak_bytes"] == 512


def test_cpu_timing_never_calls_cuda(monkeypatch):
    def refuse(*_):
        raise AssertionError("CUDA touched on the CPU path")

    for name in ("synchronize", "reset_peak_memory_stats", "max_memory_allocated"):
        monkeypatch.setattr(torch.cuda, name, refuse)
    synchronize()
    synchronize("cpu")
    assert time_call(lambda: None, repeats=1) >= 0
    assert peak_memory(lambda: bytearray(1 << 20)) >= 0
    assert "device" not in common.machine_header()


@pytest.mark.gpu
def test_cuda_measurements_see_a_kernel_and_its_memory():
    x = torch.randn(4096, 4096, device="cuda")
    out = measure_call(lambda: (x @ x).sum(), repeats=2, device="cuda")
    assert out["peak_bytes"] >= 4096 * 4096 * 4 and out["seconds"] > 0
    assert "device" in common.machine_header("cuda")
    assert common.measure_matmul_peak(512, 2, device="cuda") > 0
