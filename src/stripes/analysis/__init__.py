"""stripes.analysis: figures (``plots``) and content-context mutual information
(``content_context``, [ST] Table I)."""

from stripes.analysis.content_context import content_context_mi, mutual_information
from stripes.analysis.plots import (
    plot_attention_map,
    plot_loss_by_position,
    plot_metric_bars,
    plot_pianoroll_triptych,
    plot_templates,
)

__all__ = [
    "content_context_mi",
    "mutual_information",
    "plot_attention_map",
    "plot_loss_by_position",
    "plot_metric_bars",
    "plot_pianoroll_triptych",
    "plot_templates",
]
