"""The split of the dependencies: the core imports no optional package, every import of one sits
inside ``needs(extra)`` for the extra that declares it, and a missing one ends in one line naming
the extra (at the real import sites, and in the CLI with exit code 1)."""

from __future__ import annotations

import ast
import functools
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from stripes.extras import EXTRA_MODULES, INSTALL_COMMAND, MissingExtra, needs

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "stripes"
OPTIONAL = {m: extra for extra, mods in EXTRA_MODULES.items() for m in mods}
#: import name -> distribution name, where they differ
DISTRIBUTION = {"fast_transformers": "pytorch-fast-transformers"}
#: The core parts: what ``pip install stripes`` serves (and ``stripes --help``).
CORE = ("stripes", "stripes.config", "stripes.extras", "stripes.files", "stripes.types",
        "stripes.attention", "stripes.positional", "stripes.models", "stripes.training",
        "stripes.generation", "stripes.cli")


def block(monkeypatch, module: str, *reimported: str) -> None:
    """Make ``module`` (and its submodules) unimportable, as if not installed, and forget
    ``reimported`` so that their import sites run again."""
    for name in [n for n in sys.modules if n == module or n.startswith(module + ".")] + [module]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in reimported:
        monkeypatch.delitem(sys.modules, name, raising=False)


def command(extra: str) -> str:
    return INSTALL_COMMAND.get(extra, f'pip install "stripes[{extra}]"')


@pytest.mark.parametrize("module, extra", sorted(OPTIONAL.items()))
def test_a_missing_package_of_each_extra_is_one_line_naming_the_extra(module, extra,
                                                                      monkeypatch):
    block(monkeypatch, module)
    with pytest.raises(MissingExtra) as err, needs(extra):
        importlib.import_module(module)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{module} is not installed")
    assert text.endswith(command(extra)) and f"stripes[{extra}]" in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_every_extra_has_its_install_line():
    assert command("music") == 'pip install "stripes[music]"'
    assert command("web") == 'pip install "stripes[web]"'
    assert command("bench") == 'pip install --no-build-isolation "stripes[bench]"'


def test_a_missing_module_of_no_extra_is_raised_unchanged(monkeypatch):
    block(monkeypatch, "yaml")  # a core dependency: a broken install, not an extra to add
    with pytest.raises(ModuleNotFoundError) as err, needs("music"):
        importlib.import_module("yaml")
    assert not isinstance(err.value, MissingExtra)
    with pytest.raises(ValueError, match="unknown extra 'sound'"), needs("sound"):
        pass


# -- the real import sites ------------------------------------------------------------------------

SITES = {
    "symusic": lambda: importlib.import_module("stripes.music.midi_io"),
    "scipy": lambda: importlib.import_module("stripes.evaluation.stats"),
    "matplotlib": lambda: importlib.import_module("stripes.analysis.plots"),
    "music21": lambda: importlib.import_module("stripes.music.chorales").chorale_files(),
    "miditok": lambda: importlib.import_module("stripes.music.tokenizer").load_tokenizer("x"),
    "safetensors": lambda: importlib.import_module(
        "stripes.arranger.pretrained").load_pretrained("pop909"),
    "fast_transformers": lambda: importlib.import_module(
        "stripes.benchmarking.attention").make_call("fast_transformers", 8, "fwd"),
}
#: modules whose top-level import site must run again for the case (the others are loaded)
REIMPORT = {"symusic": ("stripes.music.midi_io",), "scipy": ("stripes.evaluation.stats",),
            "matplotlib": ("stripes.analysis.plots",)}


@pytest.mark.parametrize("module", sorted(SITES))
def test_each_import_site_names_its_extra(module, monkeypatch):
    for name in ("stripes.music.chorales", "stripes.music.tokenizer",
                 "stripes.arranger.pretrained", "stripes.benchmarking.attention"):
        importlib.import_module(name)  # loaded while the package is there
    block(monkeypatch, module, *REIMPORT.get(module, ()))
    with pytest.raises(MissingExtra, match=f"^{module} is not installed") as err:
        SITES[module]()
    assert str(err.value).endswith(command(OPTIONAL[module]))


def test_the_cli_prints_the_one_line_and_exits_1(monkeypatch, capsys):
    from stripes.cli import main

    block(monkeypatch, "symusic", "stripes.arranger.arrange", "stripes.arranger.melody",
          "stripes.music.midi_io")
    sheet = ROOT / "examples" / "ode_to_joy"
    code = main(["harmonize", str(sheet / "melody.mid"), "--chords", str(sheet / "chords.txt"),
                 "--out", "unused.mid"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err == ("stripes: error: symusic is not installed; it comes with the 'music' extra: "
                   'pip install "stripes[music]"\n')


# -- where the optional packages are imported -----------------------------------------------------

@functools.cache
def optional_imports() -> list[tuple[str, int, str, str | None]]:
    """``(file, line, module, extra of the enclosing needs(...) or None)`` of every import of an
    optional package in the source."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        guard: dict[ast.AST, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.With):
                for item in node.items:
                    call = item.context_expr
                    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                            and call.func.id == "needs" and isinstance(call.args[0], ast.Constant)):
                        guard.update({inner: call.args[0].value for stmt in node.body
                                      for inner in ast.walk(stmt)})
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            for name in names:
                top = name.partition(".")[0]
                if top in OPTIONAL:
                    found.append((str(path.relative_to(ROOT)), node.lineno, top, guard.get(node)))
    return found


def test_every_optional_import_sits_inside_needs_for_its_extra():
    found = optional_imports()
    assert {m for _, _, m, _ in found} >= {"symusic", "miditok", "music21", "scipy",
                                           "matplotlib", "safetensors", "fast_transformers"}
    bad = [f"{f}:{line}: {m} (extra {OPTIONAL[m]!r}) under {extra!r}"
           for f, line, m, extra in found if extra != OPTIONAL[m]]
    assert not bad, "wrap these in `with needs(...)`:\n" + "\n".join(bad)


def test_every_optional_package_imported_is_declared_in_its_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for _, _, module, _ in optional_imports():
        dist = DISTRIBUTION.get(module, module)
        assert any(r.startswith(dist) for r in extras[OPTIONAL[module]]), (module, dist)
        assert not any(r.startswith(dist) for r in core), f"{dist} is in the core"


def test_the_core_parts_import_no_optional_package():
    code = ("import importlib, json, pkgutil, sys\n"
            f"for name in {CORE!r}:\n"
            "    mod = importlib.import_module(name)\n"
            "    if name in ('stripes.training', 'stripes.generation'):\n"
            "        for info in pkgutil.walk_packages(mod.__path__, name + '.'):\n"
            "            importlib.import_module(info.name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.partition('.')[0] in "
            f"{sorted(OPTIONAL)!r})))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
