"""``stripes train / evaluate / harmonize / experiment / demo``: melody harmonization."""

from __future__ import annotations

import argparse
import sys


def add_set_option(parser: argparse.ArgumentParser, example: str = "e.g. train.lr=3e-4") -> None:
    """``--set KEY=VALUE`` (repeatable): a dotted override of the config file, value as YAML."""
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help=f"override a config entry ({example}); "
                        "repeatable")


def add(sub: argparse._SubParsersAction) -> None:
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
    add_set_option(t)
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
    add_set_option(r, "e.g. base.train.epochs=1")
    r.set_defaults(func=_run_experiment)


def _run_harmonize(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.arrange import harmonize_song

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
    from stripes.tasks.harmonization.experiment import run_experiment

    paths = run_experiment(args.config, args.out, device=args.device, overrides=args.overrides)
    for key, path in paths.items():
        print(f"{key}: {path}")


def _run_demo(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.demo import run_demo

    print("stripes demo: melody harmonization of Bach chorales (music21 corpus, offline)")
    report = run_demo(args.out, fast=args.fast)
    print(f"\nfinished in {report['seconds']:.0f} s; example chorale #{report['example_song']}:")
    for name, value in report["metrics"].items():
        print(f"  {name:5s} {value:7.2f}")
    print(f"\nharmonization MIDI: {report['midi']}\npiano-roll PNG:     {report['png']}")
    print(f"report:             {report['report']}")


def _run_train(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.config import HarmonizationConfig
    from stripes.tasks.harmonization.train import train_harmonizer

    config = HarmonizationConfig.from_yaml(args.config, args.overrides)
    summary = train_harmonizer(config, args.out)
    print(
        f"trained: {summary['steps']} steps, val loss {summary['val_loss']:.4f}; "
        f"checkpoint {summary['checkpoint']}"
    )


def _run_evaluate(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.evaluate import evaluate_harmonizer

    result = evaluate_harmonizer(args.run, progress=True)
    b = result["binarization"]
    print(f"binarization ({b['criterion']} on validation): threshold {b['threshold']}, "
          f"merge gap {b['merge_gap']}")
    for bars, res in result["test"].items():
        ref = res["flavours"]["reference"]
        rows = {"model": ref["model"], **ref["floors"]}
        span = "whole pieces" if bars == "None" else f"{bars}-bar windows"
        print(f"test on {span} (n = {res['n']}, reference flavour, accompaniment):")
        for name, summary in rows.items():
            cells = ", ".join(f"{m} {v['mean']:.2f}" for m, v in summary["accompaniment"].items())
            print(f"  {name:>5}: {cells}")
        sanity = res["sanity"]["model"]
        print(f"  sanity: {sanity['pass_share']:.0%} of windows pass")
        if res["warning"]:
            print(res["warning"], file=sys.stderr)
    print(f"written: {args.run}/evaluation.json")
