"""The experiment runner on a two-method, one-seed micro grid writes the table, and resumes."""

import json

import pytest
import yaml

from stripes.config import ConfigError
from stripes.experiments.harmonization import ExperimentConfig, method_label, run_experiment


@pytest.fixture(scope="module")
def micro(tmp_path_factory, chorale_cache):
    root = tmp_path_factory.mktemp("exp")
    cfg = {
        "name": "micro",
        "scale": "d_model 16, 1 epoch, 8 chorales",
        "base": {
            "data": "chorales",
            "train_bars": 4,
            "test_bars": [4],
            "max_train_windows": 8,
            "max_eval_windows": 3,
            "thresholds": [0.3, 0.5],
            "merge_gaps": [0],
            "model": {"d_model": 16, "n_layers": 1, "n_heads": 2},
            "train": {"epochs": 1, "batch_size": 4},
            "run": {"cache_dir": str(chorale_cache), "progress": False, "tensorboard": False},
        },
        "grid": {"context": ["time", "bin"]},
        "seeds": [0],
        "reference": {"context": "time"},
    }
    path = root / "micro.yaml"
    path.write_text(yaml.safe_dump(cfg))
    paths = run_experiment(path, root / "results", progress=False)
    return root, path, paths


def test_micro_grid_produces_the_table(micro):
    root, _, paths = micro
    table = paths["4"].read_text()
    assert "none-time" in table and "none-bin" in table
    for metric in ("CS", "SSMD", "GS", "NDD"):
        assert metric in table
    rows = json.loads(paths["4"].with_suffix(".json").read_text())["rows"]
    assert len(rows) == 2
    summary = (root / "results" / "micro" / "summary.md").read_text()
    assert "command" in summary
    assert "Flavour `reference`" in summary and "| rule |" in summary and "| empty |" in summary


def test_rerun_skips_finished_runs(micro):
    root, path, _ = micro
    run_dir = root / "results" / "micro" / "runs" / "none-bin" / "seed0"
    stamp = (run_dir / "evaluation.json").stat().st_mtime_ns
    run_experiment(path, root / "results", progress=False)
    assert (run_dir / "evaluation.json").stat().st_mtime_ns == stamp


def test_methods_expand_grid_and_reject_unknown_keys():
    exp = ExperimentConfig(name="x", grid={"pe": ["rope", "none"], "context": ["time", "bin"]})
    assert [method_label(m) for m in exp.method_list()] == [
        "rope-time",
        "rope-bin",
        "none-time",
        "none-bin",
    ]
    explicit = ExperimentConfig(name="y", methods=[{"pe": "rope", "context": "bin"}])
    assert [method_label(m) for m in explicit.method_list()] == ["rope-bin"]  # no empty grid run
    with pytest.raises(ConfigError, match=r"unknown key methods\[0\].lr"):
        ExperimentConfig(name="x", methods=[{"pe": "rope", "lr": 1}])
    with pytest.raises(ConfigError, match=r"unknown key grid.contxt \(did you mean 'context'"):
        ExperimentConfig(name="x", grid={"contxt": ["time"]})
    with pytest.raises(ConfigError, match="defines no method"):
        ExperimentConfig(name="x")
