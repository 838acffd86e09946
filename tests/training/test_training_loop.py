"""The training loop: deterministic, resumable bit for bit, logging to its run folder."""

import csv

import pytest
import torch
from torch.utils.data import TensorDataset

from stripes.training.batches import crop_time, max_len_at
from stripes.training.checkpoint import load_checkpoint
from stripes.training.config import split_run_settings
from stripes.training.loop import RunConfig, TrainConfig, train


def data(n: int = 24, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 12, 5, generator=g)
    y = (torch.rand(n, 12, 3, generator=g) > 0.5).float()
    return TensorDataset(x, y)


def make_model() -> torch.nn.Module:
    torch.manual_seed(123)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                               torch.nn.Linear(16, 3))


def bce_loss(model, batch):
    x, y = batch
    return torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)


def config(out_dir, **kw) -> tuple[TrainConfig, RunConfig]:
    """The recipe and the run settings (``kw`` may hold either)."""
    base = dict(epochs=3, batch_size=4, lr=1e-2, warmup_steps=3, decay=0.7, grad_clip=0.5,
                log_every=1, eval_every=5, checkpoint_every=4, out_dir=str(out_dir),
                curriculum=[(0, 6), (2, 12)], progress=False, seed=7)
    recipe, run = split_run_settings({**base, **kw})
    return TrainConfig(**recipe), RunConfig(**run)


def final_state(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")


def read_log(run_dir) -> list[list[str]]:
    with (run_dir / "log.csv").open() as f:
        return list(csv.reader(f))


def assert_same_states(a: dict, b: dict) -> None:
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("stop_at", [7, 12])  # mid-epoch and exactly at an epoch boundary
def test_resumed_run_equals_uninterrupted_run_bit_for_bit(tmp_path, stop_at):
    full = train(make_model(), bce_loss, data(), data(8, 1), *config(tmp_path / "full"))
    part = train(make_model(), bce_loss, data(), data(8, 1),
                 *config(tmp_path / "part", max_steps=stop_at))
    assert part["steps"] == stop_at
    resumed = train(make_model(), bce_loss, data(), data(8, 1),
                    *config(tmp_path / "part", resume_from=part["checkpoint"]))
    assert resumed["steps"] == full["steps"] == 18
    a, b = final_state(tmp_path / "full"), final_state(tmp_path / "part")
    assert_same_states(a["model"], b["model"])
    assert a["optimizer"]["state"][0]["exp_avg"].equal(b["optimizer"]["state"][0]["exp_avg"])
    assert read_log(tmp_path / "full") == read_log(tmp_path / "part")
    assert resumed["best_val_loss"] == full["best_val_loss"]


def test_same_seed_same_run_and_other_seed_differs(tmp_path):
    train(make_model(), bce_loss, data(), None, *config(tmp_path / "a", epochs=1))
    train(make_model(), bce_loss, data(), None, *config(tmp_path / "b", epochs=1))
    train(make_model(), bce_loss, data(), None, *config(tmp_path / "c", epochs=1, seed=8))
    a, b, c = (final_state(tmp_path / n)["model"] for n in "abc")
    assert_same_states(a, b)
    assert not torch.equal(a["0.weight"], c["0.weight"])


def test_run_folder_holds_config_log_and_checkpoints(tmp_path):
    summary = train(make_model(), bce_loss, data(), data(8, 1),
                    *config(tmp_path / "run", log_every=2), model_config={"d_model": 16})
    run = tmp_path / "run"
    assert (run / "config.yaml").exists()
    assert (run / "checkpoints" / "last.pt").exists() and (run / "checkpoints" / "best.pt").exists()
    ck = final_state(run)
    assert ck["config"]["model"] == {"d_model": 16}
    assert ck["config"]["train"]["curriculum"] == [[0, 6], [2, 12]]
    assert ck["config"]["run"]["out_dir"] == str(run) and "out_dir" not in ck["config"]["train"]
    assert ck["data_position"] == {"epoch": 3, "batch": 0}
    rows = read_log(run)
    assert rows[0] == ["step", "epoch", "split", "loss", "lr"]
    assert [r[0] for r in rows[1:] if r[2] == "train"] == [str(s) for s in range(2, 19, 2)]
    assert [r[0] for r in rows[1:] if r[2] == "val"] == ["5", "10", "15", "18"]
    best_logged = min(float(r[3]) for r in rows[1:] if r[2] == "val")
    assert summary["best_val_loss"] == pytest.approx(best_logged, rel=1e-5)
    assert summary["steps"] == 18 and summary["world_size"] == 1


def test_length_curriculum_crops_training_batches(tmp_path):
    seen = []

    def loss(model, batch):
        seen.append((model.training, batch[0].shape[1]))
        return bce_loss(model, batch)

    train(make_model(), loss, data(8), data(4, 1), *config(tmp_path / "cur", batch_size=4,
                                                          eval_every=0))
    train_lengths = [t for is_train, t in seen if is_train]
    assert train_lengths == [6, 6, 6, 6, 12, 12]
    assert all(t == 12 for is_train, t in seen if not is_train)  # validation is never cropped


def test_curriculum_helpers():
    assert max_len_at([(0, 64), (3, 256), (1, 128)], 0) == 64
    assert max_len_at([(0, 64), (3, 256), (1, 128)], 2) == 128
    assert max_len_at([(1, 64)], 0) is None
    batch = {"x": torch.zeros(2, 10, 3), "ids": torch.zeros(2), "tags": [torch.zeros(2, 10)]}
    out = crop_time(batch, 4)
    assert out["x"].shape == (2, 4, 3) and out["ids"].shape == (2,)
    assert out["tags"][0].shape == (2, 4)


def test_language_model_cross_entropy_loss_decreases(tmp_path):
    torch.manual_seed(0)
    tokens = torch.arange(16).repeat(32, 2)[:, :17] % 8  # a learnable repeating sequence
    lm = torch.nn.Sequential(torch.nn.Embedding(8, 32), torch.nn.Linear(32, 8))

    def ce(model, batch):
        (seq,) = batch
        logits = model(seq[:, :-1])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 8), seq[:, 1:].reshape(-1))

    summary = train(lm, ce, TensorDataset(tokens), TensorDataset(tokens[:8]),
                    TrainConfig(epochs=4, batch_size=8, lr=0.05, schedule="warmup_cosine",
                                warmup_steps=2),
                    RunConfig(out_dir=str(tmp_path / "lm"), progress=False))
    rows = read_log(tmp_path / "lm")
    first_val = float(next(r[3] for r in rows[1:] if r[2] == "val"))
    assert summary["val_loss"] < 0.5 * first_val


