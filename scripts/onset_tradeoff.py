"""How an onset harmonizer's decode trades CS against the pianist's rhythm: for a few fixed
decodes (and one draw of the onsets at their unweighted odds), the accompaniment's CS and NDD
beside the rule's, and its rhythm figures beside the original's, on the validation windows and
every test length. A diagnosis, not a choice: the shipped decode is chosen on validation by the
run's criterion (``stripes evaluate``). Writes ``<out>/tradeoff.json`` and ``tradeoff.md``.

    python scripts/onset_tradeoff.py RUN_DIR --out results/onset_criteria/pop909
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _harmonizer_run import open_run

from stripes.evaluation.harmonization import score_windows
from stripes.evaluation.harmonization.rhythm import RHYTHM_FIGURES
from stripes.tasks.harmonization.data import evaluation_sets
from stripes.tasks.harmonization.predict import collect_windows

#: (label, threshold, onset threshold, strike cap)
DECODES = (("dense", 0.2, 0.15, 0), ("note-F1-like", 0.2, 0.2, 4), ("medium", 0.3, 0.2, 3),
           ("sparse", 0.2, 0.3, 3))


def drawn(windows: list[dict], onset_weight: float, seed: int = 0) -> list[dict]:
    """The windows with their onsets drawn once at the unweighted odds (the model is trained
    with strikes weighing ``onset_weight``, which multiplies the odds by that weight), as
    probabilities 0 or 1, so that any onset threshold keeps exactly the drawn strikes."""
    rng = np.random.default_rng(seed)
    out = []
    for w in windows:
        p = w["onset_probs"]
        calibrated = p / (p + onset_weight * (1 - p))
        out.append({**w, "onset_probs": (rng.random(p.shape) < calibrated).astype(float)})
    return out


def row(label: str, windows: list[dict], choice: dict, layout) -> dict:
    res = score_windows(windows, choice, layout)
    ref = res["flavours"]["reference"]
    return {"decode": label, **{k: v for k, v in choice.items() if k != "merge_gap"},
            "CS": ref["model"]["accompaniment"]["CS"]["mean"],
            "NDD": ref["model"]["accompaniment"]["NDD"]["mean"],
            "rule_CS": ref["floors"]["rule"]["accompaniment"]["CS"]["mean"],
            "rule_NDD": ref["floors"]["rule"]["accompaniment"]["NDD"]["mean"],
            "rhythm": {f: res["rhythm"]["model"][f]["mean"] for f in RHYTHM_FIGURES},
            "original": {f: res["rhythm"]["original"][f]["mean"] for f in RHYTHM_FIGURES}}


def main() -> None:
    args, model, config = open_run(__doc__)
    sets = evaluation_sets(config)
    splits = {"validation": sets.validation, **{f"test {k} bars": ds
                                                 for k, ds in sets.tests.items()}}
    rows = {}
    for name, ds in splits.items():
        windows = collect_windows(model, ds)
        rows[name] = [row(label, windows, {"threshold": t, "onset_threshold": o,
                                           "max_strikes": c, "merge_gap": 0}, sets.layout)
                      for label, t, o, c in DECODES]
        rows[name].append(row("drawn at the unweighted odds", drawn(windows, config.onset_weight),
                              {"threshold": 0.3, "onset_threshold": 0.5, "max_strikes": 0,
                               "merge_gap": 0}, sets.layout))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tradeoff.json").write_text(json.dumps(rows, indent=1))
    lines = [f"# Decode vs rhythm, `{args.run}` ({config.data})", "",
             "| split | decode | frame thr. | onset thr. | cap | CS (rule) | NDD (rule) | "
             + " | ".join(RHYTHM_FIGURES) + " |", "|---" * (7 + len(RHYTHM_FIGURES)) + "|"]
    for name, rs in rows.items():
        for r in rs:
            lines.append(f"| {name} | {r['decode']} | {r['threshold']} | {r['onset_threshold']} | "
                         f"{r['max_strikes'] or '-'} | {r['CS']:.2f} ({r['rule_CS']:.2f}) | "
                         f"{r['NDD']:.2f} ({r['rule_NDD']:.2f}) | "
                         + " | ".join(f"{r['rhythm'][f]:.2f}" for f in RHYTHM_FIGURES) + " |")
        lines.append(f"| {name} | *original* | | | | | | "
                     + " | ".join(f"{rs[0]['original'][f]:.2f}" for f in RHYTHM_FIGURES) + " |")
    (out / "tradeoff.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
