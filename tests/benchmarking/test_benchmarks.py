"""The benchmark plumbing on tiny sizes: measurements have the fields the tables read, and the
target checks judge hand-made points correctly (the real runs are `stripes bench …`)."""

import importlib.util
from pathlib import Path

import pytest
import torch

from stripes.benchmarking import generation as gen
from stripes.benchmarking import measure_call

ROOT = Path(__file__).resolve().parents[2]


def _bench_positional():
    spec = importlib.util.spec_from_file_location(
        "bench_positional", ROOT / "benchmarks" / "bench_positional.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_call_times_and_marks_slow_calls():
    out = measure_call(lambda: sum(range(1000)), repeats=3)
    assert out["seconds"] > 0 and out["peak_bytes"] >= 0 and out["timed_once"] is False
    assert measure_call(lambda: None, repeats=1, slow_s=-1.0)["timed_once"] is True


@pytest.mark.parametrize("method", ["attention", "fstripe", "conv_spe_r16", "sine_spe_encode_r64"])
def test_positional_points_run_on_tiny_sizes(method):
    bench = _bench_positional()
    for mode in ("fwd", "fwdbwd"):
        point = bench.measure_point(method, 128, mode, repeats=1)
        assert point["seconds"] > 0 and ("gflops" in point) == ("encode" in method)


def test_positional_pairs_time_a_pe_against_attention_alone_in_one_process():
    pair = _bench_positional().measure_pair("rope", 128, "fwdbwd", rounds=3)
    assert len(pair["ratios"]) == 3 and pair["ratio"] == sorted(pair["ratios"])[1] > 0


def test_positional_targets_judge_ratios_and_growth():
    bench = _bench_positional()
    pts = []
    for t, scale in ((4096, 1.0), (16384, 4.0)):
        pts.append({"method": "attention", "T": t, "mode": "fwd", "seconds": scale,
                    "peak_bytes": 100})
        pts.append({"method": "rope", "T": t, "mode": "fwd", "seconds": 1.2 * scale,
                    "peak_bytes": 140})
        pts.append({"method": "fstripe", "T": t, "mode": "fwd", "seconds": 1.3 * scale * scale,
                    "peak_bytes": 200})
    verdict = {x["target"]: x["holds"] for x in bench.check_targets(pts, 100.0, 16384)}
    assert verdict["rope fwd T=16384: time <= 1.25x attention alone"]
    assert not verdict["fstripe fwd T=16384: time <= 1.25x attention alone"]
    assert verdict["rope fwd T=16384: peak memory <= 1.5x attention alone"]
    assert not verdict["fstripe fwd T=16384: peak memory <= 1.5x attention alone"]
    pairs = [{"method": "fstripe", "T": 16384, "mode": "fwd", "ratio": 1.1}]
    paired = {x["target"]: x for x in bench.check_targets(pts, 100.0, 16384, pairs)}
    assert paired["fstripe fwd T=16384: time <= 1.25x attention alone (paired)"]["holds"]
    assert paired["rope fwd T=16384: time <= 1.25x attention alone"]["measured"] == "1.20x"
    growth = {k: v for k, v in verdict.items() if "linear in T" in k}
    assert growth["rope fwd: linear in T (log-log slope 4096->16384 <= 1.15)"]
    assert not growth["fstripe fwd: linear in T (log-log slope 4096->16384 <= 1.15)"]


def test_generation_targets_need_flat_and_fast_decoding():
    def res(method, ms256, ms8192):
        return {"method": method, "ms_per_token": {"256": ms256, "8192": ms8192}}

    out = gen.check_targets([res("linear:a", 1.0, 1.1), res("linear:b", 1.0, 1.5),
                             res("linear:c", 3.0, 3.0), res("softmax:none", 2.0, 10.0)])
    by = {t["method"]: t for t in out}
    assert by["linear:a"]["flat"] and by["linear:a"]["fast"]
    assert not by["linear:b"]["flat"]
    assert by["linear:c"]["flat"] and not by["linear:c"]["fast"]


def test_generation_measures_per_position_times_on_a_short_run(monkeypatch):
    monkeypatch.setattr(gen, "POSITIONS", (96, 160))
    monkeypatch.setattr(gen, "WINDOW", 16)
    monkeypatch.setattr(gen, "WARMUP", 8)
    monkeypatch.setattr(gen, "LAYERS", 1)
    monkeypatch.setattr(gen, "D_MODEL", 32)
    threads = torch.get_num_threads()
    try:
        out = gen.measure_method("linear:rope", 160)
    finally:
        torch.set_num_threads(threads)  # measure_method decodes on one thread
    assert set(out["ms_per_token"]) == {"96", "160"} and out["tokens_per_s"] > 0
