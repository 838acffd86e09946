"""The language-model results as files: ``results.json`` and a Markdown table ([SPE] Tables 6-7
and the Sec. 3.3 style metrics), and the loss curve of one evaluation for plotting."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def loss_curve(results: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(bucket centres [N], mean loss [N])`` of an evaluation's results, for plotting."""
    lbp = results["loss_by_position"]
    x = np.asarray(lbp["bucket_start"], float) + lbp["bucket"] / 2
    return x, np.asarray(lbp["loss"], float)


def pe_curves(results: dict) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """``{"translation_invariance": (window centres [W], error [W]), "monotonicity": ...}`` of
    an evaluation's identical-token probe, for plotting; None for results without them."""
    by_position = results.get("pe_metrics", {}).get("by_position")
    if by_position is None:
        return None
    x = (np.asarray(by_position["start"], float) + np.asarray(by_position["stop"], float)) / 2
    return {k: (x, np.asarray(by_position[k], float))
            for k in ("translation_invariance", "monotonicity")}


LM_COLUMNS = (("loss ≤ L", ("loss", "within")), ("loss > L", ("loss", "beyond")),
              ("TI ↓", ("pe_metrics", "translation_invariance")),
              ("MO ↓", ("pe_metrics", "monotonicity")),
              ("style OD", ("style", "onset_duration")), ("style TP", ("style", "time_pitch")),
              ("data OD", ("style", "data_onset_duration")),
              ("data TP", ("style", "data_time_pitch")))


def format_lm_table(results: Sequence[dict]) -> str:
    """A Markdown table, one row per evaluated model ([SPE] Tables 6-7 and Sec. 3.3 metrics)."""
    seeds = len({r.get("seed") for r in results}) > 1  # runs over seeds: say which
    head = ["model", *(["seed"] if seeds else []), "PE", "params", *[c for c, _ in LM_COLUMNS]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["name"], *([str(r.get("seed", "–"))] if seeds else []), r["pe"],
                 f"{r['parameters'] / 1e6:.2f}M"]
        for _, (section, key) in LM_COLUMNS:
            value = r.get(section, {}).get(key)
            cells.append("–" if value is None or np.isnan(value) else f"{value:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    lengths = sorted({(r["train_length"], r["eval_length"]) for r in results})
    notes = ", ".join(f"L = {a}, evaluated to {b}" for a, b in lengths)
    return "\n".join([*lines, "", f"Losses in nats per token ({notes}); TI/MO: translation-"
                      "invariance and monotonicity errors of the identical-token probe (Wang et "
                      "al. 2021 as [SPE] App. C; lower is better; SPE: the expected map over "
                      "realizations); OD/TP: style similarity of continuations to prompts (data: "
                      "the real continuation)."])


def write_results(results: Sequence[dict], out: str | Path) -> Path:
    """``results.json`` (the list) and ``results.md`` (:func:`format_lm_table`) in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(list(results), indent=1, default=_plain))
    (out / "results.md").write_text(format_lm_table(results) + "\n")
    return out


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
