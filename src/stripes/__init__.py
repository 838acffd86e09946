"""stripes: efficient, structure-informed positional encodings for linear-complexity Transformers.

Subpackages, in import order (each imports only from the layers before it; see
``docs/architecture.md``): ``config`` <- ``attention``, ``positional``, ``music`` <- ``models``
<- ``training``, ``generation``, ``evaluation``, ``analysis``, ``benchmarking`` <- ``tasks``
(harmonization, language models) <- ``cli``.
"""

__version__ = "0.1.0"
