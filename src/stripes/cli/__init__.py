"""The ``stripes`` command line: one entry point, subcommands that each call one library function.

Each command group is a module of this package named after it, with an ``add(subparsers)``
function (``demo``, ``data``, ``train`` for train / evaluate / curves / export, ``harmonize``,
``experiment``, ``lm``, ``generate``, ``lra``, ``groove``, ``bench``, ``serve``; ``options`` and
``checks`` hold what several share); heavy imports happen inside the handlers so that
``stripes --help`` stays fast.

A user's mistake (a bad config, a missing file, a YAML syntax error, any ``ValueError`` of the
library's validation, a diverged training) ends the command with one line on stderr,
``stripes: error: ...``, and exit code 2, never a traceback (docs/cli.md); Ctrl-C ends it with
one line and exit code 130. A part whose optional packages are missing ends it with one line
naming the extra to install (``pip install "stripes[music]"``) and exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import sys

import yaml

from stripes.cli import (
    bench,
    data,
    demo,
    experiment,
    generate,
    groove,
    harmonize,
    lm,
    lra,
    serve,
    train,
)
from stripes.config import ConfigError
from stripes.extras import MissingExtra

#: What a user can cause: reported as one line and exit code 2.
USER_ERRORS = (ConfigError, ValueError, OSError, yaml.YAMLError)
#: What Ctrl-C prints (exit code 130, the shell's for SIGINT).
INTERRUPTED = "stripes: interrupted: no file was left half-written"


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error printed as the one line every other error is."""

    def error(self, message: str):
        command = self.prog.removeprefix("stripes").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"stripes: error: {where}{message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    from stripes import __version__

    parser = Parser(prog="stripes", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"stripes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (demo, data, train, harmonize, experiment, lm, generate, lra, groove, bench,
                  serve):
        group.add(sub)
    return parser


def error_line(err: BaseException) -> str:
    """One line saying what went wrong (a missing file by its name)."""
    if isinstance(err, OSError) and err.filename is not None:
        reason = {FileNotFoundError: "no such file or directory",
                  IsADirectoryError: "is a directory, not a file",
                  NotADirectoryError: "not a directory",
                  FileExistsError: "exists and is not a folder",
                  PermissionError: "permission denied"}.get(type(err), err.strerror or str(err))
        text = f"{err.filename}: {reason}"
    else:
        text = str(err) or type(err).__name__
    return "stripes: error: " + " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stripes`` script; returns the exit code (2 for a user's error)."""
    # the library's warnings (a cache being built, a deprecated variable) as "warning: ..." lines
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error (already printed)
        return int(done.code or 0)
    try:
        args.func(args)
    except KeyboardInterrupt:  # every write is atomic: what is on disk is whole
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except MissingExtra as err:  # an install to complete, not a mistake in the command
        print(f"stripes: error: {err}", file=sys.stderr)
        return 1
    except USER_ERRORS as err:
        print(error_line(err), file=sys.stderr)
        return 2
    except RuntimeError as err:
        if not is_divergence(err):
            raise
        print(error_line(err), file=sys.stderr)
        return 2
    return 0


def is_divergence(err: BaseException) -> bool:
    """Whether ``err`` is the training loop's :class:`TrainingDiverged` (a user's lr or data,
    reported as one line), checked without importing torch for every command."""
    loop = sys.modules.get("stripes.training.loop")
    return loop is not None and isinstance(err, loop.TrainingDiverged)

