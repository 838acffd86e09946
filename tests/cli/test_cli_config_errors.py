"""A malformed config or input ends every command with one line on stderr and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stripes.cli import main

LM_MODEL = {"d_model": 16, "n_layers": 1, "n_heads": 2}


@pytest.fixture(autouse=True)
def _empty_cache(tmp_path, monkeypatch):
    """A case that wrongly passed validation would find no corpus here (and never touch the
    user's cache)."""
    monkeypatch.setenv("STRIPES_CACHE", str(tmp_path / "no-cache"))


def _task(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(text)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stripes: error: "), err
    assert "Traceback" not in err
    return lines[0]


TRAIN_CASES = {
    "wrong type": ("train: {epochs: six}\n", "train.epochs: expected an integer, got 'six'"),
    "wrong type of a number": ("train: {lr: fast}\n", "train.lr: expected a number, got 'fast'"),
    "unknown key": ("contxt: bin\n", "unknown key contxt (did you mean 'context'?)"),
    "unknown nested key": ("model: {n_head: 2}\n", "unknown key model.n_head (did you mean"),
    "bad value": ("context: nowhere\n", "unknown context 'nowhere'"),
    "yaml syntax": ("train: {lr: 1e-3\n", "YAML syntax error at line"),
    "not a mapping": ("- 1\n- 2\n", "expected a mapping of keys, got list"),
    # 1e-3 is read by PyYAML as a string: accepted as a number, so the error is the next key's
    "scientific notation": ("train: {lr: 1e-3, epochs: [1]}\n", "train.epochs: expected an "),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_with_a_malformed_task_config_prints_one_line(case, tmp_path, capsys):
    text, message = TRAIN_CASES[case]
    run = tmp_path / "run"
    assert main(["train", str(_task(tmp_path, text)), "--out", str(run)]) == 2
    line = _one_error_line(capsys)
    assert message in line and "task.yaml" in line
    assert not run.exists()  # nothing was created before the config was checked


@pytest.mark.parametrize("override, message", [
    ("train.lr", "is not of the form section.key=value"),
    ("train.lr=fast", "train.lr: expected a number, got 'fast'"),
    ("model.pe.kind=rope_pol", "unknown positional encoding 'rope_pol' (did you mean "
     "'rope_pool'?)"),
    ("model.pe.params={n_sine: 2}", "positional encoding 'none' takes no argument 'n_sine'"),
    ("model.attention.kindd=softmax", "unknown key model.attention.kindd (did you mean 'kind'?)"),
    # the older spelling of the same keys, migrated
    ("model.pe=rope_pol", "unknown positional encoding 'rope_pol' (did you mean 'rope_pool'?)"),
    ("model.pe_params={n_sine: 2}", "positional encoding 'none' takes no argument 'n_sine'"),
    ("model.d_model=31", "d_model=31 is not divisible by n_heads=2"),
])
def test_train_overrides_are_checked_like_the_file(override, message, tmp_path, capsys):
    task = _task(tmp_path, "context: time\nmodel: {d_model: 16, n_heads: 2}\n")
    assert main(["train", str(task), "--out", str(tmp_path / "run"), "--set", override]) == 2
    assert message in _one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_a_missing_file_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main(["train", str(missing), "--out", str(tmp_path / "run")]) == 2
    assert _one_error_line(capsys) == f"stripes: error: {missing}: no such file or directory"


@pytest.mark.parametrize("text, message", [
    ("base: {}\ngrid: {pe: [none]}\n", "missing required key name"),
    ("name: x\nbase: {train: {lr: 1e-3, batch_sise: 4}}\ngrid: {pe: [none]}\n",
     "unknown key base.train.batch_sise (did you mean 'batch_size'?)"),
    ("name: x\nseeds: [zero]\ngrid: {pe: [none]}\n", "seeds[0]: expected an integer"),
    ("name: x\ngrid: {pee: [none]}\n", "unknown key grid.pee (did you mean 'pe'?)"),
])
def test_experiment_run_with_a_malformed_grid_prints_one_line(text, message, tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "results")]) == 2
    assert message in _one_error_line(capsys)
    assert not (tmp_path / "results").exists()


def test_experiment_run_overrides_reach_the_grid(tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text("name: x\ngrid: {pe: [none]}\n")
    argv = ["experiment", "run", str(path), "--out", str(tmp_path / "r"), "--set",
            "base.train.epochs=many"]
    assert main(argv) == 2
    assert "base.train.epochs: expected an integer, got 'many'" in _one_error_line(capsys)


@pytest.mark.parametrize("config, override, message", [
    ({"name": "x", "model": {**LM_MODEL, "dropuot": 0.1}}, None,
     "unknown key model.dropuot (did you mean 'dropout'?)"),
    ({"name": "x", "model": LM_MODEL, "train": {"lr": "1e-3", "epochs": 1.5}}, None,
     "train.epochs: expected an integer, got 1.5"),
    ({"name": "x", "model": LM_MODEL}, "data.train_length=long",
     "data.train_length: expected an integer, got 'long'"),
    ({"name": "x", "sections": {}}, None, "unknown key sections"),
])
def test_lm_train_with_a_malformed_recipe_prints_one_line(config, override, message, tmp_path,
                                                          capsys):
    path = tmp_path / "lm.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = ["lm", "train", str(path)] + (["--set", override] if override else [])
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert message in line and "lm.yaml" in line


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    path = _task(tmp_path, "train: {epochs: six}\n")
    proc = subprocess.run([sys.executable, "-m", "stripes.cli", "train", str(path), "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"stripes: error: {path}: train.epochs: expected an integer, got 'six'"]


def test_a_bad_pe_in_a_grid_is_refused_before_any_run_trains(tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text("name: x\ngrid: {pe: [rope, fstripes], context: [time]}\n")
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "r")]) == 2
    line = _one_error_line(capsys)
    assert "method fstripes-time: model.pe: unknown positional encoding 'fstripes'" in line
    assert not (tmp_path / "r").exists()
