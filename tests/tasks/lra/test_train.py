"""`stripes lra train` / `evaluate` end to end on a tiny generated ListOps: the run folder, the
resolved recipe, resuming (bit for bit, FAVOR+ redraws included), another recipe refused, the
accuracy beside the majority floor; every recipe in configs/lra/ loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stripes.config import ConfigError
from stripes.tasks.lra.config import LRAConfig, load_lra_config
from stripes.tasks.lra.data import collate_lra, load_split
from stripes.tasks.lra.train import evaluate_lra, load_classifier, train_lra

CONFIGS = [p for p in sorted((Path(__file__).resolve().parents[3] / "configs" / "lra")
                             .glob("*.yaml")) if not p.name.startswith("grid_")]


def tiny(tmp_path: Path, attention: dict | None = None, **train) -> LRAConfig:
    return load_lra_config({
        "classifier": {"model": {"input_kind": "tokens", "input_dim": 17, "output_dim": 10,
                                 "d_model": 16, "n_layers": 1, "n_heads": 2, "max_len": 40,
                                 "attention": attention or {"kind": "linear",
                                                            "feature_map": "relu",
                                                            "causal": False}},
                       "mlp_dim": 16, "redraw_every": 1 if attention else 0},
        "data": {"task": "listops", "max_length": 40,
                 "generate": {"min_length": 4, "max_length": 30, "train": 48, "val": 16,
                              "test": 16, "seed": 1}},
        "train": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "log_every": 1, **train},
        "run": {"cache_dir": str(tmp_path / "cache"), "progress": False,
                "tensorboard": False},
    })


def test_every_recipe_loads():
    assert {p.stem for p in CONFIGS} >= {"listops", "text", "retrieval", "image", "listops_cpu"}
    for path in CONFIGS:
        cfg = load_lra_config(path)
        assert not cfg.classifier.model.attention.causal


def test_train_then_evaluate(tmp_path):
    cfg = tiny(tmp_path)
    run = train_lra(cfg, tmp_path / "run")
    assert (run / "task.yaml").is_file() and (run / "checkpoints" / "last.pt").is_file()
    res = evaluate_lra(run)
    assert json.loads((run / "evaluation.json").read_text()) == res
    for split in ("val", "test"):
        assert 0 <= res[split]["accuracy"] <= 1 and res[split]["examples"] == 16
        labels = load_split(cfg, split).labels
        assert res[split]["majority_floor"] == pytest.approx(
            float((labels == res["majority_class"]).mean()))


def test_batches_lead_with_the_class_token_and_cut_to_max_length(tmp_path):
    cfg = tiny(tmp_path)
    split = load_split(cfg, "train")
    batch = collate_lra([split[i] for i in range(8)])
    assert (batch["ids"][:, 0] == 1).all() and batch["ids"].shape[1] <= cfg.data.max_length
    assert batch["mask"].sum(1).tolist() == [len(split.docs[0][i]) + 1 for i in range(8)]


@pytest.mark.parametrize("attention", [None, {"kind": "linear", "feature_map": "favor",
                                              "n_features": 8, "causal": False}])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, attention):
    whole = train_lra(tiny(tmp_path, attention), tmp_path / "whole")
    part = tiny(tmp_path, attention)
    train_lra(part, tmp_path / "part", max_steps=5)
    assert torch.load(tmp_path / "part" / "checkpoints" / "last.pt")["step"] == 5
    resumed = train_lra(part, tmp_path / "part")  # same recipe: continues from last.pt
    a = load_classifier(whole / "checkpoints" / "last.pt").state_dict()
    b = load_classifier(resumed / "checkpoints" / "last.pt").state_dict()
    assert int(b["steps"]) == 12  # 2 epochs of 6 batches, counted across the resume
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_another_recipe_in_the_folder_is_refused(tmp_path):
    train_lra(tiny(tmp_path), tmp_path / "run", max_steps=1)
    with pytest.raises(ConfigError, match="another recipe"):
        train_lra(tiny(tmp_path, lr=2e-3), tmp_path / "run")


def test_a_wrong_head_for_the_task_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="dual"):
        load_lra_config({"classifier": {"model": {"input_kind": "tokens", "input_dim": 258,
                                                  "output_dim": 2, "max_len": 4000,
                                                  "attention": {"causal": False}}},
                         "data": {"task": "retrieval", "max_length": 4000}})
