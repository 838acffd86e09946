"""S S-RPE's training step, paired: the dense reference bias against its low-rank factors.

[S24]'s stationary StructureRPE (learned clipped lags over three label levels, softmax attention)
is the quadratic baseline of [FS] Table I. ``StructureRPE.bias_reference`` builds its
``[B, H, T, S]`` bias from one table lookup per level and pair; ``bias_factors`` gives the same
bias as one column per distinct key label (U ≈ 35 for POP909's 16-bar windows) and the attention
layer folds them into q and k, so the fused causal kernel runs. This script times the real
training step of the [FS] Table I harmonizer (d_model 128, 2 layers, 4 heads, B = 8, T = 1024)
both ways, alternating them round by round so that machine load hits both alike, in fp32 and
bf16 autocast, and reports the median of the per-round ratios.

Labels are synthetic but shaped like POP909's (context fs): melody, chord and phrase levels that
hold for 32, 64 and 256 steps, drawn from 15, 15 and 5 values.

Usage (from the repository root, on a quiet machine; ~3 min):

    python benchmarks/bench_relative_bias.py     # writes benchmarks/results/relative_bias.{json,md}
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
from stripes.positional import PositionalConfig, StructureRPE
from stripes.training.config import build_optimizer

B, T, IN, OUT = 8, 1024, 256, 384
HOLDS, VALUES = (32, 64, 256), (15, 15, 5)  # steps per label and distinct labels, per level


def synthetic_batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    levels = [torch.randint(0, n, (B, T // hold), generator=g).repeat_interleave(hold, 1)
              for hold, n in zip(HOLDS, VALUES, strict=True)]
    return {"inputs": (torch.rand(B, T, IN, generator=g) < 0.01).float(),
            "targets": (torch.rand(B, T, OUT, generator=g) < 0.02).float(),
            "positions": torch.stack(levels, -1).float()}


def build_step(precision: str):
    """The harmonizer's training step and a switch between the two bias paths."""
    torch.manual_seed(0)
    cfg = ModelConfig(input_dim=IN, output_dim=OUT, d_model=128, n_layers=2, n_heads=4,
                      attention=AttentionConfig("softmax"), pe=PositionalConfig("structure_rpe"),
                      position_dim=3)
    model = StripesTransformer(cfg)
    opt = build_optimizer(model.parameters(), "adamw", 1e-3, 0.01)
    batch = synthetic_batch()
    pes = [m for m in model.modules() if isinstance(m, StructureRPE)]

    def step(path: str) -> float:
        for pe in pes:  # max_rank 0: no factors, the dense reference bias
            pe.max_rank = 128 if path == "factors" else 0
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits, _ = model(batch["inputs"], positions=batch["positions"])
            loss = F.binary_cross_entropy_with_logits(logits.float(), batch["targets"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def measure(precision: str, rounds: int) -> dict:
    step = build_step(precision)
    for path in ("reference", "factors"):
        step(path)  # warm-up
    times = {"reference": [], "factors": []}
    for r in range(rounds):
        order = ("reference", "factors") if r % 2 == 0 else ("factors", "reference")
        for path in order:
            times[path].append(step(path))
    ratios = [a / b for a, b in zip(times["reference"], times["factors"], strict=True)]
    return {"precision": precision, "rounds": rounds, "seconds": times,
            "reference_s": statistics.median(times["reference"]),
            "factors_s": statistics.median(times["factors"]),
            "speedup_median": statistics.median(ratios),
            "speedup_min": min(ratios), "speedup_max": max(ratios)}


def report(header: dict, peak: float, rows: list[dict]) -> str:
    md = [markdown_header("S S-RPE training step: dense reference bias vs low-rank factors",
                          header, peak)]
    md.append(f"Harmonizer step (forward, BCE, backward, AdamW), d_model 128, 2 layers, 4 heads, "
              f"softmax attention, B={B}, T={T}, three label levels; paths alternated per "
              "round; speedup = reference / factors per round.\n")
    md.append(markdown_table(
        ["precision", "rounds", "reference s/step", "factors s/step", "speedup (median)",
         "speedup (min-max)"],
        [[r["precision"], r["rounds"], f"{r['reference_s']:.2f}", f"{r['factors_s']:.2f}",
          f"{r['speedup_median']:.1f}x", f"{r['speedup_min']:.1f}-{r['speedup_max']:.1f}x"]
         for r in rows]))
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    header = machine_header()  # with the 1-min load average at the start
    peak = measure_matmul_peak()
    rows = []
    for precision in ("fp32", "bf16"):
        rows.append(measure(precision, args.rounds))
        print({k: v for k, v in rows[-1].items() if k != "seconds"}, flush=True)
    header["load_average_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    payload = {"header": header, "peak_gflops": peak, "rows": rows}
    print("wrote", *write_results(args.out, "relative_bias", payload, report(header, peak, rows)))


if __name__ == "__main__":
    main()
