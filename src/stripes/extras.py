"""Optional dependencies: which extra of ``pip install "stripes[...]"`` brings which package.

The core install (torch, numpy, tqdm, PyYAML) holds the engine: attention, positional encodings,
models, the training loop and decoding. Everything else is an extra (``pyproject.toml``):

- ``music``: MIDI (symusic), tokenization (miditok), the Bach chorales (music21), the metrics'
  statistics (scipy), plots (matplotlib) and the shipped weights' format (safetensors);
- ``web``: the page (gradio);
- ``bench``: the paired baseline of the benchmarks (pytorch-fast-transformers).

An import site of an optional package sits inside ``with needs("music"):``, so that a missing
package ends in one line naming the extra to install, raised as :class:`MissingExtra`, instead
of a ``ModuleNotFoundError`` from deep inside the package (the CLI prints that line and exits 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: extra -> the top-level modules it installs (the import names, not the distribution names).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "music": ("symusic", "miditok", "music21", "scipy", "matplotlib", "safetensors"),
    "web": ("gradio",),
    "bench": ("fast_transformers",),
}
#: How an extra is installed, when ``pip install "stripes[extra]"`` alone does not do it:
#: fast-transformers compiles C++ against the installed torch, which pip's isolated build lacks.
INSTALL_COMMAND = {"bench": 'pip install --no-build-isolation "stripes[bench]"'}


class MissingExtra(ImportError):
    """An optional package is not installed; the message is the one line that names the fix."""


def install_line(extra: str, module: str) -> str:
    """The one line for ``module`` missing: what is missing, and the command that installs it."""
    command = INSTALL_COMMAND.get(extra, f'pip install "stripes[{extra}]"')
    return f"{module} is not installed; it comes with the {extra!r} extra: {command}"


@contextmanager
def needs(extra: str) -> Iterator[None]:
    """Turn a missing package of ``extra`` imported in this block into :class:`MissingExtra`.

    A missing module that belongs to no extra (a bug, or a broken install of the core) is
    raised unchanged."""
    if extra not in EXTRA_MODULES:
        raise ValueError(f"unknown extra {extra!r} (known: {', '.join(EXTRA_MODULES)})")
    try:
        yield
    except ModuleNotFoundError as err:
        top = (err.name or "").partition(".")[0]
        if top not in EXTRA_MODULES[extra]:
            raise
        raise MissingExtra(install_line(extra, top), name=top) from None
