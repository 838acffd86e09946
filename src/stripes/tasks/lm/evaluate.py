"""Evaluating a token language model ([SPE] Sec. 3.2-3.3, App. D; docs/math.md §6 "Generation").

- :func:`loss_by_position`: validation cross-entropy per token position, also beyond the training
  length ([SPE] Fig. 3), each stochastic-PE realization frozen (seeded) and the results averaged;
  :func:`split_losses` gives the two columns of [SPE] Table 6 (within / beyond the training
  length), :func:`bucket_losses` the curve.
- :func:`continuation_style`: style similarity (onset-duration, time-pitch) of grammar-constrained
  continuations to their prompts ([SPE] Sec. 3.3), and of the real continuations for reference.
- :func:`evaluate_language_model`: all of it, plus the identical-token probe ([SPE] App. C) and
  the plots (loss versus position, one attention map, learned SPE templates), written as
  ``results.json``, ``results.md`` (:func:`write_lm_results`, :func:`format_lm_table`) and PNG
  files.

Position convention: entry ``j`` of a per-position array is the loss of the token at position
``t = j + 1`` given the ``t`` tokens before it. "Within" a training length ``L`` means ``t < L``
(the targets a crop of ``L`` tokens trains), "beyond" means ``t >= L``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from stripes.evaluation.style import notes_from_score, style_similarity
from stripes.models import StripesTransformer
from stripes.tasks.lm.attention_maps import (
    attention_map,
    identical_token_metrics,
    is_stochastic,
    pe_templates,
)
from stripes.tasks.lm.config import LMEvalConfig
from stripes.tasks.lm.data import load_token_corpus
from stripes.tasks.lm.generate import grammar_constraint, sample_continuation
from stripes.tasks.lm.train import load_language_model, resolve_lm_checkpoint
from stripes.training.tokens import collate_tokens, token_nll


@torch.no_grad()
def position_loss_sums(model: StripesTransformer, windows: Sequence[Tensor], *, batch_size: int = 8,
                       code: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Summed next-token losses and token counts per position over windows of token ids.

    Args:
        windows: ``[T_i]`` long tensors (different lengths allowed; shorter ones count less).
        code: a frozen PE realization, shared by every batch.

    Returns:
        ``(sums [T-1] float64, counts [T-1] int64)``, ``T`` the longest window.
    """
    device = next(model.parameters()).device
    t = max(len(w) for w in windows)
    sums, counts = np.zeros(t - 1), np.zeros(t - 1, dtype=np.int64)
    for i in range(0, len(windows), batch_size):
        batch = collate_tokens([{"ids": w, "shift": 0} for w in windows[i : i + batch_size]])
        ids, mask = batch["ids"].to(device), batch["mask"].to(device)
        logits, _ = model(ids, code=code)
        nll, valid = token_nll(logits, ids, mask)
        n = nll.shape[1]
        sums[:n] += nll.double().sum(0).cpu().numpy()
        counts[:n] += valid.sum(0).cpu().numpy()
    return sums, counts


def loss_by_position(model: StripesTransformer, windows: Sequence[Tensor], *, realizations: int = 1,
                     seed: int = 0, batch_size: int = 8) -> dict[str, np.ndarray]:
    """:func:`position_loss_sums` averaged over frozen PE realizations (seeds ``seed + r``).

    Deterministic PEs are evaluated once. Returns ``{"sums": [T-1], "counts": [T-1],
    "per_realization": [R, T-1]}`` (the sums of each realization).
    """
    t = max(len(w) for w in windows)
    n = realizations if is_stochastic(model) else 1
    per = []
    for r in range(n):
        code = model.draw_pe_code(t, None, torch.Generator().manual_seed(seed + r))
        sums, counts = position_loss_sums(model, windows, batch_size=batch_size, code=code)
        per.append(sums)
    per_real = np.stack(per)
    return {"sums": per_real.mean(0), "counts": counts, "per_realization": per_real}


def split_losses(sums: np.ndarray, counts: np.ndarray, train_length: int) -> dict[str, float]:
    """Token-weighted mean loss within (``t < L``) and beyond (``t >= L``) the training length.

    Args:
        sums, counts: ``[T-1]`` per position (entry ``j`` is position ``t = j + 1``).

    Returns:
        ``{"within", "beyond", "all"}`` (NaN where no token counts).
    """
    t = np.arange(1, len(sums) + 1)

    def mean(keep: np.ndarray) -> float:
        n = counts[keep].sum()
        return float(sums[keep].sum() / n) if n else float("nan")

    return {"within": mean(t < train_length), "beyond": mean(t >= train_length),
            "all": mean(np.ones_like(t, dtype=bool))}


