"""One config shape: nested sections everywhere, the older flat shape migrated on load with one
note, and every config the project has committed (run folders, shipped weights) still loading."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from stripes.config import ConfigError, from_dict, load_config
from stripes.experiments.groove import GrooveGrid
from stripes.experiments.harmonization import ExperimentConfig, check_shared_run, run_path
from stripes.experiments.lra import LRAGrid
from stripes.models import ModelConfig
from stripes.tasks.groove.config import load_groove_config
from stripes.tasks.harmonization.config import HarmonizationConfig
from stripes.tasks.lm.config import LMExperimentConfig, load_experiment
from stripes.tasks.lra.config import load_lra_config
from stripes.training.config import RunConfig, TrainConfig, split_run_settings

ROOT = Path(__file__).parents[1]
OLD = ROOT / "tests" / "data" / "old_shape_task.yaml"
NEW = {"data": "pop909", "context": "bin", "train_bars": 16, "test_bars": [16, 64],
       "max_eval_windows": 64, "input_features": ["chroma", "root", "meter"],
       "model": {"d_model": 128, "n_layers": 2, "n_heads": 4,
                 "attention": {"kind": "linear", "feature_map": "favor", "n_features": 32,
                               "chunk_size": 32, "feature_seed": 0},
                 "pe": {"kind": "rope_pool", "params": {"structure_map": "legacy"}}},
       "train": {"epochs": 4, "batch_size": 8, "lr": 2e-3, "optimizer": "adamw",
                 "precision": "bf16", "log_every": 25, "keep_every": 200},
       "run": {"data_root": "../shared/data", "device": "cpu", "progress": False,
               "tensorboard": False, "max_steps": 100}}


def _quietly(load, *args):
    """``load(*args)``, failing on any deprecation note (the current shape needs none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        return load(*args)


def test_the_flat_shape_loads_as_the_nested_one_with_one_line_of_note():
    with pytest.warns(DeprecationWarning) as notes:
        old = load_config(HarmonizationConfig, OLD)
    assert len(notes) == 1
    note = str(notes[0].message)
    assert len(note.splitlines()) == 1 and str(OLD) in note and "model" in note
    new = _quietly(load_config, HarmonizationConfig, NEW)
    assert old == new
    assert (old.model.attention.kind, old.model.pe.kind) == ("linear", "rope_pool")
    assert old.run.max_steps == 100 and old.model.input_dim == 256 + 32  # fixed by the task
    assert "run" not in old.recipe() and "data_root" not in old.recipe()


@pytest.mark.parametrize("old, new", [
    ("model.attention=softmax", "model.attention.kind=softmax"),
    ("model.feature_map=relu", "model.attention.feature_map=relu"),
    ("model.pe=rope", "model.pe.kind=rope"),
    ("model.pe_params={variant: A}", "model.pe.params={variant: A}"),
    ("train.device=auto", "run.device=auto"),
    ("train.max_steps=3", "run.max_steps=3"),
    ("data_root=/elsewhere", "run.data_root=/elsewhere"),
])
def test_an_override_of_the_old_spelling_sets_the_same_key(old, new):
    with pytest.warns(DeprecationWarning, match=f"--set {old.partition('=')[0]}"):
        by_old = load_config(HarmonizationConfig, NEW, [old])
    by_new = _quietly(load_config, HarmonizationConfig, NEW, [new])
    assert by_old == by_new != load_config(HarmonizationConfig, NEW)
    # the rest of the section is kept: feature map and seed stay, params stay
    assert by_old.model.attention.n_features == 32
    assert by_old.model.pe.params == by_new.model.pe.params


@pytest.mark.parametrize("override, message", [
    ("model.attention.kindd=softmax", "unknown key model.attention.kindd (did you mean 'kind'?)"),
    ("model.pe.kind=rope_pol", "unknown positional encoding 'rope_pol'"),
    ("model.attention.kind=sofmax", "model.attention.kind: unknown attention kind 'sofmax'"),
    ("run.devcie=cpu", "unknown key run.devcie (did you mean 'device'?)"),
    ("train.device=gpu0", "run.device: 'gpu0' is not a device"),
    ("run.max_steps=0", "run.max_steps: must be >= 1"),
])
def test_nested_sections_are_checked_with_the_key_path(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(HarmonizationConfig, NEW, [override])
    assert message in str(err.value)


def test_an_lm_experiment_splits_run_settings_from_its_recipe():
    old = {"name": "x", "model": {"d_model": 32, "n_heads": 2, "attention": "softmax",
                                  "pe": "sine_spe", "pe_params": {"n_realizations": 8}},
           "train": {"lr": 3e-3, "out_dir": "runs/x", "device": "auto", "max_steps": 5}}
    with pytest.warns(DeprecationWarning) as notes:
        exp = LMExperimentConfig.from_dict(old)
    assert len(notes) == 1
    assert exp.run == RunConfig(out_dir="runs/x", device="auto", max_steps=5)
    assert exp.train == TrainConfig(lr=3e-3) and exp.model.input_kind == "tokens"
    assert exp.model.pe.params == {"n_realizations": 8}
    assert _quietly(LMExperimentConfig.from_dict, {
        "name": "x", "model": {"d_model": 32, "n_heads": 2, "attention": {"kind": "softmax"},
                               "pe": {"kind": "sine_spe", "params": {"n_realizations": 8}}},
        "train": {"lr": 3e-3}, "run": {"out_dir": "runs/x", "device": "auto", "max_steps": 5}
    }) == exp


@pytest.mark.parametrize("path", sorted((ROOT / "configs").rglob("*.yaml")),
                         ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_every_shipped_recipe_is_written_in_the_nested_shape(path):
    kind = path.relative_to(ROOT / "configs").parts[0]
    if kind == "lm":
        _quietly(load_experiment, path)
    elif kind == "harmonization":
        _quietly(load_config, HarmonizationConfig, path)
    elif kind == "groove":
        if path.name.startswith("grid"):
            _quietly(load_config, GrooveGrid, path)
        else:
            _quietly(load_groove_config, path)
    elif kind == "lra":
        if path.name.startswith("grid_"):
            _quietly(load_config, LRAGrid, path)
        else:
            _quietly(load_lra_config, path)
    else:
        _quietly(ExperimentConfig.from_yaml, path)


# --- what the project has committed: run folders and shipped weights -----------------------------
def _load_resolved(path: Path) -> None:
    """A checkpoint's ``config.yaml``: train (older: with run settings), run, model (a harmonizer:
    ``{model, task}``), each checked; a harmonizer's task rebuilds the model it trained."""
    data = yaml.safe_load(path.read_text())
    train, run = split_run_settings(data["train"])
    from_dict(TrainConfig, train, "train")
    from_dict(RunConfig, {**run, **data.get("run", {})}, "run")
    model = data["model"]
    if "task" in model:
        task = from_dict(HarmonizationConfig, model["task"], "model.task")
        assert _seeded(task.model) == _seeded(ModelConfig.from_dict(model["model"])), path
    else:
        ModelConfig.from_dict(model)


def _seeded(model: ModelConfig) -> ModelConfig:
    """``model`` with its FAVOR seed written out (``None`` draws as 0: the same model)."""
    return replace(model, attention=replace(model.attention,
                                            feature_seed=model.attention.feature_seed or 0))


def _load_committed(path: Path) -> None:
    if any(part.startswith("lra_") for part in path.parts):  # Long-Range Arena runs
        if path.name == "task.yaml":
            load_lra_config(path)
        else:  # a checkpoint's resolved config: recipe, run settings, the classifier
            data = yaml.safe_load(path.read_text())
            from_dict(TrainConfig, data["train"], "train")
            ModelConfig.from_dict(data["model"]["model"])
        return
    if path.name == "task.yaml" and any(p.startswith("groove_") for p in path.parts):
        load_groove_config(path)  # a groove grid's run
    elif path.name == "task.yaml":
        load_config(HarmonizationConfig, path)
    elif path.name == "config.yaml":
        _load_resolved(path)
    elif "base" in yaml.safe_load(path.read_text()):
        ExperimentConfig.from_yaml(path)
    else:
        load_experiment(path)


RESULTS = sorted(p for p in (ROOT / "results").iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", RESULTS, ids=lambda p: p.name)
def test_every_committed_config_of_a_results_folder_loads(folder):
    paths = [p for name in ("task.yaml", "config.yaml", "experiment.yaml")
             for p in sorted(folder.rglob(name))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # older shapes: noted, then read
        for path in paths:
            _load_committed(path)


def test_committed_runs_hold_the_recipes_their_configs_describe_today():
    """Every committed grid run's ``task.yaml`` is the recipe its experiment (configs/, nested
    shape) asks for, so shared runs and resumes keep matching; same for the single CPU runs."""
    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for config in sorted((ROOT / "configs" / "experiments").glob("*.yaml")):
            exp = ExperimentConfig.from_yaml(config)
            for method in exp.method_list():
                for seed in exp.seeds:
                    run = run_path(exp, ROOT / "results" / exp.name, method, seed)
                    if (run / "task.yaml").is_file():
                        check_shared_run(exp.run_config(method, seed), run)  # raises if not
                        checked += 1
        # (pop909_shipped/ predates the explicit structure_map: legacy, then the default map)
        for name in ("pop909_rope_pool_bin", "pop909_rope_pool_time"):
            task = ROOT / "results" / "harmonization_cpu" / name / "task.yaml"
            recipe = ROOT / "configs" / "harmonization" / f"{name}.yaml"
            assert load_config(HarmonizationConfig, task).recipe() == load_config(
                HarmonizationConfig, recipe).recipe(), task
            checked += 1
    assert checked >= 100
