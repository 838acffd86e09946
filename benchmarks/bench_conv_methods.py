"""convSPE's two filtering paths, direct (banded matmul) and FFT, against each other and against
attention alone: the measurements behind ``ConvSPE(method="auto")`` (positional/conv_spe.py).

Usage: ``python benchmarks/bench_conv_methods.py [--T 8192] [--rounds 5]``; writes
``benchmarks/results/conv_methods.{json,md}``. Shapes: B=1, H=8, D=64, block 32, Rademacher
noise, one fresh code per call; every (P, R) point runs in its own process, the two paths and
attention alone alternately timed in it (paired rounds), default allocator.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from stripes.benchmarking.common import (
    machine_header,
    markdown_header,
    markdown_table,
    measure_matmul_peak,
    measure_paired,
    paired_ratio,
    run_isolated,
    write_results,
)

B, H, D = 1, 8, 64
KERNELS = (16, 64, 128, 256)
REALIZATIONS = (16, 64)


def _calls(t: int, p: int, r: int, mode: str) -> dict:
    from stripes.attention import elu1p, linear_attention
    from stripes.positional import build_positional

    g = torch.Generator().manual_seed(0)
    grad = mode == "fwdbwd"
    q, k, v = (torch.randn(B, t, H, D, generator=g).requires_grad_(grad) for _ in range(3))

    def attend(qq, kk):
        return linear_attention(elu1p(qq), elu1p(kk), v, causal=True)[0]

    calls = {"attention": lambda: attend(q, k)}
    for method in ("direct", "fft"):
        pe = build_positional("conv_spe", n_heads=H, head_dim=D, kernel_size=p,
                              n_realizations=r, method=method)
        calls[method] = (lambda pe=pe: attend(*pe(q, k, code=pe.draw_code(t))))
    if grad:
        calls = {name: (lambda fn=fn: fn().sum().backward()) for name, fn in calls.items()}
    return calls


def measure(t: int, p: int, r: int, rounds: int, modes=("fwd",)) -> dict:
    """One (P, R) point (forward; forward+backward too with ``modes``)."""
    out = {"T": t, "P": p, "R": r}
    for mode in modes:
        m = measure_paired(_calls(t, p, r, mode), rounds=rounds, warmup=1)
        out[mode] = {name: v["seconds"] for name, v in m.items()}
        out[mode]["fft_over_direct"] = paired_ratio(m, "fft", "direct")
        for name in ("direct", "fft"):
            out[mode][f"{name}_over_attention"] = paired_ratio(m, name, "attention")
    return out


def run(t: int, rounds: int, out_dir: str) -> dict:
    """Every (P, R) point in its own process; results rewritten after each point."""
    header, peak = machine_header(), measure_matmul_peak()
    payload = {"header": header, "matmul_peak_gflops": peak, "shape": {"B": B, "H": H, "D": D},
               "points": []}
    for r in REALIZATIONS:
        for p in KERNELS:
            payload["points"].append(run_isolated(
                "benchmarks.bench_conv_methods", [str(t), str(p), str(r), str(rounds)]))
            write_results(out_dir, "conv_methods", payload, render(payload, t))
    return payload


def render(payload: dict, t: int) -> str:
    """Forward times of both paths, their paired ratio, and convSPE + attention / attention."""
    rows = []
    for pt in payload["points"]:
        if "error" in pt:
            rows.append(["?", "?", pt["error"], "", ""])
            continue
        f = pt["fwd"]
        rows.append([pt["P"], pt["R"], f"{f['direct']:.3f} / {f['fft']:.3f} s",
                     f"{f['fft_over_direct']:.2f}",
                     f"{min(f['direct_over_attention'], f['fft_over_attention']):.1f}x"])
    return markdown_header(f"convSPE: direct vs FFT (T = {t}, forward)", payload["header"],
                           payload["matmul_peak_gflops"]) + "\n" + markdown_table(
        ["P", "R", "direct / FFT", "FFT / direct (paired)",
         "faster path + attention / attention alone"], rows)


if __name__ == "__main__":
    if len(sys.argv) == 5 and all(a.isdigit() for a in sys.argv[1:]):  # one point (internal)
        print(json.dumps(measure(*(int(a) for a in sys.argv[1:4]), rounds=int(sys.argv[4]))))
        sys.exit(0)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=8192)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    os.chdir(Path(__file__).resolve().parent.parent)  # run_isolated imports benchmarks.*
    run(args.T, args.rounds, args.out)
