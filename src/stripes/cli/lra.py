"""``stripes lra``: Long-Range Arena data (ListOps in the LRA release format), training and
evaluation of the classifier (docs/lra.md)."""

from __future__ import annotations

import argparse

from stripes.cli.options import add_compile_option, add_set_option, run_overrides


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``lra`` and its subcommands to the ``stripes`` parser's subcommands ``sub``."""
    p = sub.add_parser("lra", help="Long-Range Arena data: ListOps generated in the LRA format")
    lsub = p.add_subparsers(dest="lra_command", required=True)
    lo = lsub.add_parser(
        "listops",
        help="generate ListOps (the LRA recipe) as basic_{train,val,test}.tsv",
        description="Generate distinct ListOps expressions by the LRA recipe (MIN, MAX, MED, SM; "
        "depth <= 10; 2-10 arguments) and write them in the LRA release format.",
    )
    lo.add_argument("--out", required=True, help="folder for basic_{train,val,test}.tsv")
    lo.add_argument("--train", type=int, default=96_000, help="training examples (default 96000)")
    lo.add_argument("--val", type=int, default=2_000, help="validation examples (default 2000)")
    lo.add_argument("--test", type=int, default=2_000, help="test examples (default 2000)")
    lo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    lo.add_argument("--min-length", type=int, default=500,
                    help="keep lengths above this, exclusive (default 500)")
    lo.add_argument("--max-length", type=int, default=2000,
                    help="keep lengths below this, exclusive (default 2000)")
    lo.add_argument("--force", action="store_true", help="overwrite existing split files")
    lo.set_defaults(func=run_listops)
    add_train(lsub)
    add_evaluate(lsub)
    add_grid(lsub)


def add_train(lsub: argparse._SubParsersAction) -> None:
    t = lsub.add_parser(
        "train", help="train an LRA classifier from a recipe (configs/lra/)",
        description="Train the LRA classifier of CONFIG into --out. A folder holding a run of "
        "the same recipe is resumed from its checkpoints/last.pt; another recipe is refused.")
    t.add_argument("config", help="the recipe (YAML), e.g. configs/lra/listops_cpu.yaml")
    t.add_argument("--out", required=True, help="the run folder")
    t.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: run.device)")
    add_compile_option(t)
    t.add_argument("--data-root", help="the folder of the task's files (default: run.data_root)")
    t.add_argument("--max-steps", type=int, help="stop this invocation after so many steps in "
                   "all (rerun to continue)")
    t.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    add_set_option(t, "e.g. train.seed=1")
    t.set_defaults(func=run_train)


def add_evaluate(lsub: argparse._SubParsersAction) -> None:
    e = lsub.add_parser("evaluate", help="accuracy of an LRA run beside the majority floor",
                        description="Score RUN's final weights (or --checkpoint) on the validation "
                        "and test splits; writes RUN/evaluation.json.")
    e.add_argument("run", help="a run folder of `stripes lra train`")
    e.add_argument("--checkpoint", default="last.pt", help="a file name in RUN/checkpoints/ "
                   "(default last.pt, the final weights, as LRA scores them; or best.pt)")
    e.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    e.add_argument("--data-root", help="the folder of the task's files (default: the recipe's)")
    e.set_defaults(func=run_evaluate)


def add_grid(lsub: argparse._SubParsersAction) -> None:
    g = lsub.add_parser(
        "grid", help="methods x seeds of a grid (configs/lra/grid_*.yaml), tables and curves",
        description="Train and evaluate every method at every seed (seed-major, resumable), "
        "then write OUT/table.md (mean ± std, tests against the reference row with Holm's "
        "correction, the majority floor, the paper beside) and OUT/curves.png.")
    g.add_argument("grid", help="the grid, e.g. configs/lra/grid_listops_cpu.yaml")
    g.add_argument("--out", default="results/lra_listops_cpu", help="the results folder")
    g.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: the grid's); "
                   "the tables read every finished run, so one process per seed may share --out")
    g.add_argument("--report-only", action="store_true",
                   help="train nothing: rewrite the tables and curves from the finished runs")
    add_set_option(g, "of every run's recipe, e.g. train.epochs=2")
    g.set_defaults(func=run_grid_command)


def run_grid_command(args: argparse.Namespace) -> None:
    from stripes.experiments.lra import run_lra_grid

    table = run_lra_grid(args.grid, args.out, args.overrides, args.seeds,
                         report_only=args.report_only)
    print(f"table: {table}")


def run_train(args: argparse.Namespace) -> None:
    from stripes.tasks.lra.train import train_lra

    overrides = [*args.overrides, *run_overrides(args)]
    if args.data_root:
        overrides.append(f"run.data_root={args.data_root}")
    run = train_lra(args.config, args.out, overrides, overwrite=args.overwrite,
                    max_steps=args.max_steps)
    print(f"run folder: {run} (score it with `stripes lra evaluate {run}`)")


def run_evaluate(args: argparse.Namespace) -> None:
    from stripes.tasks.lra.train import evaluate_lra

    res = evaluate_lra(args.run, args.checkpoint, args.device, args.data_root)
    print(f"{args.run} ({res['checkpoint']}, step {res['step']}), majority class "
          f"{res['majority_class']}:")
    for split in ("val", "test"):
        r = res[split]
        print(f"  {split}: accuracy {r['accuracy']:.2%} over {r['examples']} examples "
              f"(majority floor {r['majority_floor']:.2%})")


def run_listops(args: argparse.Namespace) -> None:
    """Generate and write the three splits; print what was written."""
    from stripes.tasks.lra.formats import write_listops_release
    from stripes.tasks.lra.listops import ListOpsConfig

    cfg = ListOpsConfig(min_length=args.min_length, max_length=args.max_length)
    done = write_listops_release(args.out, (args.train, args.val, args.test), cfg, args.seed,
                                 force=args.force)
    stats = done.stats
    print(f"ListOps ({cfg.min_length} < length < {cfg.max_length}, seed {args.seed}): "
          f"{stats.kept} distinct examples from {stats.draws:,} draws "
          f"({stats.kept / max(stats.draws, 1):.1%} kept, {stats.duplicates} duplicates dropped), "
          f"{done.seconds:.1f} s")
    for split, path in done.files.items():
        n = done.counts[split]
        lo, mean, hi = done.lengths[split]
        shares = " ".join(f"{c / max(n, 1):.2f}" for c in done.labels[split])
        print(f"  {path}: {n} examples, length {lo}-{hi} (mean {mean:.0f}); labels 0-9: {shares}")
