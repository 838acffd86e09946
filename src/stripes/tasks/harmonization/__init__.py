"""Melody harmonization ([S24], [FS], [ST]): config, data, training, evaluation, arrangement,
the experiment grid and the demo."""
