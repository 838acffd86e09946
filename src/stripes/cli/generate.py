"""``stripes generate``: sample a MIDI continuation from a language model."""

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
    g.add_argument("--compile", action="store_true",
                   help="decode through torch.compile of the model's one-token step (the same "
                   "tokens; the first ones pay the compilation, tens of seconds on a CPU)")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    g.add_argument("--out", required=True,
                   help="the .mid file to write (never the prompt; written atomically)")
    g.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    g.set_defaults(func=_run_generate)


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

        def advance(tokens: int) -> None:
            bar.update(tokens)

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
            progress=advance,
            overwrite=args.overwrite,
            compiled=args.compile,
        )
    print(f"wrote {info['path']} ({info['tokens']} tokens, {info['notes']} notes)")
