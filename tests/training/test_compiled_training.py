"""``run.compile``: the training loop trains ``torch.compile(model, fullgraph=True)`` (Inductor)
and logs the first step's time; its losses and weights follow the eager run's."""

import csv
import logging

import pytest
import torch
from torch.utils.data import TensorDataset

from stripes.attention import AttentionConfig
from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig
from stripes.training.config import split_run_settings
from stripes.training.loop import RunConfig, TrainConfig, train


def _model() -> StripesTransformer:
    cfg = ModelConfig(input_kind="tokens", input_dim=13, output_dim=13, d_model=16, n_layers=1,
                      n_heads=2, dropout=0.0, attention=AttentionConfig("linear", chunk_size=8),
                      pe=PositionalConfig("rope_pool"), max_len=32)
    torch.manual_seed(0)
    return StripesTransformer(cfg)


def _loss(model, batch):
    (ids,) = batch
    logits, _ = model(ids)
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())


def _losses(run_dir) -> list[float]:
    with (run_dir / "log.csv").open() as f:
        return [float(r["loss"]) for r in csv.DictReader(f) if r["split"] == "train"]


@pytest.mark.inductor
def test_compiled_run_follows_the_eager_run_and_logs_its_compile_time(tmp_path, caplog):
    ids = torch.randint(0, 13, (16, 21), generator=torch.Generator().manual_seed(1))
    runs = {}
    for name, compiled in (("eager", False), ("compiled", True)):
        recipe, run = split_run_settings(dict(epochs=1, batch_size=4, lr=1e-2, log_every=1,
                                              out_dir=str(tmp_path / name), progress=False,
                                              seed=3, compile=compiled))
        torch._dynamo.reset()
        with caplog.at_level(logging.INFO):
            train(_model(), _loss, TensorDataset(ids), None, TrainConfig(**recipe),
                  RunConfig(**run))
        runs[name] = _losses(tmp_path / name)
    assert len(runs["eager"]) == 4
    assert runs["compiled"] == pytest.approx(runs["eager"], rel=1e-4)
    assert "the first compiled training step took" in caplog.text
