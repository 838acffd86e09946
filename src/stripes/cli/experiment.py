"""``stripes experiment run / tables``: the papers' tables from a grid of harmonizers."""

from __future__ import annotations

import argparse

from stripes.cli.options import add_set_option


def add(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser("experiment", help="run a grid of harmonizers and write the paper tables")
    xsub = x.add_subparsers(dest="experiment_command", required=True)
    r = xsub.add_parser("run", help="train + evaluate every run (resuming), then write tables")
    r.add_argument("config", help="configs/experiments/<name>.yaml")
    r.add_argument("--out", default="results", help="results root (default: results/)")
    r.add_argument("--device", help="training device of every run: cpu, cuda or auto")
    add_set_option(r, "e.g. base.train.epochs=1")
    r.set_defaults(func=_run_experiment)
    tb = xsub.add_parser("tables", help="rewrite the tables, their statistics and summary.md "
                         "from the finished runs (trains nothing; lists missing runs)")
    tb.add_argument("config", help="configs/experiments/<name>.yaml")
    tb.add_argument("--out", default="results", help="results root (default: results/)")
    add_set_option(tb, "e.g. seeds=[0,1,2]")
    tb.set_defaults(func=_run_experiment_tables)


def _run_experiment(args: argparse.Namespace) -> None:
    from stripes.experiments.harmonization import run_experiment

    paths = run_experiment(args.config, args.out, device=args.device, overrides=args.overrides)
    for key, path in paths.items():
        print(f"{key}: {path}")


def _run_experiment_tables(args: argparse.Namespace) -> None:
    from stripes.experiments.harmonization import write_experiment_tables

    paths = write_experiment_tables(args.config, args.out, overrides=args.overrides)
    for key, path in paths.items():
        print(f"{key}: {path}")
    for line in paths["summary"].read_text().splitlines():
        if line.startswith("- PARTIAL"):  # the runs still missing, as the summary lists them
            print(line.removeprefix("- "))
