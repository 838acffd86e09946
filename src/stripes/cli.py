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
    a.add_argument(
        "--budget", type=float, default=20.0, help="seconds per point before a series stops"
    )
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
    p = sub.add_parser("data", help="prepare and inspect the music corpora (POP909, Bach chorales)")
    dsub = p.add_subparsers(dest="data_command", required=True)
    prep = dsub.add_parser("prepare", help="parse a corpus once into the cache")
    psub = prep.add_subparsers(dest="corpus", required=True)
    pop = psub.add_parser("pop909", help="POP909 + structure labels + [S24] alignment and split")
    pop.add_argument(
        "--root",
        default=None,
        help="folder with pop909/, pop909_structure/, pop909_alignment/ "
        "(default: $STRIPES_POP909_ROOT)",
    )
    pop.add_argument(
        "--exclude-misaligned",
        action="store_true",
        help="drop songs whose melody onset agreement is below --threshold",
    )
    pop.add_argument("--threshold", type=float, default=0.8, help="onset agreement (default 0.8)")
    pop.add_argument("--workers", type=int, default=1, help="processes for parsing (default 1)")
    pop.set_defaults(func=_run_data_prepare_pop909)
    cho = psub.add_parser("chorales", help="Bach chorales of music21's corpus (no download)")
    cho.add_argument("--workers", type=int, default=2, help="processes for parsing (default 2)")
    cho.set_defaults(func=_run_data_prepare_chorales)
    for q in (pop, cho):
        q.add_argument(
            "--out",
            default=None,
            help="cache folder (default: $STRIPES_CACHE/<corpus> or ~/.cache/stripes/<corpus>)",
        )
        q.add_argument("--no-tokens", action="store_true", help="skip the REMI tokens")
        q.add_argument("--force", action="store_true", help="rebuild even if the cache is fresh")
    info = dsub.add_parser("info", help="counts, label vocabularies, alignment, context statistics")
    info.add_argument("corpus", help="pop909, chorales, or a prepared cache folder")
    info.add_argument("--bars", type=int, default=None, help="window length for the statistics")
    info.add_argument("--json", action="store_true", help="print the raw JSON")
    info.set_defaults(func=_run_data_info)


def _run_data_prepare_pop909(args: argparse.Namespace) -> None:
    import time

    from stripes.music.datasets import prepare_pop909

    t0 = time.perf_counter()
    out = prepare_pop909(
        args.root,
        args.out,
        exclude_misaligned=args.exclude_misaligned,
        threshold=args.threshold,
        tokens=not args.no_tokens,
        workers=args.workers,
        progress=True,
        force=args.force,
    )
    _print_prepared(out, time.perf_counter() - t0)


def _run_data_prepare_chorales(args: argparse.Namespace) -> None:
    import time

    from stripes.music.datasets import prepare_chorales

    t0 = time.perf_counter()
    out = prepare_chorales(
        args.out, tokens=not args.no_tokens, workers=args.workers, progress=True, force=args.force
    )
    _print_prepared(out, time.perf_counter() - t0)


def _print_prepared(out, seconds: float) -> None:
    import json
    from pathlib import Path

    manifest = json.loads((Path(out) / "manifest.json").read_text())
    print(f"{manifest['corpus']}: {out} ({seconds:.1f} s)")
    print("  counts: " + ", ".join(f"{k} {v}" for k, v in manifest["counts"].items()))
    if "alignment" in manifest:
        _print_alignment(manifest["alignment"])
    if "parsing" in manifest:
        rep = manifest["parsing"]
        print(
            f"  parsed {rep['files']} files, kept {rep['kept']} ({rep['tune_groups']} tunes), "
            f"skipped {len(rep['skipped'])} (meter other than 4/4 or no SATB parts)"
        )


def _print_alignment(al: dict) -> None:
    n = al["songs"]
    print(
        f"  melody.txt vs MIDI MELODY onsets (+-{al['tolerance_steps']} steps), {n} songs: "
        f"median {al['median_onset']:.3f}"
    )
    for level, count in al["at_least"].items():
        best = al["at_least_best_shift"][level]
        print(f"    >= {float(level):.0%}: {count} songs ({best} with each song's best shift)")
    below = al["below_threshold"]
    ids = [d["song"] if isinstance(d, dict) else d for d in below]
    print(f"  below {al['threshold']:.0%}: {len(ids)} songs: {' '.join(f'{i:03d}' for i in ids)}")
    if al.get("excluded"):
        print(f"  excluded (--exclude-misaligned): {len(al['excluded'])} songs")
    if al.get("meter_mismatch"):
        print(f"  kept although index.csv says not 4/4: {al['meter_mismatch']}")


