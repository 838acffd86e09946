"""Task recipes built on the library: melody harmonization and token language modelling.

Each task folder holds its recipe: config, data, training, prediction or generation, evaluation.
The paper tables (``stripes.experiments``) and the arranger (``stripes.arranger``) sit above;
nothing below ``tasks`` imports it."""
