"""stripes: efficient, structure-informed positional encodings for linear-complexity Transformers.

Subpackages, in import order (each imports only from those before it):
``attention`` and ``positional`` (pure tensor math) <- ``models`` <- ``training``, ``generation``
<- ``cli``. ``music``, ``evaluation`` and ``analysis`` work on symbolic data and need no model.
"""

__version__ = "0.1.0"
