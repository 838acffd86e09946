"""Two gloo processes with half the batch each train the same model as one process."""

import os
import socket

import torch
import torch.multiprocessing as mp
from torch.utils.data import TensorDataset

from stripes.training.checkpoint import load_checkpoint
from stripes.training.loop import RunConfig, TrainConfig, train


def data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, 6, generator=g)
    y = (torch.rand(n, 10, 4, generator=g) > 0.5).float()
    return TensorDataset(x, y)


def make_model() -> torch.nn.Module:
    torch.manual_seed(5)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))


def bce_loss(model, batch):
    x, y = batch
    return torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)


def config(out_dir: str) -> tuple[TrainConfig, RunConfig]:
    return (TrainConfig(epochs=2, batch_size=8, lr=1e-2, warmup_steps=2, decay=0.5, grad_clip=0.3,
                        log_every=1, eval_every=3, checkpoint_every=0, curriculum=[(1, 5)],
                        seed=3),
            RunConfig(out_dir=out_dir, progress=False, tensorboard=False))


def worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    summary = train(make_model(), bce_loss, data(32, 0), data(8, 1), *config(out_dir))
    torch.save(summary, os.path.join(out_dir, f"summary{rank}.pt"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    single = train(make_model(), bce_loss, data(32, 0), data(8, 1), *config(str(tmp_path / "one")))
    out_dir = str(tmp_path / "two")
    os.makedirs(out_dir)
    mp.spawn(worker, args=(2, free_port(), out_dir), nprocs=2, join=True)

    one = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")
    two = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")
    assert one["step"] == two["step"] == 8  # 2 epochs x 32 samples / global batch 8
    assert len(two["rng"]) == 2 and two["config"]["world_size"] == 2
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key], value, rtol=1e-5, atol=1e-6)
    assert not torch.equal(one["model"]["0.weight"], make_model().state_dict()["0.weight"])
    summaries = [torch.load(os.path.join(out_dir, f"summary{r}.pt")) for r in range(2)]
    assert summaries[0]["val_loss"] == summaries[1]["val_loss"]  # reduced over ranks
    assert abs(summaries[0]["val_loss"] - single["val_loss"]) < 1e-5
