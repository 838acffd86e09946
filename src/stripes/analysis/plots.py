"""Figures of the papers, written as PNG files: each function takes arrays, writes one file and
returns its path.

Figures are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas, never through
``pyplot``: no global figure state, no GUI backend, safe in tests and worker processes. A *curve*
is given either as ``y`` ``[N]`` (plotted against ``0..N-1``) or as a pair ``(x [N], y [N])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from stripes.extras import needs

with needs("music"):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

Curve = np.ndarray | Sequence[float] | tuple[np.ndarray, np.ndarray]


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi)
    return path


def _xy(curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    """A curve as ``(x [N], y [N])``."""
    if isinstance(curve, tuple) and len(curve) == 2:
        x, y = (np.asarray(c, dtype=np.float64).reshape(-1) for c in curve)
    else:
        y = np.asarray(curve, dtype=np.float64).reshape(-1)
        x = np.arange(y.size, dtype=np.float64)
    if x.size != y.size:
        raise ValueError(f"x and y differ in length: {x.size} vs {y.size}")
    return x, y


def plot_loss_by_position(
    curves: Mapping[str, Curve],
    path: str | Path,
    train_length: int | None = None,
    xlabel: str = "token position",
    ylabel: str = "validation cross-entropy (nats)",
    title: str | None = None,
) -> Path:
    """Validation loss versus position, one curve per model ([SPE] Fig. 3-4, docs/math.md §6).

    Args:
        curves: model name -> losses per position bucket, ``y [N]`` or ``(bucket_positions, y)``.
        path: the PNG to write.
        train_length: draws a dashed vertical line there (positions beyond were never trained).
    """
    fig = _new_figure(7, 4)
    ax = fig.add_subplot()
    for name, curve in curves.items():
        ax.plot(*_xy(curve), label=name, linewidth=1.5)
    if train_length is not None:
        ax.axvline(train_length, color="black", linestyle="--", linewidth=1, label="train length")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_templates(
    templates: Mapping[str, Curve],
    path: str | Path,
    max_per_family: int = 8,
    ncols: int = 8,
) -> Path:
    """Learned positional templates ``P_d`` versus lag, a grid of small plots ([SPE] Fig. 7).

    Args:
        templates: family name (e.g. ``"sineSPE"``, ``"convSPE"``) -> kernels ``[n, L]`` (row d is
            ``P_d`` at lags ``0..L-1``) or ``(lags [L], kernels [n, L])``.
        path: the PNG to write.
        max_per_family: first kernels shown per family.
        ncols: small plots per row; each family starts on a new row.
    """
    families = [(name, *_lags_and_kernels(t, max_per_family)) for name, t in templates.items()]
    rows = [
        (name, lags, kernels[i : i + ncols])
        for name, lags, kernels in families
        for i in range(0, len(kernels), ncols)
    ]
    fig = _new_figure(1.6 * ncols, 1.4 * len(rows) + 0.3)
    axes = fig.subplots(len(rows), ncols, squeeze=False, sharex="row")
    for r, (name, lags, kernels) in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            if c >= len(kernels):
                ax.set_axis_off()
                continue
            ax.plot(lags, kernels[c], linewidth=1)
            ax.axhline(0, color="grey", linewidth=0.5)
            ax.tick_params(labelsize=6)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.supxlabel("lag m − n", fontsize=9)
    return _save(fig, path)


def _lags_and_kernels(template: Curve, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lags [L], kernels [n, L])`` keeping the first ``limit`` kernels."""
    if isinstance(template, tuple) and len(template) == 2:
        lags, kernels = np.asarray(template[0], dtype=np.float64), np.asarray(template[1])
    else:
        kernels = np.asarray(template)
        lags = np.arange(kernels.shape[-1], dtype=np.float64)
    kernels = np.atleast_2d(np.asarray(kernels, dtype=np.float64))[:limit]
    if kernels.shape[-1] != lags.size:
        raise ValueError(f"{lags.size} lags for kernels of length {kernels.shape[-1]}")
    return lags, kernels


def plot_attention_map(
    attention: np.ndarray,
    path: str | Path,
    head: int | None = None,
    log_scale: bool = False,
    title: str | None = None,
) -> Path:
    """One attention map as an image, queries down, keys across.

    Args:
        attention: ``[T, T]``, or ``[H, T, T]`` with ``head`` choosing the map.
        path: the PNG to write.
        log_scale: logarithmic colours; entries ``<= 0`` (masked) are left blank.
    """
    maps = np.asarray(attention, dtype=np.float64)
    if maps.ndim == 3:
        if head is None:
            raise ValueError("attention has a head axis: pass head=")
        maps = maps[head]
    if maps.ndim != 2:
        raise ValueError(f"expected [T, T] or [H, T, T], got {np.shape(attention)}")
    norm = None
    if log_scale:
        maps = np.ma.masked_less_equal(maps, 0.0)
        if maps.count() == 0:
            raise ValueError("log_scale needs some positive entries")
        norm = LogNorm(vmin=maps.min(), vmax=maps.max())
    fig = _new_figure(5, 4.4)
    ax = fig.add_subplot()
    image = ax.imshow(maps, cmap="viridis", norm=norm, interpolation="nearest", aspect="auto")
    fig.colorbar(image, ax=ax)
    ax.set(xlabel="key position n", ylabel="query position m", title=title)
    return _save(fig, path)


