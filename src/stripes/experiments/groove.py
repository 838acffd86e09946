"""[SPE] Fig. 5 on our scale: groove continuation, methods × training seeds, style per chunk.

A grid (``configs/groove/grid_*.yaml``, :class:`GrooveGrid`) names a base recipe
(:class:`~stripes.tasks.groove.config.GrooveConfig`), the methods (a label and the recipe entries
it changes), the seeds and the reference row (APE). :func:`run_groove_grid` runs it seed-major
(:func:`stripes.experiments.grid.run_grid`) into ``<out>/runs/<label>/seed<k>/``: each run is
trained (:func:`~stripes.tasks.groove.train.train_groove`), then continues the prompts of the
test pieces (:func:`~stripes.tasks.groove.continuation.continue_pieces`) into
``continuation.json``. The ceiling and the floor (no model) are scored once into
``<out>/reference.json``. After every run the report (:mod:`.groove_report`: ``table.md``,
``table.json``, ``fig5.png``) is rewritten from the runs done so far.

Resumable: a run with ``continuation.json`` is read back; a trained run is only sampled; an
interrupted training continues from its ``checkpoints/last.pt``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stripes.config import ConfigError, load_config
from stripes.experiments.grid import run_folder, run_grid, seed_major
from stripes.experiments.lra import LRAMethod, method_overrides
from stripes.files import atomic_write_text
from stripes.tasks.groove.config import GrooveConfig, load_groove_config
from stripes.tasks.groove.pieces import TrioPiece

Pieces = Mapping[str, Sequence[TrioPiece]]


@dataclass
class GrooveGrid:
    """Methods × seeds on one base recipe (``base``: a path relative to the grid file's
    folder), under ``title``; ``reference``: the row the others are tested against."""

    base: str
    methods: list[LRAMethod]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    reference: str = "APE"
    title: str = "Groove continuation, [SPE] Fig. 5 layout"

    def __post_init__(self):
        labels = [m.label for m in self.methods]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"methods: labels must differ, got {labels}")
        if self.reference not in labels:
            raise ConfigError(f"reference: {self.reference!r} is not a method label {labels}")


def run_config(grid: GrooveGrid, method: LRAMethod, seed: int, overrides: Sequence[str] = (),
               root: Path = Path(".")) -> GrooveConfig:
    """The recipe of one run: the base, the method's entries, the seed (``train.seed`` and the
    FAVOR+ ``feature_seed``), then ``overrides``."""
    base = Path(grid.base) if Path(grid.base).is_absolute() else root / grid.base
    seeds = [f"train.seed={seed}", f"model.attention.feature_seed={seed}"]
    return load_groove_config(base, [*method_overrides(method), *seeds, *overrides])


def run_one(cfg: GrooveConfig, label: str, seed: int, out: Path,
            pieces: Pieces) -> dict[str, Any]:
    """Train and sample one run (or read it back when done)."""
    from stripes.experiments.groove_report import without_nan
    from stripes.tasks.groove.continuation import continue_pieces
    from stripes.tasks.groove.train import finished, load_groove_model, train_groove

    folder = run_folder(out, label, seed)
    done = folder / "continuation.json"
    if not done.is_file():
        if not finished(folder, cfg):
            train_groove(cfg, folder, pieces=pieces)
        model = load_groove_model(folder / "checkpoints" / "last.pt")
        pieces_out = continue_pieces(model, pieces["test"], cfg.sampling, folder / "samples")
        doc = {"label": label, "seed": seed, "pieces": pieces_out}
        atomic_write_text(done, json.dumps(without_nan(doc), indent=1))  # NaN: null
    return json.loads(done.read_text())


def read_finished(grid: GrooveGrid, out: Path) -> list[dict[str, Any]]:
    """The ``continuation.json`` of every finished run, seed-major (for the report alone)."""
    runs = seed_major(grid.methods, grid.seeds)
    paths = [run_folder(out, m.label, s) / "continuation.json" for m, s in runs]
    return [json.loads(p.read_text()) for p in paths if p.is_file()]


def reference_file(cfg: GrooveConfig, out: Path, pieces: Pieces) -> dict[str, Any]:
    """``<out>/reference.json``: the ceiling and floor of the prompted test pieces (computed
    once; recomputed if the sampling recipe changed)."""
    from dataclasses import asdict

    from stripes.tasks.groove.continuation import reference_scores

    path = out / "reference.json"
    sampling = asdict(cfg.sampling)
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved["sampling"] == sampling:
            return saved
    doc = {"sampling": sampling, "pieces": reference_scores(pieces["test"], cfg.sampling)}
    atomic_write_text(path, json.dumps(doc, indent=1))
    return doc


def scale_line(cfg: GrooveConfig, pieces: Pieces | None = None) -> str:
    """The scale of the runs, in one line (beside [SPE]'s)."""
    m, d, s, t = cfg.model, cfg.data, cfg.sampling, cfg.train
    sizes = (f"{len(pieces['train'])} training pieces, " if pieces else "")
    return (f"{d.source}, {sizes}crops of {d.train_length} tokens; {m.n_layers} layers, "
            f"d_model {m.d_model}, {m.n_heads} heads, {m.attention.feature_map} attention; "
            f"{t.epochs} epochs of batch {t.batch_size}; {s.prompts} prompts x {s.samples} "
            f"samples of {s.tokens} tokens at temperature {s.temperature} ([SPE]: 24 layers, "
            "d_model 512, crops of 512, 50 prompts x 3 samples of 1,024 tokens)")


def run_groove_grid(grid_path: str | Path, out: str | Path = "results/groove_continuation_cpu",
                    overrides: Sequence[str] = (), seeds: Sequence[int] | None = None,
                    report_only: bool = False, progress: bool = True) -> Path:
    """Run (or resume) every method × seed of a grid, then the report; returns
    ``<out>/table.md``. ``report_only``: rewrite the report from the finished runs, train
    nothing."""
    from stripes.experiments.groove_report import write_report
    from stripes.tasks.groove.train import load_groove_pieces

    grid = load_config(GrooveGrid, grid_path)
    root = Path(grid_path).parent  # ``base`` is relative to the grid file
    out = Path(out)
    grid.seeds = list(seeds or grid.seeds)
    command = " ".join(["stripes groove grid", str(grid_path), "--out", str(out),
                        *[f"--set {shlex.quote(o)}" for o in overrides]])
    base = run_config(grid, grid.methods[0], grid.seeds[0], overrides, root)
    pieces = load_groove_pieces(base)
    reference = reference_file(base, out, pieces)
    scale = scale_line(base, pieces)

    def after(results: list[dict]) -> None:
        write_report(grid, results, reference, out, command, scale)

    if report_only:
        after(read_finished(grid, out))
        return out / "table.md"
    configs = {(m.label, s): run_config(grid, m, s, overrides, root)
               for m, s in seed_major(grid.methods, grid.seeds)}
    run_grid(seed_major(grid.methods, grid.seeds),
             lambda m, s: run_one(configs[m.label, s], m.label, s, out, pieces), after,
             clock=out, desc="groove grid", progress=progress)
    return out / "table.md"

