"""The ``stripes`` command line: one entry point, subcommands that each call one library function.

Each command group is a module of this package with an ``add(subparsers)`` function; heavy
imports happen inside the handlers so that ``stripes --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from stripes.cli import bench, data, generation, harmonization


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    from stripes import __version__

    parser = argparse.ArgumentParser(prog="stripes", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"stripes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (bench, data, harmonization, generation):
        group.add(sub)
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
