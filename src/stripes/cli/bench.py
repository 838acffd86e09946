"""``stripes bench``: the attention and generation benchmarks (JSON + Markdown)."""

from __future__ import annotations

import argparse


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark and write JSON + Markdown results")
    bsub = p.add_subparsers(dest="bench_command", required=True)
    a = bsub.add_parser("attention", help="attention time and memory versus sequence length")
    a.add_argument("--quick", action="store_true", help="short series (T up to 4096)")
    a.add_argument("--out", default="benchmarks/results", help="folder for JSON and Markdown")
    a.add_argument(
        "--budget", type=float, default=20.0, help="seconds per point before a series stops"
    )
    a.add_argument("--paired", action="store_true",
                   help="paired ratios against fast-transformers and SDPA instead of the series")
    a.set_defaults(func=_run_bench_attention)
    g = bsub.add_parser("generation", help="time per generated token versus position")
    g.add_argument("--length", type=int, default=8192, help="tokens to decode per method")
    g.add_argument("--out", default="benchmarks/results", help="folder for JSON and Markdown")
    g.set_defaults(func=_run_bench_generation)


def _run_bench_attention(args: argparse.Namespace) -> None:
    from stripes.benchmarking import run_attention_benchmark

    if not args.budget > 0:
        raise ValueError(f"--budget must be > 0 seconds, got {args.budget}")
    if args.paired:
        from stripes.benchmarking.attention_paired import run_paired_benchmark

        run_paired_benchmark(out_dir=args.out)
        return
    run_attention_benchmark(out_dir=args.out, quick=args.quick, budget_s=args.budget)


def _run_bench_generation(args: argparse.Namespace) -> None:
    from stripes.benchmarking.generation import run_generation_benchmark

    if args.length < 1:
        raise ValueError(f"--length must be >= 1, got {args.length}")
    run_generation_benchmark(out_dir=args.out, length=args.length)
