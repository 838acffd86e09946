"""stripes.analysis: figures (``plots``) and, in ``content_context.py``, the toy analyses."""

from stripes.analysis.plots import (
    plot_attention_map,
    plot_loss_by_position,
    plot_metric_bars,
    plot_pianoroll_triptych,
    plot_templates,
)

__all__ = [
    "plot_attention_map",
    "plot_loss_by_position",
    "plot_metric_bars",
    "plot_pianoroll_triptych",
    "plot_templates",
]
