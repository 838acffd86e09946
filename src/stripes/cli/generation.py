"""``stripes lm`` and ``stripes generate``: token language models and sampling."""

from __future__ import annotations

import argparse
import sys

#: ``generate`` refuses more tokens than this unless ``--force`` (about 20 min at the rate below).
MAX_TOKENS = 65536
#: Tokens per second of one-token recurrent decoding measured on a laptop CPU (d_model 512).
CPU_TOKENS_PER_S = 55.0


def check_budget(tokens: int, force: bool) -> None:
    """Refuse a token budget past :data:`MAX_TOKENS` unless forced; print the estimate."""
    hours = tokens / CPU_TOKENS_PER_S / 3600
    estimate = f"about {hours:.1f} h on a CPU at ~{CPU_TOKENS_PER_S:g} tokens/s"
    if tokens > MAX_TOKENS and not force:
        raise ValueError(f"--tokens {tokens} is past the bound of {MAX_TOKENS} ({estimate}); "
                         "pass --force to run it anyway")
    if tokens > MAX_TOKENS:
        print(f"warning: --tokens {tokens}: {estimate}", file=sys.stderr)


def add(sub: argparse._SubParsersAction) -> None:
    lm = sub.add_parser("lm", help="token language models: train, evaluate, compare PEs")
    lsub = lm.add_subparsers(dest="lm_command", required=True)
    t = lsub.add_parser("train", help="train a language model from an experiment YAML")
    t.add_argument("config", help="YAML with name/data/model/train/eval sections (configs/lm/)")
    t.add_argument("--out", help="run folder (default: the config's run.out_dir)")
    t.add_argument(
        "overrides",
        nargs="*",
        help="section.key=value, e.g. run.max_steps=100 "
        "(right after CONFIG; after other options use --set)",
    )
    t.add_argument(
        "--set",
        dest="more",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override (repeatable)",
    )
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run folder from its checkpoints/last.pt")
    mode.add_argument("--overwrite", action="store_true",
                      help="replace an existing run folder (its run files are deleted first)")
    t.set_defaults(func=_run_lm_train)
    e = lsub.add_parser("evaluate", help="loss by position, PE probe, style, plots of a checkpoint")
    e.add_argument("--checkpoint", required=True, help="checkpoint written by `stripes lm train`")
    e.add_argument("--out", help="results folder (default: <run>/eval)")
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    e.add_argument("--no-style", action="store_true", help="skip sampling continuations")
    e.set_defaults(func=_run_lm_evaluate)
    c = lsub.add_parser("compare", help="train and evaluate several configs, one table and plot")
    c.add_argument("configs", nargs="+", help="experiment YAML files")
    c.add_argument("--name", default="comparison", help="results go to OUT/lm_NAME/")
    c.add_argument("--out", default="results", help="results root")
    c.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override for every config (repeatable)",
    )
    c.add_argument("--device", default="cpu", help="where evaluation runs (training: the "
                   "config's run.device)")
    c.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                   help="train every config once per seed (train.seed) and write table6.md: "
                        "mean ± std over seeds, [SPE] Table 6 beside, its claims tested")
    c.add_argument("--no-style", action="store_true",
                   help="skip sampling continuations (the style columns)")
    c.set_defaults(func=_run_lm_compare)

    g = sub.add_parser("generate", help="sample a MIDI continuation from a language model")
    g.add_argument("--checkpoint", required=True, help="checkpoint written by `stripes lm train`")
    g.add_argument("--prompt", help="MIDI file to continue (default: start from a bar line)")
    g.add_argument("--tokens", type=int, default=512,
                   help=f"tokens to generate, >= 1 (default 512; more than {MAX_TOKENS} only "
                   "with --force)")
    g.add_argument("--force", action="store_true",
                   help=f"allow more than {MAX_TOKENS} tokens (the estimate is printed)")
    g.add_argument("--top-p", type=float, default=0.9,
                   help="nucleus sampling: the smallest set of tokens holding this probability, "
                   "in (0, 1]; 1 disables it (default 0.9, [SPE] App. C.2)")
    g.add_argument("--temperature", type=float, default=1.2,
                   help="softmax temperature, >= 0; 0 is greedy decoding (the most likely "
                   "token every step) (default 1.2)")
    g.add_argument("--top-k", type=int, default=None,
                   help="sample among the k most likely tokens, k >= 1 (default: off)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the PE realization and the sampling noise (default 0)")
    g.add_argument("--no-grammar", action="store_true", help="sample without the REMI grammar")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    g.add_argument("--out", required=True, help="the .mid file to write")
    g.set_defaults(func=_run_generate)


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
    from stripes.tasks.lm.compare import run_lm_comparison
    from stripes.training.config import check_device

    check_device(args.device)
    root = run_lm_comparison(
        args.configs, args.out, args.name, overrides=args.overrides, device=args.device,
        style=not args.no_style, seeds=args.seeds,
    )
    print((root / ("table6.md" if args.seeds else "results.md")).read_text())
    print(f"results: {root}")


def _run_generate(args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from stripes.cli.checks import output_file
    from stripes.tasks.lm.generate import check_sampling, generate_midi
    from stripes.training.config import check_device

    check_sampling(args.tokens, args.temperature, args.top_p, args.top_k)
    check_budget(args.tokens, args.force)
    check_device(args.device)
    output_file(args.out, (".mid", ".midi"))
    with tqdm(total=args.tokens, desc="generating", unit="tok") as bar:
        info = generate_midi(
            args.checkpoint,
            args.out,
            prompt=args.prompt,
            n_tokens=args.tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            seed=args.seed,
            grammar=not args.no_grammar,
            device=args.device,
            progress=bar.update,
        )
    print(f"wrote {info['path']} ({info['tokens']} tokens, {info['notes']} notes)")
