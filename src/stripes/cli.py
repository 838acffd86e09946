"""The ``stripes`` command line: one entry point, subcommands that each call one library function.

Each command group has its own ``_add_<group>`` function below; heavy imports happen inside the
handlers so that ``stripes --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys


# --- bench -----------------------------------------------------------------------------------
def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark and write JSON + Markdown results")
    bsub = p.add_subparsers(dest="bench_command", required=True)
    a = bsub.add_parser("attention", help="attention time and memory versus sequence length")
    a.add_argument("--quick", action="store_true", help="short series (T up to 4096)")
    a.add_argument("--out", default="benchmarks/results", help="folder for JSON and Markdown")
    a.add_argument("--budget", type=float, default=20.0, help="seconds per point before a series stops")
    a.set_defaults(func=_run_bench_attention)
    g = bsub.add_parser("generation", help="time per generated token versus position")
    g.add_argument("--length", type=int, default=8192, help="tokens to decode per method")
    g.add_argument("--out", default="benchmarks/results", help="folder for JSON and Markdown")
    g.set_defaults(func=_run_bench_generation)


def _run_bench_attention(args: argparse.Namespace) -> None:
    from stripes.benchmarking import run_attention_benchmark

    run_attention_benchmark(out_dir=args.out, quick=args.quick, budget_s=args.budget)


def _run_bench_generation(args: argparse.Namespace) -> None:
    from stripes.benchmarking.generation import run_generation_benchmark

    run_generation_benchmark(out_dir=args.out, length=args.length)


# --- data ------------------------------------------------------------------------------------
def _add_data(sub: argparse._SubParsersAction) -> None:
    pass


# --- train / experiment / harmonize / demo ---------------------------------------------------
def _add_harmonization(sub: argparse._SubParsersAction) -> None:
    pass


# --- lm / generate ---------------------------------------------------------------------------
def _add_generation(sub: argparse._SubParsersAction) -> None:
    pass


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    from stripes import __version__

    parser = argparse.ArgumentParser(prog="stripes", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"stripes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_bench, _add_data, _add_harmonization, _add_generation):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stripes`` script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (FileNotFoundError, ValueError) as err:  # user errors: one clear line, no traceback
        print(f"stripes: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
