"""Task recipes built on the library: melody harmonization and token language modelling.

Each task folder holds its config, data, training, evaluation, inference and experiment grid;
nothing below ``tasks`` imports it."""
