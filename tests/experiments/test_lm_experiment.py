"""The language-model experiments ([SPE] Table 6): every model of a comparison tabled and
plotted; over seeds, resumed from finished runs, and a changed experiment refused."""

import copy
import json
import math

import numpy as np
import pytest
import yaml

from stripes.music.tokenizer import build_tokenizer, notes_to_ids
from stripes.tasks.lm.data import save_token_corpus


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def tiny_experiment(tmp_path_factory, tokenizer) -> dict:
    """A tiny language-model experiment on synthetic tokens (trained by the tests, a few steps)."""
    rng = np.random.default_rng(0)
    pieces = [notes_to_ids(tokenizer, np.array(
        [(0, b * 64 + q * 16, 16, rng.integers(60, 76)) for b in range(6) for q in range(4)]
        + [(1, b * 64, 64, rng.integers(40, 52)) for b in range(6)]), [0, 1]) for _ in range(8)]
    root = tmp_path_factory.mktemp("lm_tokens")
    corpus = save_token_corpus(root / "tokens", pieces, [0] * 5 + [1] * 3, tokenizer)
    return {"name": "tiny",
            "data": {"corpus": str(corpus), "train_length": 32, "eval_length": 64},
            "model": {"d_model": 32, "n_layers": 2, "n_heads": 2,
                      "attention": {"chunk_size": 16}, "pe": {"kind": "none"}},
            "train": {"epochs": 1, "batch_size": 2, "schedule": "warmup_cosine", "seed": 1,
                      "lr": 0.002},
            "run": {"max_steps": 3, "progress": False, "tensorboard": False},
            "eval": {"checkpoint": "last.pt", "bucket": 8, "realizations": 2, "probe_length": 16,
                     "attention_length": 16, "prompts": 0, "prompt_tokens": 40,
                     "continuation_tokens": 24}}


def test_lm_comparison_writes_one_table_and_plot_for_every_model(tiny_experiment, tmp_path):
    from stripes.experiments.lm import run_lm_comparison

    base = copy.deepcopy(tiny_experiment)
    paths = []
    for name, pe in (("ape", "sinusoidal"), ("nope", "none")):
        cfg = {**base, "name": name, "model": {**base["model"], "pe": {"kind": pe}}}
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(yaml.safe_dump(cfg))
    root = run_lm_comparison(paths, tmp_path / "results", "test", ["run.max_steps=2"])
    assert root == tmp_path / "results" / "lm_test"
    table = (root / "results.md").read_text()
    assert "| ape | sinusoidal |" in table and "| nope | none |" in table
    assert [r["name"] for r in json.loads((root / "results.json").read_text())] == ["ape", "nope"]
    assert (root / "loss_by_position.png").stat().st_size > 1000
    assert (root / "pe_metrics_by_position.png").stat().st_size > 1000


def test_lm_comparison_over_seeds_resumes_and_refuses_a_changed_experiment(
        tiny_experiment, tmp_path, tokenizer):
    from stripes.config import ConfigError
    from stripes.experiments.lm import run_lm_comparison

    base = copy.deepcopy(tiny_experiment)
    paths = []
    for name, pe, params in (("ape", "sinusoidal", {}), ("nope", "none", {})):
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(yaml.safe_dump({**base, "name": name, "model": {
            **base["model"], "pe": {"kind": pe, "params": params}}}))
    args = (paths, tmp_path / "results", "seeds", ["run.max_steps=2"])
    root = run_lm_comparison(*args, seeds=[0, 1], style=False)
    runs = [json.loads((root / "runs" / m / f"seed{s}" / "eval" / "results.json").read_text())[0]
            for m in ("ape", "nope") for s in (0, 1)]
    assert [r["seed"] for r in runs] == [0, 1, 0, 1]
    assert runs[0]["loss"] != runs[1]["loss"]  # another seed, another model
    table = json.loads((root / "table6.json").read_text())
    assert table["losses"]["ape"]["beyond"] == {"0": runs[0]["loss"]["beyond"],
                                                "1": runs[1]["loss"]["beyond"]}
    assert "| APE (sinusoidal) | 2 |" in (root / "table6.md").read_text()
    assert "| *unigram (no context)* |" in (root / "table6.md").read_text()
    assert table["floors"]["uniform"]["within"] == pytest.approx(math.log(len(tokenizer)))
    assert "| ape | 1 | sinusoidal |" in (root / "results.md").read_text()  # a seed column
    ckpt = root / "runs" / "ape" / "seed1" / "checkpoints" / "last.pt"
    stamp = ckpt.stat().st_mtime_ns
    run_lm_comparison(*args, seeds=[0, 1], style=False)  # finished: read back, not retrained
    assert ckpt.stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match="another experiment"):
        run_lm_comparison(paths, tmp_path / "results", "seeds", ["run.max_steps=3"],
                          seeds=[0], style=False)
