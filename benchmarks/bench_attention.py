"""Attention time and peak memory versus T (same as ``stripes bench attention``).

Usage: ``python benchmarks/bench_attention.py [--quick] [--budget 20]``; writes
``benchmarks/results/attention.{json,md}``. Run it on a quiet machine.
"""

import argparse

from stripes.benchmarking import run_attention_benchmark

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="T up to 4096 only")
    ap.add_argument(
        "--budget", type=float, default=20.0, help="seconds per point before a series stops"
    )
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    run_attention_benchmark(out_dir=args.out, quick=args.quick, budget_s=args.budget)
