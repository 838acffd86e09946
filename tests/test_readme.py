"""Every public name the README mentions imports from where the README says it lives."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _imports(code: str) -> list[tuple[str, str]]:
    """``(module, name)`` of every ``from stripes... import ...`` in a piece of Python."""
    pairs = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stripes"):
            pairs += [(node.module, alias.name) for alias in node.names]
    return pairs


def readme_imports() -> list[tuple[str, str]]:
    """From the ```python blocks and from inline `from stripes.x import a, b` snippets."""
    pairs = []
    for block in re.findall(r"```python\n(.*?)```", README, flags=re.S):
        pairs += _imports(block)
    for snippet in re.findall(r"`(from stripes[\w.]* import [\w, ]+)`", README):
        pairs += _imports(snippet)
    return sorted(set(pairs))


def table_rows(marker: str) -> list[list[str]]:
    """Cells of the Markdown table that follows the first line containing ``marker``."""
    at = README.index(marker)
    lines = README[README.rindex("\n", 0, at) + 1:].splitlines()
    lines = lines if lines[0].startswith("|") else lines[1:]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


@pytest.mark.parametrize("module, name", readme_imports(), ids=lambda x: x)
def test_every_readme_import_works(module, name):
    assert hasattr(importlib.import_module(module), name), f"{module} has no {name}"


def test_the_readme_names_the_task_functions():
    modules = {m for m, _ in readme_imports()}
    for module in ("stripes.config", "stripes.tasks.harmonization.train",
                   "stripes.tasks.lm.train", "stripes.tasks.lm.evaluate"):
        assert module in modules


def test_every_name_of_the_attention_api_table_is_in_stripes_attention():
    import stripes.attention

    rows = table_rows("Public API (`stripes.attention`)")
    names = {n for row in rows for n in re.findall(r"`(\w+)[(`]", row[0])}
    assert {"softmax_attention", "linear_attention", "FAVOR", "Attention"} <= names
    missing = sorted(n for n in names if not hasattr(stripes.attention, n))
    assert not missing, missing


def test_every_kind_and_class_of_the_pe_table_is_in_stripes_positional():
    import stripes.positional

    rows = table_rows("| kind | class |")
    kinds = {re.search(r"`(\w+)`", row[0]).group(1) for row in rows}
    classes = {re.search(r"`(\w+)`", row[1]).group(1) for row in rows}
    assert kinds == set(stripes.positional.available_kinds())
    missing = sorted(c for c in classes if not hasattr(stripes.positional, c))
    assert not missing, missing


def test_every_dotted_stripes_path_in_the_readme_resolves():
    paths = set(re.findall(r"`(stripes(?:\.\w+)+)`", README))
    assert paths
    for path in sorted(paths):
        parts = path.split(".")
        for n in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:n]))
            except ModuleNotFoundError:
                continue
            for attr in parts[n:]:
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"{path} does not import")


def test_every_command_of_the_readme_table_exists():
    from stripes.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    commands = {re.match(r"`stripes (\w+)", row[0]).group(1) for row in table_rows("| command |")}
    assert commands <= set(sub.choices), commands - set(sub.choices)