def _run_data_info(args: argparse.Namespace) -> None:
    import json

    from stripes.music.datasets import describe_corpus

    info = describe_corpus(args.corpus, bars=args.bars or "default", progress=True)
    if args.json:
        print(json.dumps(info, indent=1))
        return
    print(f"{info['corpus']}: {info['songs_total']} pieces; songs per split {info['songs']}")
    for bars, per in info["windows"].items():
        print(f"  windows of {'whole pieces' if bars == 'whole' else bars + ' bars'}: {per}")
    st = info["steps"]
    print(
        f"  length in steps (16 per quarter): min {st['min']}, mean {st['mean']:.0f}, "
        f"max {st['max']}"
    )
    print(f"  chord vocabulary: {info['chord_vocabulary']} ids (closed under transposition)")
    for name, v in info["labels"].items():
        print(f"  label {name:<10} {v['distinct']:>5} distinct values in {v['min']}..{v['max']}")
    ctx = info["contexts"]
    size = "whole pieces" if ctx["window_bars"] == "whole" else f"{ctx['window_bars']} bars"
    print(f"  distinct values per window ({size}):")
    for name in ("rep", "key", "bin"):
        print(f"    {name.upper():<4} mean {ctx[name]['mean']:.1f}, max {ctx[name]['max']}")
    if "alignment" in info:
        _print_alignment(info["alignment"])


# --- train / experiment / harmonize / demo ---------------------------------------------------
def _add_harmonization(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "demo",
        help="the main job: train a small harmonizer on the bundled "
        "chorales and harmonize a held-out melody (offline, CPU, minutes)",
    )
    d.add_argument("--out", default="outputs/demo", help="output folder")
    d.add_argument("--fast", action="store_true", help="tiny run (seconds), for tests")
    d.set_defaults(func=_run_demo)

    t = sub.add_parser("train", help="train a melody harmonizer from a YAML task config")
    t.add_argument("config", help="YAML with HarmonizationConfig fields")
    t.add_argument("--out", required=True, help="run folder")
    t.set_defaults(func=_run_train)

    e = sub.add_parser("evaluate", help="binarize on validation and score the test set of a run")
    e.add_argument("run", help="run folder written by `stripes train`")
    e.set_defaults(func=_run_evaluate)

    h = sub.add_parser("harmonize", help="arrange a melody MIDI with a trained harmonizer")
    h.add_argument("midi", help="MIDI file holding the melody (4/4)")
    h.add_argument("--checkpoint", required=True, help="run folder of a trained harmonizer")
    src = h.add_mutually_exclusive_group(required=True)
    src.add_argument("--chords", help="chords file: 'label [pitch classes] bass beats' per line")
    src.add_argument("--chord-track", help="MIDI track of block chords (one chord per beat)")
    h.add_argument("--melody-track", help="melody track name (default: MELODY or the only one)")
    h.add_argument("--key", default="C:maj", help="key of the song, e.g. 'Gb:maj' (KEY context)")
    h.add_argument("--out", default="harmonized.mid", help="output MIDI (a PNG is written beside)")
    h.set_defaults(func=_run_harmonize)

    x = sub.add_parser("experiment", help="run a grid of harmonizers and write the paper tables")
    xsub = x.add_subparsers(dest="experiment_command", required=True)
    r = xsub.add_parser("run", help="train + evaluate every run (resuming), then write tables")
    r.add_argument("config", help="configs/experiments/<name>.yaml")
    r.add_argument("--out", default="results", help="results root (default: results/)")
    r.add_argument("--device", help="training device of every run: cpu, cuda or auto")
    r.set_defaults(func=_run_experiment)


def _run_harmonize(args: argparse.Namespace) -> None:
    from stripes.generation.arrange import harmonize_song

    res = harmonize_song(
        args.checkpoint,
        args.midi,
        args.out,
        chords=args.chords,
        chord_track=args.chord_track,
        melody_track=args.melody_track,
        key=args.key,
    )
    for warning in res["warnings"]:
        print(f"warning: {warning}")
    print(f"arrangement: {res['midi']} ({res['steps']} steps)\npiano roll:  {res['png']}")


