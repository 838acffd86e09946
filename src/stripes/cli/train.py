"""``stripes train / evaluate / curves / export``: a harmonizer's run folder, from its recipe to
its weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stripes.cli.options import add_run_options, add_set_option, run_overrides


def add(sub: argparse._SubParsersAction) -> None:
    _add_train(sub)
    _add_evaluate(sub)
    _add_curves(sub)
    _add_export(sub)


def _add_train(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a melody harmonizer from a YAML task config "
                       "(on a prepared corpus: `stripes data prepare NAME` first)")
    t.add_argument("config", help="YAML with HarmonizationConfig fields")
    t.add_argument("--out", required=True, help="run folder (refused if it exists and is not "
                   "empty, unless --resume or --overwrite)")
    add_run_options(t)
    add_set_option(t)
    t.set_defaults(func=_run_train)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evaluate", help="binarize on validation and score the test set of a run")
    e.add_argument("run", help="run folder written by `stripes train`")
    e.set_defaults(func=_run_evaluate)


def _add_curves(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("curves", help="learning curves (validation loss, accompaniment CS) of "
                       "runs trained with train.keep_every")
    c.add_argument("runs", nargs="+", help="run folders")
    c.add_argument("--out", required=True, help="folder for curves.json and learning_curves.png")
    c.set_defaults(func=_run_curves)


def _add_export(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("export", help="write an evaluated run as a weights folder "
                       "(safetensors + config.json + log.csv)")
    w.add_argument("run", help="run folder (trained and evaluated)")
    w.add_argument("--out", required=True, help="weights folder, e.g. src/stripes/weights/pop909")
    w.add_argument("--overwrite", action="store_true",
                   help="replace the weights folder's files if they exist (default: refuse)")
    w.set_defaults(func=_run_export)


def _run_train(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.config import HarmonizationConfig
    from stripes.tasks.harmonization.train import train_harmonizer

    overrides = [*args.overrides, *run_overrides(args)]
    config = HarmonizationConfig.from_yaml(args.config, overrides)
    summary = train_harmonizer(config, args.out, resume=args.resume, overwrite=args.overwrite)
    val = summary["val_loss"]  # None when a resumed run stopped before validating again
    val = "not measured" if val is None else f"{val:.4f}"
    print(f"trained: {summary['steps']} steps, val loss {val}; checkpoint {summary['checkpoint']}")


def _run_evaluate(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.evaluate import evaluate_harmonizer

    result = evaluate_harmonizer(args.run)
    b = result["binarization"]
    onset = f", onset threshold {b['onset_threshold']}" if "onset_threshold" in b else ""
    if b.get("max_strikes"):
        onset += f", at most {b['max_strikes']} strikes at once"
    if any(b.get("voices", ())):
        onset += f", voices per slot {b['voices']} (hold {b['voice_hold']})"
    if b.get("figure_share"):
        onset += (f"; slots {b['figure_slots']} by the figure decoder (figure at "
                  f"{b['figure_share']} of the onset profile's peak, core at {b['figure_core']})")
    print(f"binarization ({b['criterion']} on validation): threshold {b['threshold']}, "
          f"merge gap {b['merge_gap']}{onset}")
    for bars, res in result["test"].items():
        _print_test(bars, res)
    print(f"written: {args.run}/evaluation.json")


def _print_test(bars: str, res: dict) -> None:
    """The reference accompaniment scores of one test length beside the floors, sanity and
    the rhythm figures."""
    from stripes.evaluation.harmonization.rhythm import RHYTHM_FIGURES, RHYTHM_TEXTS

    ref = res["flavours"]["reference"]
    rows = {"model": ref["model"], **ref["floors"]}
    span = "whole pieces" if bars == "None" else f"{bars}-bar windows"
    print(f"test on {span} (n = {res['n']}, reference flavour, accompaniment):")
    for name, summary in rows.items():
        cells = ", ".join(f"{m} {v['mean']:.2f}" for m, v in summary["accompaniment"].items())
        print(f"  {name:>7}: {cells}")
    sanity = res["sanity"]["model"]
    print(f"  sanity: {sanity['pass_share']:.0%} of windows pass")
    rhythm = res["rhythm"]
    print("  rhythm of the accompaniment (model / original / rule):")
    for figure in RHYTHM_FIGURES:
        cells = " / ".join(f"{rhythm[who][figure]['mean']:.2f}"
                           for who in ("model", "original", "rule"))
        print(f"    {RHYTHM_TEXTS[figure]}: {cells}")
    failed = rhythm["comparison"]["failed"]
    print(f"  rhythm checks: {'all pass' if not failed else 'failed ' + ', '.join(failed)}")
    if res["warning"]:
        print(res["warning"], file=sys.stderr)


def _run_curves(args: argparse.Namespace) -> None:
    from stripes.tasks.harmonization.curves import write_curves

    for run in args.runs:
        if not Path(run, "task.yaml").is_file():
            raise FileNotFoundError(f"{run}: not a run folder (no task.yaml)")
    paths = write_curves(args.runs, args.out)
    print(f"curves: {paths['json']}\nplot:   {paths['png']}")


def _run_export(args: argparse.Namespace) -> None:
    from stripes.arranger.pretrained import export_weights

    out = export_weights(args.run, args.out, overwrite=args.overwrite)
    size = (out / "model.safetensors").stat().st_size
    print(f"weights: {out} (model.safetensors {size / 1e6:.1f} MB, config.json, log.csv)")
