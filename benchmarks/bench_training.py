"""Training throughput of the harmonizer: seconds per optimizer step and achieved FLOP/s as a
share of the matmul peak measured in the same run, fp32 and bf16 autocast.

The step is the real one (``stripes.training.loop.Trainer``'s arithmetic: forward under the
chosen precision, BCE on the 384 logits, backward, gradient clipping, fused AdamW) on the
harmonization shapes: batch 8 × T = 1024 steps (16 bars), 256 input and 384 output rows, 2
layers, 4 heads, elu+1 features, synthetic multi-hot inputs (data loading is measured apart).

FLOPs are counted by one formula per operation, independent of the chunk size (docs/
performance.md): dense layers ``2·N·in·out`` each (q, k, v, o projections, MLP, embedding, head),
linear attention ``4·N·D'·E`` per head for the state path plus the causal half of the
intra-chunk products at C = 64, ``N·C·(D'+E)``; a training step counts 3× its forward. PE
arithmetic and element-wise work are not counted (they are overhead against this count).

Usage (from the repository root, on a quiet machine; ~10 min):

    python benchmarks/bench_training.py            # writes benchmarks/results/training.{json,md}
    python benchmarks/bench_training.py --quick    # d_model 64/128, fewer PEs
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from stripes.attention import AttentionConfig
from stripes.benchmarking import (
    machine_header,
    markdown_header,
    markdown_table,
    measure_matmul_peak,
    write_results,
)
from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig
from stripes.training.config import build_optimizer

B, T, IN, OUT, CHUNK = 8, 1024, 256, 384, 64
WIDTHS = [64, 128, 256, 512]
PES = ["none", "sinusoidal", "rope", "rope_pool", "fstripe1", "fstripe", "sine_spe"]
CONTEXT_DIMS = {"time": 1, "bin": 12}
TARGET_D, TARGET_SHARE = 256, 0.40


def feature_dim(cfg: ModelConfig) -> int:
    """D' handed to attention per head (RoPEPool halves it, F-StrIPE gives 2K, SPE gives R)."""
    if cfg.pe.kind == "rope_pool":
        return cfg.head_dim // 2
    if cfg.pe.kind in ("fstripe", "fstripe1"):
        return 2 * cfg.pe.params.get("n_sines", 5 if cfg.pe.kind == "fstripe" else 1)
    if cfg.pe.kind == "sine_spe":
        return cfg.pe.params.get("n_realizations", 64)
    return cfg.head_dim


def step_flops(cfg: ModelConfig) -> float:
    """Useful FLOPs of one training step (3× forward), chunk-independent count."""
    n, d, h = B * T, cfg.d_model, cfg.n_heads
    dense = 2 * n * (IN * d + d * OUT + cfg.n_layers * (4 * d * d + 2 * d * 4 * d))
    dp, e = feature_dim(cfg), cfg.head_dim
    attention = cfg.n_layers * h * (4 * n * dp * e + n * CHUNK * (dp + e))
    return 3.0 * (dense + attention)


