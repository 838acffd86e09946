"""The package's imports point one way, and nothing imports itself round a loop.

Every ``import`` of ``src/stripes`` is read with ``ast`` (function-local ones too) and resolved to
a module: ``from pkg import name`` is an import of ``pkg.name`` when that is a module, else of
``pkg`` (its ``__init__``). Each module belongs to a *part* (``stripes.models``,
``stripes.tasks.lm``...), and each part to a layer of :data:`LAYERS`; a part may import only parts
on lower layers. Inside ``positional``, the compute helpers of ``ops/`` import only ``base.py``
and each other. See ``docs/architecture.md`` for the picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: Lowest first; a part imports only parts of the layers before its own.
LAYERS = (
    ("stripes", "stripes.config"),
    ("stripes.attention", "stripes.positional", "stripes.music"),
    ("stripes.models",),
    (
        "stripes.training",
        "stripes.generation",
        "stripes.evaluation",
        "stripes.analysis",
        "stripes.benchmarking",
    ),
    (
        "stripes.tasks",
        "stripes.tasks.harmonization",
        "stripes.tasks.lm",
        "stripes.tasks.groove",
        "stripes.tasks.lra",
    ),
    ("stripes.experiments", "stripes.arranger"),
    ("stripes.web",),
    ("stripes.cli",),
)
LAYER_OF = {part: i for i, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {module_name(p): p for p in sorted((SRC / "stripes").rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The package's modules that the file imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known}
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imported(path, name, known) - {name} for name, path in mods.items()}


def part_of(module: str) -> str:
    """The longest entry of :data:`LAYER_OF` that is ``module`` or a package above it."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYER_OF:
            return ".".join(parts[:n])
    raise KeyError(module)


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


GRAPH = import_graph()


def test_every_module_belongs_to_a_layer():
    unplaced = []
    for m in GRAPH:
        try:
            part_of(m)
        except KeyError:
            unplaced.append(m)
    assert not unplaced, f"add these to LAYERS (and docs/architecture.md): {unplaced}"


def against_layers(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a part on the same or a higher layer than the importer's."""
    bad = []
    for m, targets in graph.items():
        for t in targets:
            a, b = part_of(m), part_of(t)
            if a != b and LAYER_OF[b] >= LAYER_OF[a]:
                bad.append(f"{m} -> {t} ({a}: layer {LAYER_OF[a]}, {b}: layer {LAYER_OF[b]})")
    return sorted(bad)


def test_no_import_points_back_up_or_sideways():
    bad = against_layers(GRAPH)
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


#: Loops known and owned elsewhere, each with why it is here; a new loop fails, and a listed one
#: that is gone fails too (strike it then). None today.
KNOWN_LOOPS: list[list[str]] = []


def test_no_import_loop():
    found = loops(GRAPH)
    assert not [c for c in found if c not in KNOWN_LOOPS], f"import loops: {found}"
    assert not [c for c in KNOWN_LOOPS if c not in found], "a known loop is gone: strike it"


def test_positional_ops_import_only_base_and_each_other():
    bad = [f"{m} -> {t}" for m, targets in GRAPH.items() if m.startswith("stripes.positional.ops")
           for t in targets if t.startswith("stripes.positional")
           and not t.startswith("stripes.positional.ops") and t != "stripes.positional.base"]
    assert not bad, bad


def test_the_checks_catch_a_backward_import_a_sideways_one_and_a_loop():
    graph = {"stripes.models.x": {"stripes.tasks.lm.y"}, "stripes.tasks.lm.y": {"stripes.models.x"},
             "stripes.training.z": {"stripes.evaluation.w"}, "stripes.evaluation.w": set()}
    assert against_layers(graph) == [
        "stripes.models.x -> stripes.tasks.lm.y (stripes.models: layer 2, "
        "stripes.tasks.lm: layer 4)",
        "stripes.training.z -> stripes.evaluation.w (stripes.training: layer 3, "
        "stripes.evaluation: layer 3)",
    ]
    assert loops(graph) == [["stripes.models.x", "stripes.tasks.lm.y"]]


def test_the_reader_sees_function_local_and_relative_imports(tmp_path):
    pkg = tmp_path / "stripes" / "music"
    pkg.mkdir(parents=True)
    (pkg / "a.py").write_text("def f():\n    from . import b\n    import stripes.models.c\n")
    known = {"stripes.music.a", "stripes.music.b", "stripes.models.c"}
    assert imported(pkg / "a.py", "stripes.music.a", known) == {"stripes.music.b",
                                                                "stripes.models.c"}
