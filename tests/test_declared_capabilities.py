"""What a component can do is declared in its type, never discovered by probing: no ``getattr`` or
``hasattr`` call in the packages that hold the model's computation and the tasks (issue 22).

The source is read with ``ast``, so a probe hidden in a function, a lambda or a comprehension is
found too; ``setattr``/``delattr`` are not probes and are left to review.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "stripes"
CHECKED = ("attention", "positional", "models", "tasks")
PROBES = {"getattr", "hasattr"}


def probes(source: str, filename: str = "<string>") -> list[int]:
    """Line numbers of ``getattr(...)`` / ``hasattr(...)`` calls (builtins or attributes of
    ``builtins``) in ``source``."""
    lines = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == "builtins" else None)
        if name in PROBES:
            lines.append(node.lineno)
    return sorted(lines)


def test_no_capability_probe_in_the_computation_and_the_tasks():
    found = [f"{path.relative_to(SRC.parent)}:{line}"
             for part in CHECKED for path in sorted((SRC / part).rglob("*.py"))
             for line in probes(path.read_text(), str(path))]
    assert not found, "declare the capability in the type instead of probing: " + ", ".join(found)


def test_the_walk_finds_probes_wherever_they_hide():
    source = ("def f(pe):\n"
              "    ok = [getattr(p, 'x', 0) for p in pe]\n"
              "    g = lambda m: hasattr(m, 'token_pool')\n"
              "    import builtins\n"
              "    return builtins.getattr(pe, 'kind')\n")
    assert probes(source) == [2, 3, 5]
    assert probes("setattr(a, 'b', 1)\nobj.getattr_like(2)\n") == []
