"""Time per token versus position: lean recurrent linear decoding (each PE) vs softmax with a
preallocated KV cache, the reference step and fast-transformers' recurrent model; paired ratios.

Usage: ``python benchmarks/bench_generation.py [--length 8192]``; writes
``benchmarks/results/generation.{json,md}`` (same as ``stripes bench generation``).
"""

import argparse

from stripes.benchmarking.generation import run_generation_benchmark

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=8192)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    run_generation_benchmark(out_dir=args.out, length=args.length)
