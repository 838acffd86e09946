"""Token language models ([SPE] Sec. 3.2), the recipe: config, data, training, generation,
evaluation, attention maps and the context-free floors. The PE comparison over seeds lives in
``stripes.experiments``."""