def test_batch_size_must_divide_over_processes(tmp_path, monkeypatch):
    from stripes.training import loop

    monkeypatch.setattr(loop, "setup_distributed",
                        lambda device: loop.DistContext(rank=0, world_size=3))
    with pytest.raises(ValueError):
        train(make_model(), bce_loss, data(), None, *config(tmp_path / "x", batch_size=4))


def test_bf16_autocast_and_adamw_train_with_float32_state(tmp_path):
    summary = train(make_model(), bce_loss, data(), data(8, 1),
                    *config(tmp_path / "bf16", precision="bf16", optimizer="adamw",
                           weight_decay=0.1))
    ck = final_state(tmp_path / "bf16")
    assert all(v.dtype == torch.float32 for v in ck["model"].values())
    assert ck["optimizer"]["param_groups"][0]["weight_decay"] == 0.1
    assert summary["val_loss"] == pytest.approx(summary["val_loss"])  # finite, not NaN
    with pytest.raises(ValueError, match="precision"):
        train(make_model(), bce_loss, data(), None, *config(tmp_path / "x", precision="fp8"))


def test_a_diverging_run_stops_and_never_saves_non_finite_weights(tmp_path):
    from stripes.training.loop import TrainingDiverged

    def exploding_loss(model, batch):  # finite for the first steps, then NaN
        loss = bce_loss(model, batch)
        return loss * float("nan") if exploding_loss.calls.append(1) or len(
            exploding_loss.calls) > 6 else loss

    exploding_loss.calls = []
    with pytest.raises(TrainingDiverged):
        train(make_model(), exploding_loss, data(), data(8, 1),
              *config(tmp_path / "nan", eval_every=2, checkpoint_every=2, curriculum=[]))
    for name in ("last.pt", "best.pt"):
        state = load_checkpoint(tmp_path / "nan" / "checkpoints" / name)["model"]
        assert all(bool(torch.isfinite(v).all()) for v in state.values())


class EpochTagged(TensorDataset):
    """Items that record the epoch they were drawn in (as an augmentation redrawn per epoch)."""

    def __init__(self, base: TensorDataset):
        super().__init__(*base.tensors)
        self.epoch = -1
        self.seen: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i):
        self.seen.append(self.epoch)
        return super().__getitem__(i)


def test_a_dataset_with_set_epoch_is_told_each_epoch_also_when_resumed(tmp_path):
    full = EpochTagged(data())  # 24 items, batch 4: 6 steps an epoch
    train(make_model(), bce_loss, full, None, *config(tmp_path / "a", curriculum=[]))
    assert full.seen == [0] * 24 + [1] * 24 + [2] * 24
    part = EpochTagged(data())
    train(make_model(), bce_loss, part, None, *config(tmp_path / "b", curriculum=[],
                                                      max_steps=8))
    rest = EpochTagged(data())
    train(make_model(), bce_loss, rest, None, *config(
        tmp_path / "b", curriculum=[], resume_from=str(tmp_path / "b/checkpoints/last.pt")))
    assert part.seen + rest.seen == full.seen
