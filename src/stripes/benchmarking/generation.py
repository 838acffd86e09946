"""Time per generated token versus position: recurrent linear decoding (each PE) against softmax
decoding with a KV cache (``stripes bench generation``).

Decoding runs on one thread (see ``measure_method``). One model size for all (``LAYERS`` layers,
``D_MODEL`` wide, ``HEADS`` heads, vocabulary ``VOCAB``); tokens are fed greedily from a fixed
random sequence so every method does the same work. Time per token at position p is the mean
over the ``WINDOW`` steps ending at p (a mean, not a median: convSPE computes a chunk's codes once
every ``block_size`` steps, and that cost belongs to the tokens); a throwaway warm-up decode of
``WARMUP`` tokens runs first so that p = 256 does not carry the allocator's and the dispatcher's
first-call costs. The decode runs ``REPEATS`` times and each window keeps its fastest mean:
other tenants of a shared machine only ever add time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from tqdm import tqdm

from stripes.benchmarking.common import (
    machine_header,
    markdown_header,
    markdown_table,
    measure_matmul_peak,
    run_isolated,
    synchronize,
    write_results,
)

LAYERS, D_MODEL, HEADS, VOCAB = 4, 256, 8, 512
WINDOW = 64
WARMUP = 256
REPEATS = 2
POSITIONS = (256, 1024, 2048, 4096, 8192)
SKIP = {"structure_ape", "shaw_rpe", "structure_rpe", "nonstationary_rpe", "learned"}


def methods() -> list[str]:
    """``linear:<pe>`` for every decodable PE, then softmax with a KV cache (no PE, and RoPE)."""
    from stripes.positional import available_kinds

    kinds = ["none"] + [k for k in available_kinds() if k not in SKIP | {"none"}]
    soft = ["softmax:none"] + (["softmax:rope"] if "rope" in kinds else [])
    return [f"linear:{k}" for k in kinds] + soft


def measure_method(method: str, length: int, device: str = "cpu") -> dict:
    """Decode ``length`` tokens one by one on ``device``; per-position mean step times in
    milliseconds."""
    from stripes.models import ModelConfig, StripesTransformer

    # One thread: a decoding step is a chain of tiny ops, where a second thread only adds
    # synchronisation (and makes timings collapse when another process shares the cores).
    torch.set_num_threads(1)
    attention, pe = method.split(":")
    cfg = ModelConfig(
        input_kind="tokens",
        input_dim=VOCAB,
        output_dim=VOCAB,
        d_model=D_MODEL,
        n_layers=LAYERS,
        n_heads=HEADS,
        attention=attention,
        pe=pe,
        max_len=length + 1,
    )
    torch.manual_seed(0)
    model = StripesTransformer(cfg).eval().to(device)
    ids = torch.randint(0, VOCAB, (1, length), generator=torch.Generator().manual_seed(0))
    ids = ids.to(device)
    runs = [_decode_times(model, ids, length) for _ in range(REPEATS)]
    per_pos = {
        str(p): 1e3 * min(statistics.fmean(times[p - WINDOW - 1 : p - 1]) for times in runs)
        for p in POSITIONS
        if p <= length
    }
    times = min(runs, key=sum)
    return {"method": method, "ms_per_token": per_pos, "tokens_per_s": len(times) / sum(times)}


def _decode_times(model, ids, length: int) -> list[float]:
    """Seconds of each decoding step 1 … length−1 (after a throwaway warm-up decode), each
    synchronized on the model's device (CUDA steps are queued, not finished, at return)."""
    device = ids.device
    times = []
    with torch.inference_mode():
        code = model.draw_pe_code(length, None, torch.Generator().manual_seed(1))
        _, state = model(ids[:, :1], output_state=True, code=code)
        warm = state
        for t in range(1, min(WARMUP, length)):
            _, warm = model(ids[:, t : t + 1], state=warm, output_state=True)
        del warm
        for t in range(1, length):
            synchronize(device)
            t0 = time.perf_counter()
            _, state = model(ids[:, t : t + 1], state=state, output_state=True)
            synchronize(device)
            times.append(time.perf_counter() - t0)
    return times


def run_generation_benchmark(out_dir: str = "benchmarks/results", length: int = 8192) -> dict:
    """Run every method in its own process; write ``generation.{json,md}``."""
    header = machine_header()
    peak = measure_matmul_peak()
    results = []
    for m in tqdm(methods(), desc="generation benchmark", unit="method"):
        res = run_isolated("stripes.benchmarking.generation", [m, str(length)], timeout=1800)
        res.setdefault("method", m)
        results.append(res)
    payload = {
        "header": header,
        "matmul_peak_gflops": peak,
        "model": {"layers": LAYERS, "d_model": D_MODEL, "heads": HEADS, "vocab": VOCAB},
        "results": results,
        "targets": check_targets(results),
    }
    md = markdown_header("Generation benchmark (ms per token at position p)", header, peak)
    md += render_markdown(payload)
    write_results(out_dir, "generation", payload, md)
    return payload


def check_targets(results: list[dict]) -> list[dict]:
    """Per linear method: flat cost (8192 vs 256 within 1.2x) and >= 5x faster than softmax."""
    soft = next((r for r in results if r["method"] == "softmax:none" and "ms_per_token" in r), None)
    out = []
    for r in results:
        ms = r.get("ms_per_token", {})
        if not r["method"].startswith("linear:") or "8192" not in ms:
            continue
        flat = ms["8192"] / ms["256"]
        item = {"method": r["method"], "ratio_8192_vs_256": flat, "flat": flat <= 1.2}
        if soft and "8192" in soft["ms_per_token"]:
            item["speedup_vs_softmax_8192"] = soft["ms_per_token"]["8192"] / ms["8192"]
            item["fast"] = item["speedup_vs_softmax_8192"] >= 5
        out.append(item)
    return out


def render_markdown(payload: dict) -> str:
    rows = []
    for r in payload["results"]:
        ms = r.get("ms_per_token")
        cells = [
            f"{ms[str(p)]:.2f}" if ms and str(p) in ms else r.get("error", "") for p in POSITIONS
        ]
        rows.append([r["method"], *cells, f"{r.get('tokens_per_s', 0):.0f}"])
    text = "\n" + markdown_table(["method", *[f"p={p}" for p in POSITIONS], "tokens/s"], rows)
    text += "\n## Targets\n\n" + markdown_table(
        ["method", "8192 / 256", "<= 1.2", "speed-up vs softmax at 8192", ">= 5x"],
        [
            [
                t["method"],
                f"{t['ratio_8192_vs_256']:.2f}",
                _yes(t["flat"]),
                f"{t.get('speedup_vs_softmax_8192', float('nan')):.1f}x",
                _yes(t.get("fast")),
            ]
            for t in payload["targets"]
        ],
    )
    return text


def _yes(flag) -> str:
    return "n/a" if flag is None else ("yes" if flag else "**no**")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="measure one decoding method (used internally)")
    ap.add_argument("method")
    ap.add_argument("length", type=int)
    ap.add_argument("--device", default="cpu", help="where to decode (default: cpu)")
    a = ap.parse_args(sys.argv[1:])
    print(json.dumps(measure_method(a.method, a.length, a.device)))
