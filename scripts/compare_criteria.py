"""Which binarization criterion an onset harmonizer should be decoded by, judged on VALIDATION
windows only (the test windows stay unseen): for each rhythm-seeing criterion, the point it
chooses, then the validation scores (reference flavour, accompaniment), the rule's, and the rhythm
figures beside the original's. Writes ``<out>/criteria.json`` and ``criteria.md``.

    python scripts/compare_criteria.py RUN_DIR --out results/onset_criteria/pop909
"""

from __future__ import annotations

import json
from pathlib import Path

from _harmonizer_run import open_run

from stripes.evaluation.harmonization import score_harmonization
from stripes.evaluation.harmonization.rhythm import RHYTHM_FIGURES
from stripes.tasks.harmonization.data import task_corpus, task_layout, validation_windows
from stripes.tasks.harmonization.predict import collect_windows

CRITERIA = ("note_f1_accompaniment", "onset_frame_f1_accompaniment", "cs_accompaniment",
            "cs_rhythm_accompaniment")


def figure_text(choice: dict) -> str:
    """The figure decoder's share and core of a choice, or '-' for the per-cell decode."""
    share = choice.get("figure_share", 0.0)
    return f"{share}, {choice['figure_core']}" if share else "-"


def main() -> None:
    args, model, config = open_run(__doc__)
    corpus = task_corpus(config)
    windows = collect_windows(model, validation_windows(corpus, config))
    rows = {}
    for criterion in CRITERIA:
        res = score_harmonization([("val", windows)], task_layout(corpus), validation=windows,
                                  criterion=criterion, **config.binarization_grid())
        val = res["test"]["val"]
        ref = val["flavours"]["reference"]
        rows[criterion] = {
            "choice": {k: v for k, v in res["binarization"].items() if k != "grid"},
            "model": {m: v["mean"] for m, v in ref["model"]["accompaniment"].items()},
            "rule": {m: v["mean"] for m, v in ref["floors"]["rule"]["accompaniment"].items()},
            "sanity": val["sanity"]["model"]["pass_share"],
            "rhythm": {who: {f: val["rhythm"][who][f]["mean"] for f in RHYTHM_FIGURES}
                       for who in ("model", "original")},
            "rhythm_failed": val["rhythm"]["comparison"]["failed"]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "criteria.json").write_text(json.dumps(rows, indent=1))
    lines = [f"# Decoding criteria on the validation windows of `{config.data}` "
             f"({len(windows)} windows; test windows unseen)", "",
             "| criterion | threshold | onset thr. | strike cap | voice hold | "
             "figure (share, core) "
             "| CS | NDD | "
             "rule CS | rule NDD | sanity | " + " | ".join(RHYTHM_FIGURES)
             + " | rhythm checks failed |",
             "|---" * (12 + len(RHYTHM_FIGURES)) + "|"]
    for name, r in rows.items():
        c, m = r["choice"], r["rhythm"]["model"]
        lines.append(f"| {name} | {c['threshold']} | {c.get('onset_threshold', '-')} | "
                     f"{c.get('max_strikes') or '-'} | "
                     f"{c.get('voice_hold', '-') if any(c.get('voices', ())) else '-'} | "
                     f"{figure_text(c)} | "
                     f"{r['model']['CS']:.2f} | {r['model']['NDD']:.2f} | {r['rule']['CS']:.2f} | "
                     f"{r['rule']['NDD']:.2f} | {r['sanity']:.0%} | "
                     + " | ".join(f"{m[f]:.2f}" for f in RHYTHM_FIGURES)
                     + f" | {', '.join(r['rhythm_failed']) or 'none'} |")
    orig = next(iter(rows.values()))["rhythm"]["original"]
    lines.append("| *original* | | | | | | | | | | | "
                 + " | ".join(f"{orig[f]:.2f}" for f in RHYTHM_FIGURES) + " | |")
    voices = next(iter(rows.values()))["choice"].get("voices", [])
    if any(voices):
        lines += ["", f"Voices per slot {voices}: each voiced part sounds at most that many "
                  "pitches (`binarization.decode_voices`, docs/harmonization.md)."]
    (out / "criteria.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
