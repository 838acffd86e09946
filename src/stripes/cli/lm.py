"""``stripes lm train / evaluate / compare``: token language models and their PE comparison."""

from __future__ import annotations

import argparse

from stripes.cli.options import add_set_option


def add(sub: argparse._SubParsersAction) -> None:
    lm = sub.add_parser("lm", help="token language models: train, evaluate, compare PEs")
    lsub = lm.add_subparsers(dest="lm_command", required=True)
    _add_train(lsub)
    _add_evaluate(lsub)
    _add_compare(lsub)


def _add_train(lsub: argparse._SubParsersAction) -> None:
    t = lsub.add_parser("train", help="train a language model from an experiment YAML")
    t.add_argument("config", help="YAML with name/data/model/train/eval sections (configs/lm/)")
    t.add_argument("--out", help="run folder (default: the config's run.out_dir)")
    t.add_argument("overrides", nargs="*", help="section.key=value, e.g. run.max_steps=100 "
                   "(right after CONFIG; after other options use --set)")
    t.add_argument("--set", dest="more", action="append", default=[], metavar="KEY=VALUE",
                   help="an override (repeatable)")
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run folder from its checkpoints/last.pt")
    mode.add_argument("--overwrite", action="store_true",
                      help="replace an existing run folder (its run files are deleted first)")
    t.set_defaults(func=_run_lm_train)


def _add_evaluate(lsub: argparse._SubParsersAction) -> None:
    e = lsub.add_parser("evaluate", help="loss by position, PE probe, style, plots of a checkpoint")
    e.add_argument("--checkpoint", required=True, help="checkpoint written by `stripes lm train`")
    e.add_argument("--out", help="results folder (default: <run>/eval)")
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    e.add_argument("--no-style", action="store_true", help="skip sampling continuations")
    e.set_defaults(func=_run_lm_evaluate)


def _add_compare(lsub: argparse._SubParsersAction) -> None:
    c = lsub.add_parser("compare", help="train and evaluate several configs, one table and plot")
    c.add_argument("configs", nargs="+", help="experiment YAML files")
    c.add_argument("--name", default="comparison", help="results go to OUT/lm_NAME/")
    c.add_argument("--out", default="results", help="results root")
    add_set_option(c, "of every config, e.g. run.max_steps=50")
    c.add_argument("--device", default="cpu", help="where evaluation runs (training: the "
                   "config's run.device)")
    c.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                   help="train every config once per seed (train.seed) and write table6.md: "
                        "mean ± std over seeds, [SPE] Table 6 beside, its claims tested")
    c.add_argument("--no-style", action="store_true",
                   help="skip sampling continuations (the style columns)")
    c.set_defaults(func=_run_lm_compare)


def _run_lm_train(args: argparse.Namespace) -> None:
    from stripes.tasks.lm.train import train_language_model

    overrides = [*args.overrides, *args.more]
    run = train_language_model(args.config, out_dir=args.out, overrides=overrides,
                               resume=args.resume, overwrite=args.overwrite)
    print(f"run folder: {run} (checkpoints in {run / 'checkpoints'})")


def _run_lm_evaluate(args: argparse.Namespace) -> None:
    from pathlib import Path

    from stripes.tasks.lm.evaluate import evaluate_language_model
    from stripes.training.config import check_device

    check_device(args.device)
    res = evaluate_language_model(
        args.checkpoint, args.out, device=args.device, style=not args.no_style
    )
    loss = res["loss"]
    print(
        f"{res['name']}: loss within {res['train_length']} tokens {loss['within']:.4f}, "
        f"beyond {loss['beyond']:.4f} nats/token"
    )
    print(f"results: {Path(res['files']['loss_by_position']).parent}")


def _run_lm_compare(args: argparse.Namespace) -> None:
    from stripes.experiments.lm import run_lm_comparison
    from stripes.training.config import check_device

    check_device(args.device)
    root = run_lm_comparison(
        args.configs, args.out, args.name, overrides=args.overrides, device=args.device,
        style=not args.no_style, seeds=args.seeds,
    )
    print((root / ("table6.md" if args.seeds else "results.md")).read_text())
    print(f"results: {root}")
