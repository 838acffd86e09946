"""The identical-token probe of every run of an `lm compare --seeds` folder, beyond the
training length ([SPE] App. C resolves its errors by query position; the runs' own evaluation
probes 128 tokens, inside L).

Usage (from the repository root, after `scripts/run_spe_table6.sh`; needs the runs'
checkpoints, which are not committed):

    python scripts/probe_lm_runs.py results/lm_spe_table6 [--length 512] [--realizations 8]

Writes ``pe_probe.json``, ``pe_probe.md`` (TI and MO errors, lower is better, over query windows
inside and beyond L: mean ± std over seeds) and ``pe_probe_by_position.png`` (mean over seeds)
into that folder. Stochastic PEs are scored on their expected map over ``--realizations``
frozen draws (docs/metrics.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from stripes.analysis.plots import plot_pe_metrics_by_position
from stripes.tasks.lm.attention_maps import identical_token_metrics
from stripes.tasks.lm.train import load_checkpoint_tokenizer, load_language_model

KEYS = ("translation_invariance", "monotonicity")


def probe_run(ckpt: Path, length: int, realizations: int, window: int) -> dict:
    """``{"name", "seed", "train_length", "by_position", "within", "beyond"}`` of one run."""
    model, exp = load_language_model(ckpt)
    token = load_checkpoint_tokenizer(ckpt).vocab.get(exp.eval.probe_token, 0)
    res = identical_token_metrics(model, length, token, realizations=realizations,
                                  seed=exp.eval.seed, window=window)
    pos = res["by_position"]
    inside = np.asarray(pos["stop"]) <= exp.data.train_length
    split = {side: {k: float(np.nanmean(np.asarray(pos[k])[keep])) for k in KEYS}
             for side, keep in (("within", inside), ("beyond", ~inside))}
    return {"name": exp.name, "seed": exp.train.seed, "train_length": exp.data.train_length,
            "by_position": pos, **split}


def markdown(runs: list[dict], length: int, realizations: int) -> str:
    """Mean ± std over seeds per model, within / beyond L, both errors."""
    lines = ["| model | seeds | TI ↓ ≤ L | TI ↓ > L | MO ↓ ≤ L | MO ↓ > L |",
             "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["name"] for r in runs):
        rs = [r for r in runs if r["name"] == name]
        cells = []
        for key in KEYS:
            for side in ("within", "beyond"):
                x = np.array([r[side][key] for r in rs])
                cells.append(f"{x.mean():.3f} ± {x.std(ddof=1):.3f}" if len(x) > 1
                             else f"{x[0]:.3f} (n=1)")
        lines.append(f"| {name} | {len(rs)} | " + " | ".join(cells) + " |")
    lines += ["", f"Identical-token probe of {length} tokens (L = {runs[0]['train_length']}); "
              "errors per window of query positions (all their keys), averaged over the windows "
              "inside / beyond L, over heads and layers; SPE: the expected map over "
              f"{realizations} frozen draws. TI: share of the map's variance the lag does not "
              "explain; MO: share of same-side key pairs where the farther key gets more "
              "attention (docs/metrics.md). Mean ± sample std over training seeds."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="an `lm compare --seeds` results folder")
    ap.add_argument("--length", type=int, default=512, help="probe tokens (default 512)")
    ap.add_argument("--realizations", type=int, default=8, help="SPE draws (default 8)")
    ap.add_argument("--window", type=int, default=64, help="query positions per window")
    args = ap.parse_args()
    ckpts = sorted(args.folder.glob("runs/*/seed*/checkpoints/best.pt"))
    if not ckpts:
        raise SystemExit(f"{args.folder}: no runs/<model>/seed<k>/checkpoints/best.pt")
    runs = [probe_run(c, args.length, args.realizations, args.window)
            for c in tqdm(ckpts, desc="probe", unit="run")]
    (args.folder / "pe_probe.json").write_text(json.dumps(runs, indent=1))
    (args.folder / "pe_probe.md").write_text(markdown(runs, args.length, args.realizations)
                                             + "\n")
    curves = {}
    for name in dict.fromkeys(r["name"] for r in runs):
        rs = [r for r in runs if r["name"] == name]
        pos = rs[0]["by_position"]
        x = (np.asarray(pos["start"]) + np.asarray(pos["stop"])) / 2
        curves[name] = {k: (x, np.mean([r["by_position"][k] for r in rs], axis=0)) for k in KEYS}
    plot_pe_metrics_by_position(curves, args.folder / "pe_probe_by_position.png",
                                train_length=runs[0]["train_length"],
                                title=f"identical-token probe, mean over seeds ({args.length} "
                                      "tokens)")
    print((args.folder / "pe_probe.md").read_text())


if __name__ == "__main__":
    main()
