"""A trained harmonizer is scored beside its floors and rule baseline, in both flavours, with
the sanity figures; structure input features reach the model."""

import json

import pytest

from stripes.config import ConfigError, from_dict
from stripes.tasks.harmonization.config import HarmonizationConfig
from stripes.tasks.harmonization.evaluate import evaluate_harmonizer
from stripes.tasks.harmonization.train import load_harmonizer, train_harmonizer


def tiny_config(cache_root, **kw) -> HarmonizationConfig:
    base = dict(data="chorales", context="bin", train_bars=4,
                test_bars=[None], max_train_windows=8, max_eval_windows=4,
                input_features=["chroma", "root", "meter"],
                model={"d_model": 16, "n_layers": 1, "n_heads": 2, "pe": {"kind": "rope_pool"}},
                train={"epochs": 1, "batch_size": 4, "keep_every": 1, "precision": "bf16",
                       "optimizer": "adamw"},
                run={"cache_dir": str(cache_root), "progress": False, "tensorboard": False})
    base.update(kw)
    return from_dict(HarmonizationConfig, base)


def test_input_features_widen_the_model_input_and_unknown_ones_are_refused(tmp_path):
    assert tiny_config(tmp_path).model.input_dim == 256 + 12 + 12 + 8
    assert tiny_config(tmp_path, input_features=[]).model.input_dim == 256
    assert tiny_config(tmp_path, context="time").model.position_dim == 1  # set by the task
    assert tiny_config(tmp_path).model.position_dim == 12
    with pytest.raises(ConfigError, match="input_features"):
        tiny_config(tmp_path, input_features=["melody"])
    with pytest.raises(ConfigError, match="binarization_criterion"):
        tiny_config(tmp_path, binarization_criterion="f2")


def test_evaluation_reports_flavours_floors_rule_and_sanity(tmp_path, chorale_cache):
    cfg = tiny_config(chorale_cache)
    train_harmonizer(cfg, tmp_path / "run", progress=False)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step_*.pt")) == [
        "step_000001.pt", "step_000002.pt"]
    model, loaded = load_harmonizer(tmp_path / "run")
    assert loaded.input_features == cfg.input_features and model.config.input_dim == 288
    assert loaded.recipe() == cfg.recipe() and loaded.run.cache_dir is None  # not the folder's
    result = evaluate_harmonizer(tmp_path / "run", settings=cfg.run)
    assert result["binarization"]["criterion"] == "frame_f1_accompaniment"
    assert result["layout"]["accompaniment"] == [1, 2]  # alto+tenor and bass are invented
    test = result["test"]["None"]
    for flavour in ("reference", "paper"):
        block = test["flavours"][flavour]
        assert block["model"]["flavour"] == flavour
        assert set(block["floors"]) == {"empty", "copy", "rule", "readout"}
        empty, rule = (block["floors"][k]["accompaniment"]["CS"]["mean"] for k in ("empty", "rule"))
        assert rule > empty  # the rule baseline plays chord tones where the floor is silent
    assert test["flavours"]["reference"]["floors"]["empty"]["accompaniment"]["CS"]["mean"] == 0
    assert test["sanity"]["rule"]["pass_share"] == 1.0
    assert 0.0 <= test["sanity"]["model"]["pass_share"] <= 1.0
    # a barely trained model: the warning names the failing share when sanity fails
    if test["sanity"]["model"]["pass_share"] < 1:
        assert "sanity" in test["warning"]
    saved = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert saved["test"]["None"]["n"] == test["n"] == len(test["songs"])


def test_windows_are_scored_alike_whatever_the_token_budget_per_batch(tmp_path, chorale_cache):
    # a long test length goes a few windows at a time (a quadratic PE's [B, H, T, T] bias must
    # fit); the grouping must not change any window's probabilities
    import numpy as np

    from stripes.tasks.harmonization.data import build_dataset, task_corpus
    from stripes.tasks.harmonization.predict import collect_windows

    cfg = tiny_config(chorale_cache)
    train_harmonizer(cfg, tmp_path / "run", progress=False)
    model, loaded = load_harmonizer(tmp_path / "run", cfg.run)
    test = build_dataset(task_corpus(loaded), loaded, "test", None, cap=4)
    longest = int(test.index[:, 2].max())
    whole = collect_windows(model, test, batch_size=4)
    one_by_one = collect_windows(model, test, batch_size=4, max_tokens=longest)
    assert len(whole) == len(one_by_one) == len(test)
    for a, b in zip(whole, one_by_one, strict=True):
        assert a["song"] == b["song"]
        np.testing.assert_allclose(a["probs"], b["probs"], atol=1e-5)
