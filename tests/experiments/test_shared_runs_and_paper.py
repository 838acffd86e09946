"""Experiments that share runs (``shared_runs``) and put the paper's numbers beside theirs."""

import json

import pytest
import yaml
from test_significance import make_experiment

from stripes.config import ConfigError
from stripes.evaluation.harmonization import HIGHER_IS_BETTER
from stripes.experiments.harmonization import (
    ExperimentConfig,
    check_shared_run,
    run_path,
    write_experiment_tables,
)
from stripes.experiments.paper import paper_lines, ranks


def test_a_table_reads_the_runs_of_the_experiment_it_shares(tmp_path):
    make_experiment(tmp_path, [0])  # runs in results/fake/runs
    cfg = {"name": "other", "grid": {"pe": ["rope"], "context": ["bin", "time"]}, "seeds": [0],
           "shared_runs": "fake"}
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(cfg))
    exp = ExperimentConfig.from_yaml(path)
    out = tmp_path / "results" / "other"
    assert run_path(exp, out, {"pe": "rope", "context": "bin"}, 0) == \
        tmp_path / "results" / "fake" / "runs" / "rope-bin" / "seed0"
    out.mkdir()
    paths = write_experiment_tables(path, tmp_path / "results")
    table = paths["16"].read_text()
    assert "rope" in table and "rope_pool" not in table  # only this experiment's methods
    assert "PARTIAL" not in paths["summary"].read_text()


def test_a_shared_run_trained_with_another_config_is_refused(tmp_path):
    exp = ExperimentConfig(name="x", grid={"pe": ["rope"]}, base={"train_bars": 4})
    run = tmp_path / "run"
    run.mkdir()
    cfg = exp.run_config({"pe": "rope"}, 0)
    saved = json.loads(json.dumps(cfg.recipe()))
    saved["run"] = {"device": "cuda"}  # run settings may differ
    (run / "task.yaml").write_text(yaml.safe_dump(saved))
    check_shared_run(cfg, run)
    saved["train_bars"] = 8
    (run / "task.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ConfigError, match="train_bars"):
        check_shared_run(cfg, run)


def test_paper_numbers_stand_beside_ours_with_ranks():
    assert ranks({"a": 3.0, "b": 5.0, "c": 5.0}, higher_is_better=True) == {"a": 3, "b": 1,
                                                                          "c": 1}
    assert ranks({"a": 3.0, "b": 5.0}, higher_is_better=False) == {"a": 1, "b": 2}
    paper = {"source": "[ST] Table III", "bars": {16: {"m1": {"CS": 25.8, "NDD": 70.0},
                                                       "m2": {"CS": 2.5}, "m3": {"CS": 9.0}}}}
    per_seed = {"m1": {"CS": [60.0, 62.0], "NDD": [8.0]}, "m2": {"CS": [50.0]}}
    text = "\n".join(paper_lines(paper, per_seed, "16", HIGHER_IS_BETTER))
    assert "| m1 | 61.00 (1) | 25.80 (1) | 8.00 (1) | 70.00 (1) |" in text
    assert "| m2 | 50.00 (2) | 2.50 (2) | — | — |" in text
    assert "Not run yet: m3" in text
    assert paper_lines(paper, per_seed, "64", HIGHER_IS_BETTER) == []


def test_paper_numbers_must_be_numbers():
    with pytest.raises(ConfigError, match="expected a number"):
        ExperimentConfig(name="x", grid={"pe": ["rope"]},
                         paper={"bars": {16: {"rope-time": {"CS": "high"}}}})
