"""Learning-rate schedules: linear warmup, epoch-wise decay, cosine."""

import math

import pytest
import torch

from stripes.training.schedule import (
    WarmupCosine,
    WarmupDecay,
    adam_warmup_decay,
    build_schedule,
)


def lrs(scheduler, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def test_warmup_then_epoch_decay_shape():
    opt, sched = adam_warmup_decay([torch.nn.Parameter(torch.zeros(1))], 1.0, warmup_steps=4,
                                   steps_per_epoch=5, decay=0.5)
    assert isinstance(opt, torch.optim.Adam)
    got = lrs(sched, 12)
    expected = [0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert got == pytest.approx(expected)


def test_warmup_cosine_reaches_peak_then_decays_to_floor():
    f = WarmupCosine(warmup_steps=10, total_steps=110, min_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    tail = [f(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(tail, tail[1:], strict=False))
    assert f(35) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)))


def test_constant_schedule_only_warms_up():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = build_schedule("constant", opt, warmup_steps=2, steps_per_epoch=3, total_steps=9,
                           decay=0.1)
    assert lrs(sched, 6) == pytest.approx([1.0, 2.0, 2.0, 2.0, 2.0, 2.0])


def test_schedule_state_round_trips_through_state_dict():
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(params, lr=1.0)
    sched = build_schedule("warmup_cosine", opt, warmup_steps=3, steps_per_epoch=4,
                           total_steps=20)
    lrs(sched, 7)
    opt2 = torch.optim.SGD(params, lr=1.0)
    sched2 = build_schedule("warmup_cosine", opt2, warmup_steps=3, steps_per_epoch=4,
                            total_steps=20)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert lrs(sched2, 5) == lrs(sched, 5)


def test_no_warmup_and_unknown_kind():
    assert WarmupDecay(0, 10, 0.9)(0) == 1.0
    assert WarmupDecay(0, 10, 0.9)(25) == pytest.approx(0.81)
    with pytest.raises(ValueError):
        build_schedule("linear", torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                       warmup_steps=0, steps_per_epoch=1, total_steps=1)
