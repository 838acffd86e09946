"""`stripes lra train / evaluate / grid` from the command line: a run end to end, its resume
and a user's mistakes as one line with exit code 2."""

from __future__ import annotations

import yaml

from stripes.cli import main


def write_recipe(tmp_path):
    recipe = {
        "classifier": {"model": {"input_kind": "tokens", "input_dim": 17, "output_dim": 10,
                                 "d_model": 16, "n_layers": 1, "n_heads": 2, "max_len": 40,
                                 "attention": {"kind": "linear", "feature_map": "relu",
                                               "causal": False}},
                       "mlp_dim": 16},
        "data": {"task": "listops", "max_length": 40,
                 "generate": {"min_length": 4, "max_length": 30, "train": 24, "val": 8,
                              "test": 8, "seed": 2}},
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3},
        "run": {"cache_dir": str(tmp_path / "cache"), "progress": False,
                "tensorboard": False},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_train_resume_and_evaluate_from_the_command_line(tmp_path, capsys):
    recipe, run = write_recipe(tmp_path), tmp_path / "run"
    assert main(["lra", "train", str(recipe), "--out", str(run), "--max-steps", "1"]) == 0
    assert main(["lra", "train", str(recipe), "--out", str(run)]) == 0  # resumed to the end
    assert main(["lra", "evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "majority floor" in out and "test: accuracy" in out
    log = (run / "log.csv").read_text().splitlines()
    assert log[-1].startswith("3,")  # 24 examples / 8: three steps in all


def test_mistakes_are_one_line_and_exit_2(tmp_path, capsys):
    recipe, run = write_recipe(tmp_path), tmp_path / "run"
    assert main(["lra", "train", str(recipe), "--out", str(run), "--set",
                 "classifier.model.attention.causal=true"]) == 2
    assert "non-causal" in capsys.readouterr().err
    assert main(["lra", "train", str(recipe), "--out", str(run), "--max-steps", "1"]) == 0
    assert main(["lra", "train", str(recipe), "--out", str(run), "--set", "train.lr=0.01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another recipe" in err[0]
