"""Explicit attention maps of a trained model, computed offline from one layer's q/k.

The fast paths never form the ``T×T`` attention; for plots and for the identical-token probe
([SPE] Sec. 3.2, App. C) the layer's own inspection view gives it: the layer's input is captured
by a forward pre-hook during a normal forward, then
:meth:`~stripes.attention.Attention.scores` computes

- softmax: logits ``q'_m·k'_n / √D'`` (plus the PE's bias for relative-bias PEs), map ``exp``;
- linear: ``a_mn = φ(q'_m)·φ(k'_n)`` with the layer's feature map ``phi``;

``-inf`` logits / zeros where the causal mask hides a key. Row-normalising the map and applying
it to ``v`` gives the layer's attention output (tests check it against the layer itself).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import Tensor

from stripes.evaluation.pe_metrics import (
    pe_metrics,
    pe_metrics_by_position,
    probe_attention_map,
)
from stripes.models import StripesTransformer


def layer_input(model: StripesTransformer, ids: Tensor, layer: int, code: list | None = None,
                positions: Tensor | None = None) -> tuple[Tensor, dict[str, Any]]:
    """The input ``x [B, T, d_model]`` of attention layer ``layer`` during a forward of ``ids``
    and the keyword arguments the layer received (``positions``, ``code``, ``layer``...)."""
    seen: dict[str, Any] = {}

    def grab(module, args, kwargs):
        seen["x"], seen["kwargs"] = args[0], kwargs

    handle = model.blocks[layer].attn.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            model(ids, positions=positions, code=code)
    finally:
        handle.remove()
    return seen["x"], seen["kwargs"]


def layer_qkv(model: StripesTransformer, ids: Tensor, layer: int, code: list | None = None,
              positions: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, dict[str, Any]]:
    """``q', k' [B, T, H, D']`` (after the PE) and ``v [B, T, H, E]`` of attention layer
    ``layer`` (:meth:`~stripes.attention.Attention.project`), with the layer's keyword arguments."""
    x, kwargs = layer_input(model, ids, layer, code, positions)
    with torch.no_grad():
        q, k, v = model.blocks[layer].attn.project(x, kwargs.get("positions"), 0,
                                                   kwargs.get("code"), kwargs.get("layer", layer))
    return q, k, v, kwargs


def attention_scores(model: StripesTransformer, ids: Tensor, layer: int,
                     code: list | None = None, positions: Tensor | None = None
                     ) -> tuple[Tensor, bool]:
    """Unnormalised scores ``[B, H, T, T]`` of layer ``layer`` and whether they are logits
    (:meth:`~stripes.attention.Attention.scores`): softmax layers give float64 logits (``-inf``
    where masked); linear layers give ``φ(q'_m)·φ(k'_n)`` (0 where masked)."""
    x, kwargs = layer_input(model, ids, layer, code, positions)
    return model.blocks[layer].attn.scores(x, positions=kwargs.get("positions"),
                                           code=kwargs.get("code"),
                                           layer=kwargs.get("layer", layer),
                                           bias=kwargs.get("bias"))


def attention_map(model: StripesTransformer, ids: Tensor, layer: int, code: list | None = None,
                  positions: Tensor | None = None) -> Tensor:
    """The unnormalised attention ``a_mn`` ``[B, H, T, T]`` (float64, 0 where masked).

    Softmax: ``exp(logit − c_h)`` with ``c_h`` the largest logit of each head, a constant factor
    per head (the exact ``exp`` would overflow); linear: ``φ(q'_m)·φ(k'_n)``.
    """
    scores, logits = attention_scores(model, ids, layer, code, positions)
    if not logits:
        return scores
    top = scores.amax(dim=(-2, -1), keepdim=True)
    return torch.exp(scores - top)


def identical_token_metrics(model: StripesTransformer, length: int, token: int = 0,
                            realizations: int = 1, seed: int = 0,
                            max_lag: int | None = None, window: int | None = None
                            ) -> dict[str, Any]:
    """Translation-invariance and monotonicity errors (lower is better; Wang et al. 2021 as
    [SPE] App. C computes them, :mod:`stripes.evaluation.pe_metrics`) of every layer's
    unnormalised attention on one repeated token.

    Each stochastic-PE realization ``r`` is drawn from ``seed + r`` and frozen for the probe;
    deterministic PEs use one pass. SPE is relative *in expectation* ([SPE] Eq. 8, 15): a single
    realization adds Monte-Carlo noise of R features that no lag explains. The headline errors
    are therefore those of the *expected* map, estimated by the mean of the ``realizations`` maps
    (its error still falls as ``realizations`` grows); ``per_realization`` holds the mean of the
    errors of the single maps, what one forward pass sees. Both are equal for deterministic PEs.
    Errors are per layer (mean over heads), then averaged over layers.

    Args:
        window: query positions per window of ``by_position`` (default: the whole probe).

    Returns:
        ``{"translation_invariance", "monotonicity", "per_layer": [{...}, ...],
        "per_realization": {...}, "by_position": {"start", "stop", "translation_invariance",
        "monotonicity"} (lists over windows, mean over layers and heads), "realizations",
        "lower_is_better": True}``.
    """
    device = next(model.parameters()).device
    causal = model.config.attention.causal
    n = realizations if is_stochastic(model) else 1
    n_layers = len(model.blocks)
    sums: list[tuple[np.ndarray, np.ndarray] | None] = [None] * n_layers
    single = np.zeros((n_layers, 2))
    for r in range(n):
        code = model.draw_pe_code(length, None, torch.Generator().manual_seed(seed + r))
        for layer in range(n_layers):
            logits = model.blocks[layer].attn.kind == "softmax"
            def scores_of(ids: Tensor, layer: int = layer, code: Any = code) -> Tensor:
                return attention_scores(model, ids, layer, code)[0]

            scores = probe_attention_map(scores_of, length, token, returns_logits=False,
                                         device=device)
            sums[layer] = _add_map(sums[layer], scores, logits)
            m = pe_metrics(_add_map(None, scores, logits)[0], causal=causal, max_lag=max_lag)
            single[layer] += (m["translation_invariance"], m["monotonicity"])
    single /= n
    mean_maps = [s[0] / n for s in sums if s is not None]  # every layer summed above
    per_layer = [pe_metrics(maps, causal=causal, max_lag=max_lag) for maps in mean_maps]
    resolved = [pe_metrics_by_position(maps, window or length, causal, max_lag)
                for maps in mean_maps]
    by_position = {"start": resolved[0]["start"].tolist(), "stop": resolved[0]["stop"].tolist()}
    for key in ("translation_invariance", "monotonicity"):
        stacked = np.concatenate([r[key] for r in resolved])  # [layers * H, W]
        by_position[key] = [_mean(column) for column in stacked.T]
    return {"translation_invariance": _mean([r["translation_invariance"] for r in per_layer]),
            "monotonicity": _mean([r["monotonicity"] for r in per_layer]),
            "per_layer": per_layer,
            "per_realization": {"translation_invariance": _mean(single[:, 0]),
                                "monotonicity": _mean(single[:, 1])},
            "by_position": by_position, "realizations": n, "lower_is_better": True}


def _add_map(acc: tuple[np.ndarray, np.ndarray] | None, scores: np.ndarray, logits: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    """Running sum ``(Σ_r a_r [H, T, T], shift [H, 1, 1])`` of unnormalised maps. Logits are
    exponentiated as ``exp(logit - shift)`` with one shift per head for *all* realizations (an
    online log-sum-exp), so that no realization is rescaled against the others."""
    if not logits:
        return (scores.copy(), np.zeros((len(scores), 1, 1))) if acc is None else (
            acc[0] + scores, acc[1])
    finite = np.where(np.isfinite(scores), scores, -np.inf)
    top = np.maximum(finite.max(axis=(-2, -1), keepdims=True), -1e300)
    if acc is None:
        return np.exp(finite - top), top
    shift = np.maximum(acc[1], top)
    return acc[0] * np.exp(acc[1] - shift) + np.exp(finite - shift), shift


def _mean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def is_stochastic(model: StripesTransformer) -> bool:
    """Whether the model's PE draws random codes (SPE), so results depend on a realization."""
    return any(p.stochastic for p in model.qk_pes)


def pe_templates(model: StripesTransformer, max_lag: int, head: int = 0, layer: int = 0
                 ) -> np.ndarray | None:
    """Positional templates versus lag ``0..max_lag-1``: ``[D, max_lag]`` (``P_d`` of one head)
    for SPE-like PEs, ``[1, max_lag]`` (the Gram ``e(lag)·e(0)``) for additive PEs.

    Uses :func:`stripes.positional.kernel_view.context_kernel`; None when the PE has no such kernel
    (no PE, RoPE's trigonometric terms, relative biases).
    """
    from stripes.positional import kernel_view

    pes: list[Any] = list(model.qk_pes) or [model.add_pe]
    if pes[0] is None:
        return None
    lags = torch.arange(max_lag)[None]
    try:
        with torch.no_grad():
            # A copy: context_kernel casts additive PEs to float64 in place.
            origin = torch.zeros(1, 1, dtype=torch.long)
            kern = kernel_view.context_kernel(copy.deepcopy(pes[0]), lags, origin, layer=layer,
                                          d_model=model.config.d_model)
    except TypeError:  # a PE without a context kernel
        return None
    if not isinstance(kern, Tensor):
        return None
    kern = kern.detach().double().cpu()
    return (kern[0, head, :, :, 0] if kern.dim() == 5 else kern[0, :, :1].T).numpy()
