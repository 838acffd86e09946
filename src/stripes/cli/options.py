"""Options shared by several commands: ``--set`` overrides and how a run folder is reused."""

from __future__ import annotations

import argparse


def add_set_option(parser: argparse.ArgumentParser, example: str = "e.g. train.lr=3e-4") -> None:
    """``--set KEY=VALUE`` (repeatable): a dotted override of the config file, value as YAML."""
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help=f"override a config entry ({example}); "
                        "repeatable")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--compile``, and ``--resume`` / ``--overwrite`` for an existing run
    folder."""
    parser.add_argument("--device", help="training device: cpu, cuda, cuda:N or auto "
                        "(default: the config's run.device, cpu)")
    add_compile_option(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run in --out from its checkpoints/last.pt")
    mode.add_argument("--overwrite", action="store_true",
                      help="replace the run in --out (its run files are deleted first)")


def add_compile_option(parser: argparse.ArgumentParser) -> None:
    """``--compile``: train through ``torch.compile`` (sets ``run.compile``)."""
    parser.add_argument("--compile", action="store_true",
                        help="train through torch.compile(fullgraph=True) (run.compile=true); "
                        "the first step's time, compilation included, is logged")


def run_overrides(args: argparse.Namespace) -> list[str]:
    """``--device`` and ``--compile`` as ``run.*`` overrides."""
    return [*([f"run.device={args.device}"] if args.device else []),
            *(["run.compile=true"] if args.compile else [])]
