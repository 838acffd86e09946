"""Checkpoints: full round trip, atomic writes, versions, RNG states, config.yaml beside."""

import random
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import yaml

from stripes.training import checkpoint as ckpt_mod
from stripes.training.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from stripes.training.schedule import build_schedule


@dataclass
class TinyConfig:
    width: int = 3
    stages: tuple = ((0, 16), (2, 32))


def make_state(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    sched = build_schedule("warmup_decay", opt, warmup_steps=2, steps_per_epoch=3, total_steps=9,
                           decay=0.5)
    return model, opt, sched


def test_checkpoint_round_trip_restores_every_state(tmp_path):
    model, opt, sched = make_state(0)
    for _ in range(4):
        model(torch.randn(5, 3)).pow(2).mean().backward()
        opt.step()
        sched.step()
    path = save_checkpoint(tmp_path / "ck" / "last.pt", model=model, optimizer=opt,
                           scheduler=sched, step=4, epoch=1,
                           data_position={"epoch": 1, "batch": 1}, config=TinyConfig())
    ck = load_checkpoint(path)
    assert ck["step"] == 4 and ck["epoch"] == 1 and ck["data_position"] == {"epoch": 1, "batch": 1}
    assert set(ck["versions"]) == {"stripes", "torch", "numpy", "python"}
    assert ck["config"] == {"width": 3, "stages": [[0, 16], [2, 32]]}
    assert yaml.safe_load((path.parent / "config.yaml").read_text()) == ck["config"]

    model2, opt2, sched2 = make_state(1)
    restore_checkpoint(ck, model2, opt2, sched2, restore_rng=False)
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert sched2.last_epoch == 4 and opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    moments = [o.state_dict()["state"][0]["exp_avg"] for o in (opt, opt2)]
    assert torch.equal(*moments)


def test_rng_state_round_trip_replays_every_generator():
    state = capture_rng_state()
    first = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(state)
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1]) and first[2] == second[2]


def test_rng_state_survives_save_and_safe_load(tmp_path):
    np.random.randn()  # leave a cached gaussian in numpy's state
    model, _, _ = make_state(0)
    path = save_checkpoint(tmp_path / "a.pt", model=model)
    expected = (torch.rand(2), np.random.randn(2), random.random())
    restore_checkpoint(load_checkpoint(path), model)
    assert torch.equal(torch.rand(2), expected[0])
    assert np.array_equal(np.random.randn(2), expected[1]) and random.random() == expected[2]


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    model, opt, _ = make_state(0)
    path = save_checkpoint(tmp_path / "last.pt", model=model, step=1)
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, model=model, optimizer=opt, step=2)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left


def test_ddp_like_wrapper_is_unwrapped(tmp_path):
    model, _, _ = make_state(0)
    wrapper = torch.nn.Module()
    wrapper.module = model
    ck = load_checkpoint(save_checkpoint(tmp_path / "w.pt", model=wrapper))
    assert set(ck["model"]) == {"weight", "bias"}
