"""``stripes train / evaluate / harmonize / experiment / demo``: melody harmonization."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_set_option(parser: argparse.ArgumentParser, example: str = "e.g. train.lr=3e-4") -> None:
    """``--set KEY=VALUE`` (repeatable): a dotted override of the config file, value as YAML."""
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help=f"override a config entry ({example}); "
                        "repeatable")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, and ``--resume`` / ``--overwrite`` for an existing run folder."""
    parser.add_argument("--device", help="training device: cpu, cuda, cuda:N or auto "
                        "(default: the config's run.device, cpu)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run in --out from its checkpoints/last.pt")
    mode.add_argument("--overwrite", action="store_true",
                      help="replace the run in --out (its run files are deleted first)")


def add(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "demo",
        help="the main job: the shipped harmonizers arrange a held-out chorale and the example "
        "lead sheet (offline, CPU, about two minutes)",
    )
    d.add_argument("--out", default="outputs/demo", help="output folder")
    d.add_argument("--train", action="store_true",
                   help="train the chorale harmonizer from scratch first (~15 min)")
    d.add_argument("--lead-sheet", help="folder with melody.mid and chords.txt "
                   "(default: examples/ode_to_joy)")
    d.add_argument("--fast", action="store_true", help="tiny run (seconds), for tests")
    d.set_defaults(func=_run_demo)

    t = sub.add_parser("train", help="train a melody harmonizer from a YAML task config")
    t.add_argument("config", help="YAML with HarmonizationConfig fields")
    t.add_argument("--out", required=True, help="run folder (refused if it exists and is not "
                   "empty, unless --resume or --overwrite)")
    add_run_options(t)
    add_set_option(t)
    t.set_defaults(func=_run_train)

    e = sub.add_parser("evaluate", help="binarize on validation and score the test set of a run")
    e.add_argument("run", help="run folder written by `stripes train`")
    e.set_defaults(func=_run_evaluate)

    c = sub.add_parser("curves", help="learning curves (validation loss, accompaniment CS) of "
                       "runs trained with train.keep_every")
    c.add_argument("runs", nargs="+", help="run folders")
    c.add_argument("--out", required=True, help="folder for curves.json and learning_curves.png")
    c.set_defaults(func=_run_curves)
    w = sub.add_parser("export", help="write an evaluated run as a weights folder "
                       "(safetensors + config.json + log.csv)")
    w.add_argument("run", help="run folder (trained and evaluated)")
    w.add_argument("--out", required=True, help="weights folder, e.g. src/stripes/weights/pop909")
    w.set_defaults(func=_run_export)
    h = sub.add_parser("harmonize", help="arrange a melody MIDI with a trained harmonizer")
    h.add_argument("midi", help="MIDI file holding the melody (4/4)")
    h.add_argument("--checkpoint", default="pop909",
                   help="harmonizer: a shipped name (pop909, chorales), a weights folder, a run "
                        "folder or a checkpoint file in one (default: pop909)")
    src = h.add_mutually_exclusive_group(required=True)
    src.add_argument("--chords", help="chords file: 'label [pitch classes] bass beats' per line")
    src.add_argument("--chord-track", help="MIDI track of block chords (one chord per beat)")
    h.add_argument("--melody-track", help="melody track name (default: MELODY or the only one)")
    h.add_argument("--key", default="C:maj", help="key of the song, e.g. 'Gb:maj' (KEY context)")
    h.add_argument("--out", default="harmonized.mid",
                   help="output MIDI (a WAV and a PNG are written beside)")
    h.set_defaults(func=_run_harmonize)

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


def _run_curves(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.curves import write_curves

    for run in args.runs:
        if not Path(run, "task.yaml").is_file():
            raise FileNotFoundError(f"{run}: not a run folder (no task.yaml)")

    paths = write_curves(args.runs, args.out)
    print(f"curves: {paths['json']}\nplot:   {paths['png']}")


def _run_export(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.pretrained import export_weights

    out = export_weights(args.run, args.out)
    size = (out / "model.safetensors").stat().st_size
    print(f"weights: {out} (model.safetensors {size / 1e6:.1f} MB, config.json, log.csv)")


def _run_harmonize(args: argparse.Namespace) -> None:
    from stripes.cli.checks import output_file
    from stripes.tasks.harmonization.arrange import harmonize_song

    output_file(args.out, (".mid", ".midi"))
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
        print(f"warning: {warning}", file=sys.stderr)
    print(f"arrangement: {res['midi']} ({res['steps']} steps at {res['qpm']:g} qpm)\n"
          f"audio:       {res['wav']} ({res['renderer']}, {res['wav_stats']['seconds']:.1f} s)\n"
          f"piano roll:  {res['png']}")


def _run_experiment(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.experiment import run_experiment

    paths = run_experiment(args.config, args.out, device=args.device, overrides=args.overrides)
    for key, path in paths.items():
        print(f"{key}: {path}")


def _run_experiment_tables(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.experiment import write_experiment_tables

    paths = write_experiment_tables(args.config, args.out, overrides=args.overrides)
    for key, path in paths.items():
        print(f"{key}: {path}")
    for line in paths["summary"].read_text().splitlines():
        if line.startswith("- PARTIAL"):  # the runs still missing, as the summary lists them
            print(line.removeprefix("- "))


def _run_demo(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.demo import run_demo

    print("stripes demo: the shipped harmonizers arrange a held-out Bach chorale and a lead sheet "
          "(offline, CPU)")
    report = run_demo(args.out, fast=args.fast, train=args.train, lead_sheet=args.lead_sheet)
    res = report["test_set"]
    ref = res["flavours"]["reference"]
    print(f"\nheld-out chorales (n = {res['n']}), accompaniment (alto+tenor, bass), "
          "reference metrics:")
    for name, summary in {"model": ref["model"], **ref["floors"]}.items():
        cells = ", ".join(f"{m} {v['mean']:6.2f}" for m, v in summary["accompaniment"].items())
        print(f"  {name:>5}: {cells}")
    print(f"  sanity: {res['sanity']['model']['pass_share']:.0%} of chorales pass")
    files = report["files"]
    print(f"\n{report['chorale']}: {files['midi']}, {files['wav']} "
          f"({files['wav_stats']['seconds']:.0f} s), {files['png']}")
    if "lead_sheet" in report:
        sheet = report["lead_sheet"]
        print(f"lead sheet: {sheet['midi']}, {sheet['wav']}, {sheet['png']}")
    for warning in report["warnings"]:
        print(warning, file=sys.stderr)
    print(f"report: {report['report']} ({report['seconds']:.0f} s)")


def _run_train(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.config import HarmonizationConfig
    from stripes.tasks.harmonization.train import train_harmonizer

    overrides = [*args.overrides, *([f"run.device={args.device}"] if args.device else [])]
    config = HarmonizationConfig.from_yaml(args.config, overrides)
    summary = train_harmonizer(config, args.out, resume=args.resume, overwrite=args.overwrite)
    val = summary["val_loss"]  # None when a resumed run stopped before validating again
    val = "not measured" if val is None else f"{val:.4f}"
    print(f"trained: {summary['steps']} steps, val loss {val}; checkpoint {summary['checkpoint']}")


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
