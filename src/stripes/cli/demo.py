"""``stripes demo``: the shipped harmonizers arrange a held-out chorale and a lead sheet."""

from __future__ import annotations

import argparse
import sys


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
    d.add_argument("--overwrite", action="store_true",
                   help="replace the demo's files (and its run folder) in --out if they exist")
    d.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    from stripes.arranger.demo import run_demo

    print("stripes demo: the shipped harmonizers arrange a held-out Bach chorale and a lead sheet "
          "(offline, CPU)")
    report = run_demo(args.out, fast=args.fast, train=args.train, lead_sheet=args.lead_sheet,
                      overwrite=args.overwrite)
    res = report["test_set"]
    ref = res["flavours"]["reference"]
    print(f"\nheld-out chorales (n = {res['n']}), accompaniment (alto+tenor, bass), "
          "reference metrics:")
    for name, summary in {"model": ref["model"], **ref["floors"]}.items():
        cells = ", ".join(f"{m} {v['mean']:6.2f}" for m, v in summary["accompaniment"].items())
        print(f"  {name:>7}: {cells}")
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