def _run_experiment(args: argparse.Namespace) -> None:
    from stripes.training.experiment import run_experiment

    paths = run_experiment(args.config, args.out, device=args.device)
    for key, path in paths.items():
        print(f"{key}: {path}")


def _run_demo(args: argparse.Namespace) -> None:
    from stripes.demo import run_demo

    print("stripes demo: melody harmonization of Bach chorales (music21 corpus, offline)")
    report = run_demo(args.out, fast=args.fast)
    print(f"\nfinished in {report['seconds']:.0f} s; example chorale #{report['example_song']}:")
    for name, value in report["metrics"].items():
        print(f"  {name:5s} {value:7.2f}")
    print(f"\nharmonization MIDI: {report['midi']}\npiano-roll PNG:     {report['png']}")
    print(f"report:             {report['report']}")


def _run_train(args: argparse.Namespace) -> None:
    from stripes.training.harmonization import HarmonizationConfig, train_harmonizer

    summary = train_harmonizer(HarmonizationConfig.from_yaml(args.config), args.out)
    print(
        f"trained: {summary['steps']} steps, val loss {summary['val_loss']:.4f}; "
        f"checkpoint {summary['checkpoint']}"
    )


def _run_evaluate(args: argparse.Namespace) -> None:
    from stripes.training.harmonization import evaluate_harmonizer

    result = evaluate_harmonizer(args.run, progress=True)
    for bars, res in result["test"].items():
        cells = ", ".join(f"{m} {v['mean']:.2f}" for m, v in res["summary"].items())
        print(f"test windows of {bars} bars: {cells}")
    print(f"written: {args.run}/evaluation.json")


# --- lm / generate ---------------------------------------------------------------------------
def _add_generation(sub: argparse._SubParsersAction) -> None:
    lm = sub.add_parser("lm", help="token language models: train, evaluate, compare PEs")
    lsub = lm.add_subparsers(dest="lm_command", required=True)
    t = lsub.add_parser("train", help="train a language model from an experiment YAML")
    t.add_argument("config", help="YAML with name/data/model/train/eval sections (configs/lm/)")
    t.add_argument("--out", help="run folder (default: the config's train.out_dir)")
    t.add_argument(
        "overrides",
        nargs="*",
        help="section.key=value, e.g. train.max_steps=100 "
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
    t.set_defaults(func=_run_lm_train)
    e = lsub.add_parser("evaluate", help="loss by position, PE probe, style, plots of a checkpoint")
    e.add_argument("--checkpoint", required=True, help="checkpoint written by `stripes lm train`")
    e.add_argument("--out", help="results folder (default: <run>/eval)")
    e.add_argument("--device", default="cpu")
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
    c.add_argument("--device", default="cpu", help="where evaluation runs (training: the config)")
    c.set_defaults(func=_run_lm_compare)

    g = sub.add_parser("generate", help="sample a MIDI continuation from a language model")
    g.add_argument("--checkpoint", required=True, help="checkpoint written by `stripes lm train`")
    g.add_argument("--prompt", help="MIDI file to continue (default: start from a bar line)")
    g.add_argument("--tokens", type=int, default=512, help="tokens to generate")
    g.add_argument("--top-p", type=float, default=0.9)
    g.add_argument("--temperature", type=float, default=1.2)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--no-grammar", action="store_true", help="sample without the REMI grammar")
    g.add_argument("--device", default="cpu")
    g.add_argument("--out", required=True, help="the .mid file to write")
    g.set_defaults(func=_run_generate)


def _run_lm_train(args: argparse.Namespace) -> None:
    from stripes.training.lm import train_language_model

    overrides = [*args.overrides, *args.more]
    run = train_language_model(args.config, out_dir=args.out, overrides=overrides)
    print(f"run folder: {run} (checkpoints in {run / 'checkpoints'})")


def _run_lm_evaluate(args: argparse.Namespace) -> None:
    from pathlib import Path

    from stripes.evaluation.lm import evaluate_language_model

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
    from stripes.training.lm_experiment import run_lm_comparison

    root = run_lm_comparison(
        args.configs, args.out, args.name, overrides=args.overrides, device=args.device
    )
    print((root / "results.md").read_text())
    print(f"results: {root}")


def _run_generate(args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from stripes.training.lm_experiment import generate_midi

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