def synthetic_batch(position_dim: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    # TIME: the default positions (0 .. T-1); BIN: random chord bits
    positions = (None if position_dim == 1 else
                 (torch.rand(B, T, position_dim, generator=g) < 0.3).float())
    return {"inputs": (torch.rand(B, T, IN, generator=g) < 0.01).float(),
            "targets": (torch.rand(B, T, OUT, generator=g) < 0.02).float(),
            "positions": positions}


def measure_point(d: int, pe: str, context: str, precision: str, steps: int = 3) -> dict:
    """Median seconds of ``steps`` training steps after two warm-ups."""
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=d, n_layers=2, n_heads=4,
                      attention=AttentionConfig("linear", "elu1p", chunk_size=CHUNK),
                      pe=PositionalConfig(pe), position_dim=CONTEXT_DIMS[context])
    model = StripesTransformer(cfg)
    opt = build_optimizer(model.parameters(), "adamw", 1e-3, 0.01)
    batch = synthetic_batch(cfg.position_dim)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32

    def step():
        with torch.autocast("cpu", dtype=dtype, enabled=precision == "bf16"):
            logits, _ = model(batch["inputs"], positions=batch["positions"])
            loss = F.binary_cross_entropy_with_logits(logits.float(), batch["targets"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    flops = step_flops(cfg)
    return {"d_model": d, "pe": pe, "context": context, "precision": precision,
            "parameters": model.num_parameters(), "seconds": seconds,
            "gflops": flops / 1e9, "gflop_s": flops / seconds / 1e9}


def profile_step(d: int = TARGET_D) -> list[list]:
    """Where a fp32 RoPEPool/BIN step's time goes: the top operators by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    cfg = ModelConfig(d_model=d, n_layers=2, n_heads=4,
                      attention=AttentionConfig("linear", "elu1p"),
                      pe=PositionalConfig("rope_pool"), position_dim=12)
    model = StripesTransformer(cfg)
    opt = build_optimizer(model.parameters(), "adamw", 1e-3, 0.01)
    batch = synthetic_batch(12)

    def step():
        logits, _ = model(batch["inputs"], positions=batch["positions"])
        loss = F.binary_cross_entropy_with_logits(logits, batch["targets"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            step()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [[e.key, e.count // 2, f"{e.self_cpu_time_total / 2e3:.1f}",
             f"{100 * e.self_cpu_time_total / total:.1f}"] for e in events[:15]]


def grid(quick: bool) -> list[tuple]:
    widths = WIDTHS[:2] if quick else WIDTHS
    pes = ["none", "rope_pool"] if quick else PES
    points = [(d, "rope_pool", "bin", p) for d in widths for p in ("fp32", "bf16")]
    d = widths[-1] if quick else TARGET_D
    points += [(d, pe, ctx, p) for pe in pes for ctx in ("time", "bin")
               for p in ("fp32", "bf16")
               if not (pe == "rope_pool" and ctx == "bin") and not (pe in ("none", "sinusoidal")
                                                                   and ctx == "bin")]
    return points


def report(header: dict, peak: float, rows: list[dict], prof: list[list]) -> str:
    md = [markdown_header("Training throughput (harmonizer, B=8, T=1024)", header, peak)]
    md.append("Counted FLOPs per step: 3× forward of dense layers and linear attention "
              "(chunk-independent, see the script's docstring); share = achieved / peak.\n")
    cols = ["d_model", "PE", "context", "precision", "params", "s/step", "GFLOP/step",
            "GFLOP/s", "share of peak"]
    md.append(markdown_table(cols, [[r["d_model"], r["pe"], r["context"], r["precision"],
                                     r["parameters"], f"{r['seconds']:.3f}", f"{r['gflops']:.1f}",
                                     f"{r['gflop_s']:.1f}", f"{r['gflop_s'] / peak:.0%}"]
                                    for r in rows]))
    target = [r for r in rows if r["d_model"] == TARGET_D and r["pe"] == "rope_pool"
              and r["context"] == "bin"]
    for r in target:
        md.append(f"- d_model {TARGET_D} RoPEPool/BIN {r['precision']}: {r['gflop_s'] / peak:.0%}"
                  f" of the fp32 peak (target for fp32: >= {TARGET_SHARE:.0%}).")
    md.append("\n## Where a fp32 step's time goes (d_model 256, RoPEPool/BIN, per step)\n")
    md.append(markdown_table(["operator", "calls", "self ms", "% of step"], prof))
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    header = {**machine_header(), "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    peak = measure_matmul_peak()
    rows = []
    for point in grid(args.quick):
        rows.append(measure_point(*point))
        print(rows[-1], flush=True)
    prof = profile_step(WIDTHS[1] if args.quick else TARGET_D)
    header["load_average_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    name = "training_quick" if args.quick else "training"
    payload = {"header": header, "peak_gflops": peak, "rows": rows, "profile": prof}
    paths = write_results(args.out, name, payload, report(header, peak, rows, prof))
    print("wrote", *paths)


if __name__ == "__main__":
    main()