def bucket_losses(sums: np.ndarray, counts: np.ndarray, bucket: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean loss per bucket of ``bucket`` positions: bucket ``k`` holds ``k·b <= t < (k+1)·b``.

    Returns:
        ``(starts [N], losses [N], counts [N])``; a bucket without tokens has loss NaN.
    """
    t = np.arange(1, len(sums) + 1)
    index = t // bucket
    n = int(index.max()) + 1
    s = np.bincount(index, weights=sums, minlength=n)
    c = np.bincount(index, weights=counts, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        losses = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    return np.arange(n) * bucket, losses, c.astype(np.int64)


def prompt_at_bar(ids: np.ndarray, max_tokens: int, bar_id: int) -> np.ndarray:
    """The longest prefix of at most ``max_tokens`` ids that ends just before a ``Bar`` token."""
    bars = np.flatnonzero(np.asarray(ids[: max_tokens + 1]) == bar_id)
    bars = bars[bars > 0]
    return ids[: int(bars[-1])] if len(bars) else ids[:max_tokens]


def notes_of(tokenizer, ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """``[N, 3]`` (onset_beats, duration_beats, pitch) of decoded token ids."""
    from stripes.music.tokenizer import ids_to_score

    return notes_from_score(ids_to_score(tokenizer, [int(i) for i in ids]))


def new_notes(full: np.ndarray, prefix: np.ndarray) -> np.ndarray:
    """Notes of ``full [N, 3]`` not in ``prefix [M, 3]`` (multiset difference): the continuation."""
    left = Counter(map(tuple, prefix.round(6).tolist()))
    keep = []
    for row in full.round(6).tolist():
        if left[tuple(row)] > 0:
            left[tuple(row)] -= 1
        else:
            keep.append(row)
    return np.asarray(keep, dtype=np.float64).reshape(-1, 3)


def continuation_style(model: StripesTransformer, tokenizer, pieces: Sequence[np.ndarray],
                       cfg: LMEvalConfig) -> dict[str, Any]:
    """Style similarity to the prompt of sampled continuations, and of the real ones.

    The prompt of piece i is its longest bar-aligned prefix of at most ``cfg.prompt_tokens``;
    ``cfg.continuation_tokens`` are sampled (grammar-constrained, seed ``cfg.seed + i``).

    Returns:
        ``{"onset_duration", "time_pitch", "data_onset_duration", "data_time_pitch", "prompts"}``:
        means over prompts (NaN-skipping), ``data_*`` for the corpus's own continuation.
    """
    allowed, bar_id = grammar_constraint(tokenizer), tokenizer.vocab["Bar_None"]
    rows: dict[str, list[dict[str, float]]] = {"model": [], "data": []}
    for i, piece in enumerate(pieces[: cfg.prompts]):
        prompt = prompt_at_bar(piece, cfg.prompt_tokens, bar_id)
        out = sample_continuation(model, prompt, cfg.continuation_tokens, allowed=allowed,
                                  temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed + i)
        ref = notes_of(tokenizer, prompt)
        real = piece[: len(prompt) + cfg.continuation_tokens]
        for who, ids in (("model", out.tolist()), ("data", real)):
            rows[who].append(style_similarity(new_notes(notes_of(tokenizer, ids), ref), ref))
    out_dict: dict[str, Any] = {"prompts": len(rows["model"])}
    for who, prefix in (("model", ""), ("data", "data_")):
        for name in ("onset_duration", "time_pitch"):
            vals = np.array([r[name] for r in rows[who]], dtype=np.float64)
            finite = vals[np.isfinite(vals)]
            out_dict[prefix + name] = float(finite.mean()) if finite.size else float("nan")
    return out_dict


def evaluate_language_model(checkpoint: str | Path, out_dir: str | Path | None = None, *,
                            eval_config: LMEvalConfig | None = None, corpus: str | None = None,
                            device: str = "cpu", style: bool = True) -> dict[str, Any]:
    """Evaluate a checkpoint of :func:`stripes.tasks.lm.train.train_language_model`.

    Args:
        checkpoint: the ``.pt`` file (or its run folder). out_dir: where results go (default
            ``<run>/eval``).
        eval_config: overrides the experiment's ``eval`` section. corpus: overrides its corpus.
        style: sample continuations for the style metrics (the slowest part).

    Returns:
        The results dict also written to ``results.json`` (plus ``results.md`` and PNG plots).
    """
    checkpoint = resolve_lm_checkpoint(checkpoint)
    model, exp = load_language_model(checkpoint, device)
    if exp is None:
        raise ValueError(f"{checkpoint}: no experiment config inside (not from `stripes lm train`)")
    cfg, data = eval_config or exp.eval, exp.data
    out = Path(out_dir) if out_dir else checkpoint.parent.parent / "eval"
    tokens = load_token_corpus(corpus or data.corpus)
    tokenizer = tokens.tokenizer()
    pieces = tokens.pieces("val")[: data.max_val_pieces]
    windows = [torch.from_numpy(p[: data.eval_length]) for p in pieces if len(p) >= 2]
    losses = loss_by_position(model, windows, realizations=cfg.realizations, seed=cfg.seed,
                              batch_size=cfg.batch_size)
    starts, curve, counts = bucket_losses(losses["sums"], losses["counts"], cfg.bucket)
    per_real = [split_losses(s, losses["counts"], data.train_length)
                for s in losses["per_realization"]]
    results: dict[str, Any] = {
        "name": exp.name, "checkpoint": str(checkpoint), "pe": exp.model.pe.kind,
        "pe_params": exp.model.pe.params, "attention": exp.model.attention.kind,
        "parameters": model.num_parameters(), "train_length": data.train_length,
        "eval_length": data.eval_length, "val_windows": len(windows),
        "loss": split_losses(losses["sums"], losses["counts"], data.train_length),
        "loss_std_over_realizations": {k: float(np.std([r[k] for r in per_real]))
                                       for k in ("within", "beyond")},
        "loss_by_position": {"bucket_start": starts.tolist(), "loss": curve.tolist(),
                             "tokens": counts.tolist(), "bucket": cfg.bucket},
        "pe_metrics": identical_token_metrics(
            model, cfg.probe_length, tokenizer.vocab.get(cfg.probe_token, 0),
            realizations=cfg.realizations, seed=cfg.seed, window=cfg.bucket),
        "eval_config": asdict(cfg),
    }
    if style and cfg.prompts > 0:
        results["style"] = continuation_style(model, tokenizer, pieces, cfg)
    results["files"] = _write_plots(model, results, windows, cfg, out)
    write_lm_results([results], out)
    return results


def _write_plots(model, results: dict, windows: Sequence[Tensor], cfg: LMEvalConfig,
                 out: Path) -> dict[str, str]:
    """Loss-versus-position, PE-errors-versus-position, attention-map and (for SPE) template
    plots; returns their paths."""
    from stripes.analysis.plots import (
        plot_attention_map,
        plot_loss_by_position,
        plot_pe_metrics_by_position,
        plot_templates,
    )

    files = {"loss_by_position": str(plot_loss_by_position(
        {results["name"]: loss_curve(results)}, out / "loss_by_position.png",
        train_length=results["train_length"]))}
    curves = pe_curves(results)
    if curves is not None:
        files["pe_metrics_by_position"] = str(plot_pe_metrics_by_position(
            {results["name"]: curves}, out / "pe_metrics_by_position.png",
            train_length=results["train_length"]))
    ids = windows[0][: cfg.attention_length][None].to(next(model.parameters()).device)
    code = model.draw_pe_code(ids.shape[1], None, torch.Generator().manual_seed(cfg.seed))
    amap = attention_map(model, ids, cfg.attention_layer, code)[0].cpu().numpy()
    name = f"attention_layer{cfg.attention_layer}_head{cfg.attention_head}.png"
    files["attention_map"] = str(plot_attention_map(
        amap, out / name, head=cfg.attention_head, log_scale=bool((amap > 0).any()),
        title=f"{results['name']}: layer {cfg.attention_layer}, head {cfg.attention_head}"))
    templates = pe_templates(model, min(results["eval_length"], 256), head=cfg.attention_head,
                             layer=cfg.attention_layer)
    if templates is not None:
        files["templates"] = str(plot_templates({results["pe"]: templates}, out / "templates.png"))
    return files


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


def write_lm_results(results: Sequence[dict], out: str | Path) -> Path:
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
