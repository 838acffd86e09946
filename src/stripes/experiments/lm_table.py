"""[SPE] Table 6 over training seeds: validation loss within and beyond the training length,
mean ± std per model, the paper's numbers beside, and its claims tested.

Input: the per-run results of :func:`stripes.tasks.lm.evaluate.evaluate_language_model`, each
with a ``seed`` (its training seed). A model is identified by its PE and gating (``ape``,
``sine_spe``, ``sine_spe_gated``, ``conv_spe``, ``conv_spe_gated``), so the paper's rows match
ours whatever the YAML names. The claims are the orderings [SPE] Table 6 shows (Sec. 3.2): each
gated SPE below APE beyond the training length and within it, and convSPE below sineSPE beyond
it. Each is tested over seeds by :func:`stripes.evaluation.stats.compare_samples` (a variance
test, then Student's or Welch's t-test, two-sided), Holm-corrected over the claims present. The
cells are the shared tables' (:mod:`stripes.experiments.tables`): mean ± std, bold the best.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from stripes.evaluation.stats import compare_samples, holm
from stripes.experiments.tables import format_cell, summarize_seeds

#: [SPE] Table 6 (Pop Piano, 24 layers, d_model 512, Performer, trained on 2048 tokens):
#: validation loss (nats per token) at the trained length / extrapolated beyond it.
PAPER_TABLE6 = {"ape": (1.721, 3.215), "sine_spe_gated": (1.694, 2.396),
                "conv_spe_gated": (1.685, 1.932)}
PAPER_SOURCE = "[SPE] Table 6: Pop Piano, 24 layers, d_model 512, trained length 2048"

#: (better, worse, column): "better has the lower loss in column" as [SPE] Table 6 shows.
CLAIMS = (("sine_spe_gated", "ape", "beyond"), ("conv_spe_gated", "ape", "beyond"),
          ("conv_spe_gated", "sine_spe_gated", "beyond"), ("sine_spe_gated", "ape", "within"),
          ("conv_spe_gated", "ape", "within"))
MODEL_NAMES = {"ape": "APE (sinusoidal)", "sine_spe": "sineSPE", "sine_spe_gated": "sineSPE, gated",
          "conv_spe": "convSPE", "conv_spe_gated": "convSPE, gated", "none": "no PE"}
COLUMNS = ("within", "beyond")


def model_key(result: Mapping) -> str:
    """``ape``, ``sine_spe``, ``sine_spe_gated``, ... of one run's results (PE plus gating)."""
    pe = "ape" if result["pe"] == "sinusoidal" else result["pe"]
    return pe + ("_gated" if (result.get("pe_params") or {}).get("gated") else "")


def losses_by_model(results: Sequence[Mapping]) -> dict[str, dict[str, dict[int, float]]]:
    """``{model: {"within"/"beyond": {seed: loss}}}`` in the order models first appear.

    Raises ValueError when one model has two results for the same seed (a table would count
    one run twice)."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for r in results:
        key, seed = model_key(r), int(r.get("seed", 0))
        cols = out.setdefault(key, {c: {} for c in COLUMNS})
        if seed in cols["within"]:
            raise ValueError(f"{key}: two results for seed {seed}")
        for c in COLUMNS:
            cols[c][seed] = float(r["loss"][c])
    return out


def claim_tests(losses: Mapping[str, Mapping[str, Mapping[int, float]]], *,
                alpha: float = 0.05) -> list[dict]:
    """Every claim of :data:`CLAIMS` whose two models are present, tested over seeds.

    Returns rows ``{"better", "worse", "column", "gap" (mean loss of better − worse, negative
    when the claim's direction holds), "n", "test", "p", "p_holm", "verdict"}``; verdict is
    "reproduced" (the claimed direction, Holm p < alpha), "opposite" (the other direction,
    Holm p < alpha), "not separable" or "one seed" (fewer than two seeds each: untestable).
    """
    rows = []
    for better, worse, col in CLAIMS:
        if better not in losses or worse not in losses:
            continue
        a = list(losses[better][col].values())
        b = list(losses[worse][col].values())
        row: dict[str, Any] = {"better": better, "worse": worse, "column": col,
               "gap": float(np.mean(a) - np.mean(b)), "n": (len(a), len(b)),
               "test": None, "p": float("nan")}
        if min(len(a), len(b)) >= 2:
            res = compare_samples(a, b, alpha=alpha)
            row.update(test=res.test, p=res.p_value)
        rows.append(row)
    for row, p in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["p_holm"] = float(p)
        if np.isnan(p):
            row["verdict"] = "one seed"
        elif p >= alpha:
            row["verdict"] = "not separable"
        else:
            row["verdict"] = "reproduced" if row["gap"] < 0 else "opposite"
    return rows


def seed_table_markdown(losses: Mapping[str, Mapping[str, Mapping[int, float]]],
                        claims: Sequence[Mapping], *, train_length: int, eval_length: int,
                        floors: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """The table (mean ± std over seeds, n, the paper's value beside), the context-free floors
    (:mod:`stripes.tasks.lm.floors`) below it, and the claims' tests."""
    head = "| model | seeds | loss ≤ L | loss > L | paper ≤ L | paper > L |"
    lines = [head, "|---|---|---|---|---|---|"]
    per_seed: dict[Hashable, Mapping[str, Sequence[float]]] = {
        key: {c: list(cols[c].values()) for c in COLUMNS} for key, cols in losses.items()}
    rows = summarize_seeds(per_seed, higher_is_better=dict.fromkeys(COLUMNS, False))
    for key, row in zip(losses, rows, strict=True):
        cells = [MODEL_NAMES.get(key, key), str(len(losses[key]["within"]))]
        cells += [format_cell(row["metrics"][c], decimals=3) for c in COLUMNS]
        cells += [f"{v:.3f}" for v in PAPER_TABLE6[key]] if key in PAPER_TABLE6 else ["–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    for name, f in (floors or {}).items():
        lines.append(f"| *{name} (no context)* | – | {f['within']:.3f} | {f['beyond']:.3f} "
                     "| – | – |")
    lines += ["", f"Validation loss in nats per token, L = {train_length} tokens, evaluated to "
              f"{eval_length}; mean ± sample std over training seeds (bold: lowest). Paper: "
              f"{PAPER_SOURCE}.", "", "| claim ([SPE] Table 6) | gap | test | p | p (Holm) | "
              "verdict |", "|---|---|---|---|---|---|"]
    for r in claims:
        where = "within L" if r["column"] == "within" else "beyond L"
        claim = f"{MODEL_NAMES[r['better']]} < {MODEL_NAMES[r['worse']]}, {where}"
        p = "–" if np.isnan(r["p"]) else f"{r['p']:.2g}"
        ph = "–" if np.isnan(r["p_holm"]) else f"{r['p_holm']:.2g}"
        lines.append(f"| {claim} | {r['gap']:+.3f} | {r['test'] or '–'} | {p} | {ph} | "
                     f"{r['verdict']} |")
    lines += ["", "gap: mean loss of the first model minus the second (negative: the claimed "
              "direction). Tests over seeds: Levene, then Student's or Welch's t (two-sided); "
              "Holm over the claims listed."]
    return "\n".join(lines)
