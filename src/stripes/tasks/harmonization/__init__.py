"""Melody harmonization ([S24], [FS], [ST]), the recipe: config, data, training, prediction,
evaluation and learning curves. The paper tables live in ``stripes.experiments``, the
user-facing arranger in ``stripes.arranger``."""
