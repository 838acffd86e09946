"""The attention benchmark's honest FLOP count, its targets and the paired-ratio plumbing."""

import math

import pytest

from stripes.benchmarking import attention as bench
from stripes.benchmarking import attention_paired as paired
from stripes.benchmarking.common import measure_paired, paired_ratio


def test_flop_count_does_not_depend_on_the_chunk():
    counts = {bench.forward_flops(f"linear_c{c}", 4096) for c in (64, 128, 256)}
    assert len(counts) == 1
    # per head: T·(64·(M+E) + 4·M·E) = 4096·(64·128 + 4·64·64)
    assert counts.pop() == bench.B * bench.H * 4096 * (64 * 128 + 4 * 64 * 64)
    assert bench.forward_flops("fast_transformers", 4096) == bench.forward_flops("linear_c64",
                                                                                   4096)
    assert bench.forward_flops("sdpa", 2048) == bench.B * bench.H * 2048**2 * 128


def _pt(method, t, mode, seconds, mem=1.0):
    flops = bench.forward_flops(method, t) * (3 if mode == "fwdbwd" else 1)
    return {"method": method, "T": t, "mode": mode, "seconds": seconds, "peak_bytes": mem,
            "gflops": flops / seconds / 1e9}


def test_targets_use_the_honest_count_and_both_slopes():
    peak = 100.0
    pts = [_pt("linear_c64", 4096, "fwd", 0.01), _pt("linear_c64", 32768, "fwd", 0.08),
           _pt("linear_c64", 4096, "fwdbwd", 0.03), _pt("linear_c64", 32768, "fwdbwd", 0.5),
           _pt("linear_c256", 32768, "fwd", 0.5)]
    out = {t["target"]: t for t in bench.check_targets(pts, peak)}
    fwd = next(t for k, t in out.items() if "forward, T>=4096" in k)
    # best forward: 8·32768·24576 flops in 0.08 s = 80.5 GFLOP/s: 81 % of 100
    assert fwd["holds"] and fwd["measured"].startswith("81 %")
    slopes = {k: t for k, t in out.items() if "time log-log" in k}
    assert slopes["linear_c64 forward time log-log slope 4096->32768 <= 1.1"]["holds"]
    assert not slopes["linear_c64 fwd+bwd time log-log slope 4096->32768 <= 1.1"]["holds"]


def test_measure_paired_rotates_and_ratios_are_per_round():
    order = []
    calls = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    out = measure_paired(calls, rounds=3, warmup=1)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert all(len(m["rounds"]) == 3 for m in out.values())
    fake = {"slow": {"rounds": [2.0, 4.0, 9.0]}, "fast": {"rounds": [1.0, 1.0, 1.0]}}
    assert paired_ratio(fake, "slow", "fast") == pytest.approx(4.0)


def test_paired_point_runs_on_a_tiny_length_and_renders(monkeypatch):
    point = paired.measure_paired_point(256, rounds=2)
    for mode in ("fwd", "fwdbwd"):
        row = point[mode]
        assert row["linear_c64"] > 0 and row["sdpa_over_ours"] > 0
    pts = [{"T": t, "fwdbwd": {"fast_transformers_over_ours": r}} for t, r in
           zip(paired.PAIRED_T, [2.0, 1.6, 1.7, 1.4, 1.9], strict=True)]
    target = paired.check_paired_targets(pts)[0]
    assert not target["holds"] and "worst 1.40x at T=16384" in target["measured"]
    pts[1]["fwdbwd"]["linear_c64"], pts[4]["fwdbwd"]["linear_c64"] = 0.1, 1.0  # 4096, 32768
    slope = paired.check_paired_targets(pts)[-1]
    assert slope["measured"] == f"{math.log(10) / math.log(8):.2f}" and not slope["holds"]
    payload = {"matmul_peak_gflops": 100.0, "rounds": 2, "points": [point], "targets": []}
    text = paired.render_paired(payload)
    assert "| 256 |" in text and "Forward + backward" in text


def test_profile_renders_both_modes_side_by_side():
    prof = {"fwd": [["aten::bmm", 0.5], ["aten::div", 0.2]], "fwdbwd": [["aten::bmm", 0.4]]}
    text = paired.render_profile(prof)
    assert "| aten::bmm | 50 % | 40 % |" in text and "| aten::div | 20 % |  |" in text
    assert paired.render_profile(None) == "" and paired.render_profile({"error": "x"}) == ""
