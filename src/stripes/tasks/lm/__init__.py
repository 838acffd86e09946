"""Token language models ([SPE] Sec. 3.2): config, data, training, evaluation, generation and
the PE comparison."""
