"""The LRA grid: methods x seeds run seed-major, read back when done, tabulated with the
reference tests (Holm), the majority floor, the paper beside, and a learning curve per row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from stripes.config import load_config
from stripes.experiments.lra import (
    LRAGrid,
    holm_lines,
    method_overrides,
    run_config,
    run_lra_grid,
)

GRID = Path(__file__).resolve().parents[3] / "configs" / "lra" / "grid_listops_cpu.yaml"


def write_grid(tmp_path: Path) -> Path:
    base = {
        "classifier": {"model": {"input_kind": "tokens", "input_dim": 17, "output_dim": 10,
                                 "d_model": 16, "n_layers": 1, "n_heads": 2, "max_len": 40,
                                 "attention": {"kind": "linear", "feature_map": "relu",
                                               "causal": False}},
                       "mlp_dim": 16},
        "data": {"task": "listops", "max_length": 40,
                 "generate": {"min_length": 4, "max_length": 30, "train": 32, "val": 16,
                              "test": 16, "seed": 1}},
        "train": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "keep_every": 2},
        "run": {"cache_dir": str(tmp_path / "cache"), "progress": False,
                "tensorboard": False},
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    grid = {"base": "base.yaml", "seeds": [0, 1], "reference": "APE",
            "methods": [{"label": "APE"},
                        {"label": "sineSPE", "set": {"classifier.model.pe": {
                            "kind": "sine_spe", "params": {"n_realizations": 4,
                                                           "gated": True}}}}],
            "paper": {"APE": 17.5, "sineSPE": 17.0}, "paper_source": "test"}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    return tmp_path / "grid.yaml"


def test_grid_runs_tabulates_and_resumes(tmp_path):
    out = tmp_path / "results"
    table = run_lra_grid(write_grid(tmp_path), out, progress=False)
    text = table.read_text()
    for needle in ("test accuracy", "Majority-class floor", "Holm", "Beside the paper",
                   "Runs above the floor", "Command"):
        assert needle in text
    assert (out / "curves.png").is_file()
    curves = json.loads((out / "curves.json").read_text())
    assert set(curves) == {"APE", "sineSPE"} and len(curves["APE"]) == 2
    assert [step for step, _ in curves["APE"][0]] == [2, 4, 6, 8]
    runs = json.loads((out / "table.json").read_text())["runs"]
    assert [(r["label"], r["seed"]) for r in runs] == [("APE", 0), ("sineSPE", 0), ("APE", 1),
                                                       ("sineSPE", 1)]
    stamp = (out / "runs" / "APE" / "seed0" / "evaluation.json").stat().st_mtime
    run_lra_grid(tmp_path / "grid.yaml", out, progress=False)  # done: read back, not rerun
    assert (out / "runs" / "APE" / "seed0" / "evaluation.json").stat().st_mtime == stamp


def test_one_process_per_seed_shares_the_folder_and_report_only_trains_nothing(tmp_path):
    out, grid = tmp_path / "results", write_grid(tmp_path)
    run_lra_grid(grid, out, seeds=[1], progress=False)  # another process: seed 1 only
    runs = json.loads((out / "table.json").read_text())["runs"]
    assert [(r["label"], r["seed"]) for r in runs] == [("APE", 1), ("sineSPE", 1)]
    assert "APE seed 0" in (out / "table.md").read_text()  # the grid's seed 0 is missing
    run_lra_grid(grid, out, seeds=[0], progress=False)  # the table now reads both processes'
    runs = json.loads((out / "table.json").read_text())["runs"]
    assert [(r["label"], r["seed"]) for r in runs] == [("APE", 0), ("sineSPE", 0), ("APE", 1),
                                                       ("sineSPE", 1)]
    (out / "table.md").unlink()
    stamps = sorted(p.stat().st_mtime for p in out.glob("runs/*/*/evaluation.json"))
    run_lra_grid(grid, out, progress=False, report_only=True)
    assert "PARTIAL" not in (out / "table.md").read_text()
    assert sorted(p.stat().st_mtime for p in out.glob("runs/*/*/evaluation.json")) == stamps


def test_a_run_stopped_before_its_first_checkpoint_starts_again(tmp_path):
    out, grid = tmp_path / "results", write_grid(tmp_path)
    stopped = out / "runs" / "APE" / "seed0"
    stopped.mkdir(parents=True)
    for name in ("config.yaml", "task.yaml", "log.csv"):  # what a run writes before step 1
        (stopped / name).write_text("")
    run_lra_grid(grid, out, seeds=[0], progress=False)
    assert (stopped / "evaluation.json").is_file() and (stopped / "checkpoints").is_dir()


def test_holm_corrects_the_family():
    rng = np.random.default_rng(0)
    per_seed = {"ref": {"test accuracy": [17.0, 17.1, 16.9]},
                "a": {"test accuracy": list(30 + rng.normal(0, 0.1, 3))},
                "b": {"test accuracy": [17.05, 16.95, 17.1]}}
    lines = holm_lines(per_seed, "ref")
    row_a = next(line for line in lines if line.startswith("| a "))
    row_b = next(line for line in lines if line.startswith("| b "))
    assert row_a.endswith("yes |") and row_b.endswith("no |")
    p_a, holm_a = (float(x) for x in row_a.split("|")[3:5])
    assert holm_a >= p_a


@pytest.mark.parametrize("path", sorted(GRID.parent.glob("grid_*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_grid_resolves_every_row(path):
    grid = load_config(LRAGrid, path)
    assert grid.reference == "Linear-ReLU APE" and len(grid.seeds) >= 3
    for method in grid.methods:
        cfg = run_config(grid, method, 7, root=path.parent)
        assert cfg.train.seed == 7 and cfg.classifier.model.attention.feature_seed == 7
    performer = next(m for m in grid.methods if m.label == "Performer sineSPE")
    assert "classifier.redraw_every=1" in method_overrides(performer)
    assert "classifier.model.pe.params.gated=true" in method_overrides(performer)
