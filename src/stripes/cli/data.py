"""``stripes data``: prepare, inspect and analyse the music corpora."""

from __future__ import annotations

import argparse


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="prepare and inspect the music corpora (POP909, Bach chorales)")
    dsub = p.add_subparsers(dest="data_command", required=True)
    _add_prepare(dsub)
    _add_info(dsub)
    _add_mi(dsub)


def _add_prepare(dsub: argparse._SubParsersAction) -> None:
    prep = dsub.add_parser("prepare", help="parse a corpus once into the cache (training and "
                           "evaluation read it from there)")
    psub = prep.add_subparsers(dest="corpus", required=True)
    pop = psub.add_parser("pop909", help="POP909 + structure labels + [S24] alignment and split")
    pop.add_argument(
        "--root",
        default=None,
        help="folder with pop909/, pop909_structure/, pop909_alignment/ "
        "(default: $STRIPES_DATA)",
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


def _add_info(dsub: argparse._SubParsersAction) -> None:
    info = dsub.add_parser("info", help="counts, label vocabularies, alignment, context statistics")
    info.add_argument("corpus", help="pop909, chorales, or a prepared cache folder")
    info.add_argument("--bars", type=int, default=None,
                      help="window length in bars for the statistics, >= 1 (default: the "
                      "corpus's own)")
    info.add_argument("--json", action="store_true", help="print the raw JSON")
    info.set_defaults(func=_run_data_info)


def _add_mi(dsub: argparse._SubParsersAction) -> None:
    mi = dsub.add_parser("mi", help="content-context mutual information ([ST] Table I)")
    mi.add_argument("corpus", help="pop909, chorales, or a prepared cache folder")
    mi.add_argument("--contexts", nargs="+", default=None,
                    help="structure contexts (default: time rep key bin chord phrase)")
    mi.add_argument("--split", default="train", choices=["train", "val", "test", "all"])
    mi.add_argument("--bars", type=int, default=16, help="window length (0: whole pieces)")
    mi.add_argument("--content", default="pitch", choices=["pitch", "pitch_class"])
    mi.add_argument("--json", action="store_true", help="print the raw JSON")
    mi.set_defaults(func=_run_data_mi)


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

    info = describe_corpus(args.corpus, bars="default" if args.bars is None else args.bars,
                           progress=True)
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


def _run_data_mi(args: argparse.Namespace) -> None:
    import json

    from stripes.analysis.content_context import (
        DEFAULT_CONTEXTS,
        content_context_mi,
        rows_as_dicts,
    )

    if args.bars < 0:
        raise ValueError(f"--bars must be >= 1 (0: whole pieces), got {args.bars}")
    rows = content_context_mi(args.corpus, args.contexts or DEFAULT_CONTEXTS,
                              split=None if args.split == "all" else args.split,
                              bars=args.bars or None, content=args.content)
    if args.json:
        print(json.dumps(rows_as_dicts(rows), indent=1))
        return
    print(f"I({args.content}; context) in nats, note onsets of the target tracks, "
          f"{args.split} split, windows of {args.bars or 'whole pieces'} bars")
    print(f"  {'context':<8} {'MI':>7} {'bias':>7} {'MI-bias':>8} {'values':>7} {'onsets':>9}")
    for r in rows:
        print(f"  {r.context:<8} {r.mi:7.4f} {r.bias:7.4f} {r.corrected:8.4f} "
              f"{r.context_values:7d} {r.n:9d}")
