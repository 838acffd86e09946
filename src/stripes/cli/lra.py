"""``stripes lra``: Long-Range Arena data (ListOps in the LRA release format; docs/lra.md)."""

from __future__ import annotations

import argparse


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
