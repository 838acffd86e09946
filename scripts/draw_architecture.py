"""Draw docs/architecture.png: the package's parts on their import layers, one arrow per pair of
parts that import each other's modules (width: how many module imports), from the code itself.

The layers and the import reader are those of ``tests/test_architecture.py``, so the picture and
the test cannot disagree. Usage: ``python scripts/draw_architecture.py [--out PATH]``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_architecture import LAYERS, import_graph, part_of  # noqa: E402


def part_edges() -> tuple[Counter, Counter]:
    """(module counts per part, import counts per (importer part, imported part))."""
    graph = import_graph()
    sizes = Counter(part_of(m) for m in graph)
    edges = Counter((part_of(m), part_of(t)) for m, ts in graph.items() for t in ts
                    if part_of(m) != part_of(t))
    return sizes, edges


def draw(out: Path) -> Path:
    sizes, edges = part_edges()
    fig, ax = plt.subplots(figsize=(13, 7.5))
    pos = {}
    for level, parts in enumerate(LAYERS):
        for i, part in enumerate(parts):
            x = (i + 0.5) / len(parts)
            pos[part] = (x, level)
    for (a, b), n in edges.items():
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.annotate("", xy=(xb, yb + 0.18), xytext=(xa, ya - 0.18),
                    arrowprops=dict(arrowstyle="-|>", color="0.55", alpha=0.55,
                                    lw=0.4 + 0.25 * min(n, 12), shrinkA=0, shrinkB=0))
    for part, (x, y) in pos.items():
        label = part.removeprefix("stripes.") or "stripes"
        ax.text(x, y, f"{label}\n{sizes[part]} modules", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", fc="#e8f0fe", ec="#3367d6"))
    for level in range(len(LAYERS)):
        ax.text(-0.02, level, f"layer {level}", ha="right", va="center", fontsize=9, color="0.3")
    ax.set(xlim=(-0.1, 1.02), ylim=(-0.6, len(LAYERS) - 0.4))
    ax.axis("off")
    ax.set_title("stripes: parts on import layers (arrows point to what a part imports)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "architecture.png")
    print(draw(ap.parse_args().out))