PE_ERRORS = (("translation_invariance", "translation-invariance error"),
             ("monotonicity", "monotonicity error"))


def plot_pe_metrics_by_position(
    metrics: Mapping[str, Mapping[str, Curve]],
    path: str | Path,
    train_length: int | None = None,
    title: str | None = None,
) -> Path:
    """Translation-invariance and monotonicity errors (lower is better) versus query position,
    one curve per model, one panel per error ([SPE] App. C; the windows of
    :func:`stripes.evaluation.pe_metrics.pe_metrics_by_position`).

    Args:
        metrics: model name -> ``{"translation_invariance": curve, "monotonicity": curve}``, each
            ``y [W]`` or ``(window positions, y)``.
        path: the PNG to write.
        train_length: draws a dashed vertical line there.
    """
    fig = _new_figure(10, 3.8)
    for ax, (key, label) in zip(fig.subplots(1, 2), PE_ERRORS, strict=True):
        for name, curves in metrics.items():
            ax.plot(*_xy(curves[key]), marker="o", ms=3, linewidth=1.5, label=name)
        if train_length is not None:
            ax.axvline(train_length, color="black", linestyle="--", linewidth=1,
                       label="train length")
        ax.set(xlabel="query position", ylabel=f"{label} (lower is better)", ylim=(0, 1.05))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_pianoroll_triptych(
    input_roll: np.ndarray,
    target_roll: np.ndarray,
    prediction_roll: np.ndarray,
    path: str | Path,
    bar_steps: int = 64,
    titles: Sequence[str] = ("input", "target", "prediction"),
    lowest_pitch: int = 0,
) -> Path:
    """Input | target | prediction pianorolls side by side, bar lines every ``bar_steps``.

    Args:
        input_roll, target_roll, prediction_roll: binary ``[T, P]`` (time steps, pitches); 64
            steps per 4/4 bar at 16 steps per quarter note (docs/math.md §6).
        path: the PNG to write.
        lowest_pitch: MIDI pitch of column 0, for the pitch axis labels.
    """
    rolls = [np.asarray(r, dtype=np.float64) for r in (input_roll, target_roll, prediction_roll)]
    for roll in rolls:
        if roll.ndim != 2:
            raise ValueError(f"a pianoroll is [T, P], got {roll.shape}")
    fig = _new_figure(15, 3.5)
    for ax, roll, title in zip(fig.subplots(1, 3, sharey=True), rolls, titles, strict=True):
        extent = (0, roll.shape[0], lowest_pitch, lowest_pitch + roll.shape[1])
        ax.imshow(
            roll.T,
            origin="lower",
            aspect="auto",
            cmap="Greys",
            vmin=0,
            vmax=1,
            interpolation="nearest",
            extent=extent,
        )
        for step in range(bar_steps, roll.shape[0], bar_steps):
            ax.axvline(step, color="tab:red", linewidth=0.6, alpha=0.7)
        ax.set(title=title, xlabel="time step")
    fig.axes[0].set_ylabel("MIDI pitch")
    return _save(fig, path)


def plot_metric_bars(
    metrics: Mapping[str, Mapping[str, float]],
    path: str | Path,
    errors: Mapping[str, Mapping[str, float]] | None = None,
    title: str | None = None,
) -> Path:
    """One bar chart per metric, a bar per method, with optional error bars (e.g. std over seeds).

    Args:
        metrics: method -> metric name -> value. Metrics get separate panels (their scales differ).
        path: the PNG to write.
        errors: same layout as ``metrics``, the half-heights of the error bars (missing entries
            get no bar).
    """
    methods = list(metrics)
    names = list(dict.fromkeys(name for values in metrics.values() for name in values))
    if not names:
        raise ValueError("no metric to plot")
    fig = _new_figure(max(4.0, 0.5 * len(methods) + 1.5) * len(names), 3.8)
    colours = [f"C{i % 10}" for i in range(len(methods))]
    for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names, strict=True):
        values = [metrics[m].get(name, np.nan) for m in methods]
        err = None if errors is None else [errors.get(m, {}).get(name, np.nan) for m in methods]
        ax.bar(range(len(methods)), values, yerr=err, color=colours, capsize=3)
        ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right", fontsize=8)
        ax.set_title(name)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_learning_curves(curves: dict[str, list[dict]], path: str | Path,
                         floors: dict[str, float] | None = None) -> Path:
    """Validation loss and accompaniment CS against the step, one line per run; ``floors``
    (e.g. ``{"rule baseline": 76.5}``) are drawn as dashed lines on the CS panel."""
    fig = _new_figure(11, 4)
    ax_loss, ax_cs = fig.subplots(1, 2)
    for label, rows in curves.items():
        steps = np.array([r["step"] for r in rows])
        loss = np.array([np.nan if r["val_loss"] is None else r["val_loss"] for r in rows])
        ax_loss.plot(steps, loss, marker="o", ms=3, label=label)
        ax_cs.plot(steps, [r["cs_accompaniment"] for r in rows], marker="o", ms=3, label=label)
    for k, (name, value) in enumerate((floors or {}).items()):
        ax_cs.axhline(value, ls="--", lw=1, color=f"C{7 + k}", label=name)
    ax_loss.set(xlabel="step", ylabel="validation BCE", title="validation loss", yscale="log")
    ax_cs.set(xlabel="step", ylabel="CS (reference, accompaniment)",
              title="validation chroma similarity", ylim=(0, 100))
    for ax in (ax_loss, ax_cs):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)
