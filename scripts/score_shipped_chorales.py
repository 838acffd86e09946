"""The shipped chorale harmonizer on the held-out chorales of the current cache, beside the floors.

    STRIPES_CACHE=/tmp/chorale_cache python scripts/score_shipped_chorales.py --out scores.json

Scores ``stripes/weights/chorales`` (its binarization as shipped, nothing retrained) on the test
chorales of the prepared chorale cache (``stripes data prepare chorales`` makes it), beside the
empty, copy, rule and read-out floors, reference flavour, accompaniment (alto+tenor, bass). The
weights' own split may differ from the cache's: the test chorales the weights were trained or
validated on are counted, and every score is also given on the test chorales the weights never
saw (``unseen``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stripes.arranger.pretrained import load_pretrained
from stripes.evaluation.harmonization import METRICS, score_harmonization
from stripes.tasks.harmonization.data import (
    build_dataset,
    prepare_task_corpus,
    task_corpus,
    task_layout,
)
from stripes.tasks.harmonization.predict import collect_windows


def table(res: dict, group: str = "accompaniment") -> list[str]:
    """Markdown rows: model and floors, reference flavour, mean of each metric."""
    ref = res["flavours"]["reference"]
    rows = {"model": ref["model"], **ref["floors"]}
    head = ["| | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    return head + [f"| {name} | " + " | ".join(f"{s[group][m]['mean']:.2f}" for m in METRICS)
                   + " |" for name, s in rows.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="write the scores as JSON here")
    args = parser.parse_args()
    model, cfg, meta = load_pretrained("chorales")
    prepare_task_corpus(cfg, progress=False)
    corpus = task_corpus(cfg)
    test = build_dataset(corpus, cfg, "test", None, cap=cfg.max_eval_windows)
    windows = collect_windows(model, test)
    names = [str(corpus.arrays["names"][w["song"]]) for w in windows]
    seen = set(meta["split"]["train"]) | set(meta["split"]["val"])
    unseen = [w for w, n in zip(windows, names, strict=True) if n not in seen]
    layout = task_layout(corpus)
    scored = score_harmonization([("all_test", windows), ("unseen", unseen)], layout,
                                 binarization=meta["binarization"])["test"]
    out = {"cache": str(corpus.manifest.get("version")), "test_chorales": len(windows),
           "seen_by_the_weights": sorted({n for n in names if n in seen}),
           "parsing": {k: corpus.manifest["parsing"][k] for k in ("kept", "tune_groups")},
           "scores": {k: {"n": v["n"], "reference": v["flavours"]["reference"]}
                      for k, v in scored.items()}}
    for name, res in scored.items():
        print(f"\n{name}: n = {res['n']} chorales, reference flavour, accompaniment")
        print("\n".join(table(res)))
    print(f"\n{len(out['seen_by_the_weights'])} of {len(windows)} test chorales were in the "
          "weights' train or validation split")
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
