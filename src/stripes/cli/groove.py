"""``stripes groove``: groove continuation ([SPE] Sec. 3.3, Fig. 5): train one recipe, or run a
grid of PEs × seeds and write its report (docs/groove.md)."""

from __future__ import annotations

import argparse

from stripes.cli.options import add_set_option


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``groove`` and its subcommands to the ``stripes`` parser's subcommands ``sub``."""
    p = sub.add_parser("groove", help="groove continuation: train trio models, Fig. 5 grids")
    gsub = p.add_subparsers(dest="groove_command", required=True)
    t = gsub.add_parser(
        "train", help="train a trio model from a recipe (configs/groove/)",
        description="Train the trio model of CONFIG into --out. A folder holding a run of the "
        "same recipe is resumed from its checkpoints/last.pt; another recipe is refused.")
    t.add_argument("config", help="the recipe (YAML), e.g. configs/groove/continuation_cpu.yaml")
    t.add_argument("--out", required=True, help="the run folder")
    t.add_argument("--data-root", help="the folder holding pop909/ (default: run.data_root, "
                   "else $STRIPES_DATA)")
    t.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    add_set_option(t, "e.g. train.seed=1")
    t.set_defaults(func=run_train)
    g = gsub.add_parser(
        "grid", help="PEs x seeds of a grid (configs/groove/grid_*.yaml), Fig. 5 and table",
        description="Train every method at every seed (seed-major, resumable: finished runs "
        "are read back), continue the test prompts, then write OUT/fig5.png and OUT/table.md "
        "(style per chunk, ceiling and floor, tests against the reference in the last chunk "
        "with Holm's correction).")
    g.add_argument("grid", help="the grid, e.g. configs/groove/grid_cpu.yaml")
    g.add_argument("--out", default="results/groove_continuation_cpu", help="the results folder")
    g.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: the grid's)")
    g.add_argument("--report-only", action="store_true",
                   help="rewrite the figure and table from the finished runs; train nothing")
    add_set_option(g, "of every run's recipe, e.g. train.epochs=1")
    g.set_defaults(func=run_grid_command)


def run_train(args: argparse.Namespace) -> None:
    from stripes.tasks.groove.train import train_groove

    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"run.data_root={args.data_root}")
    run = train_groove(args.config, args.out, overrides, overwrite=args.overwrite)
    print(f"run folder: {run}")


def run_grid_command(args: argparse.Namespace) -> None:
    from stripes.experiments.groove import run_groove_grid

    table = run_groove_grid(args.grid, args.out, args.overrides, args.seeds,
                            report_only=args.report_only)
    print(f"table: {table}")
