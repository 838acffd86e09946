"""A task-agnostic training loop: one process or ``torchrun`` data parallelism, same code path.

``train(model, loss_fn, train_dataset, val_dataset, config, run, collate_fn)`` trains any module
whose loss ``loss_fn(model, batch) -> scalar`` can be computed from a batch (BCE on 384 logits per
step for harmonization, cross-entropy for a language model), following the recipe ``config`` (a
:class:`TrainConfig`) with the run settings ``run`` (a :class:`RunConfig`: folder, device,
workers, progress, resume, max_steps). The loop never imports ``stripes.models``.

Contracts and choices:

- **Batches** (nested tensors, dicts, lists) come from ``collate_fn`` (default: PyTorch's) and go
  to the device. ``loss_fn`` must call ``model(...)``: under DDP, the forward syncs gradients.
- **Batch size** is global: each of the W processes reads ``batch_size / W`` samples per step.
- **Epochs of the data**: a dataset with ``set_epoch`` (:class:`EpochDataset`) is told each
  epoch before it is read, so its own draws may change per epoch and still resume exactly.
- **Order**: epoch ``e`` reads the permutation of ``DistributedSampler(seed=seed).set_epoch(e)``
  (rank ``r`` takes positions ``r, r+W, ...``), so one process with batch B and W processes with
  B/W each see the same global batches. Global RNGs are seeded with ``seed + rank``.
- **Length curriculum**: ``curriculum = [(start_epoch, max_len), ...]``; from ``start_epoch`` on,
  every training tensor with at least 2 dims is cropped to its first ``max_len`` steps along dim 1
  (``[B, T, ...]``). Validation batches are never cropped.
- **Schedule**: see :mod:`stripes.training.schedule`; Adam or AdamW (``optimizer``,
  ``weight_decay``), fused where this torch supports it (one kernel per step instead of a dozen
  element-wise passes over every parameter: about 10x less optimizer time on the CPU); optional
  gradient-norm clipping.
- **Precision**: ``precision="bf16"`` runs forward and loss under ``torch.autocast`` in bfloat16
  (CPU with AVX-512 BF16, or CUDA); parameters, gradients and optimizer state stay float32.
- **Divergence**: a non-finite training loss at a log step, or a non-finite validation loss,
  stops the run with :class:`TrainingDiverged`; the checkpoints already written (all finite)
  are kept and a non-finite validation never becomes ``best.pt``.
- **Validation** every ``eval_every`` steps (0: at each epoch end) and at the end: the
  sample-weighted mean loss (DistributedSampler pads the set to a multiple of W).
- **Checkpoints**: ``checkpoints/last.pt`` every ``checkpoint_every`` steps (0: each epoch end) and
  at the end; ``checkpoints/best.pt`` at each new best validation loss; with ``keep_every``,
  the model weights alone every ``keep_every`` steps as ``checkpoints/step_NNNNNN.pt`` (for
  learning curves scored after the run). Resuming from one (``run.resume_from``) restores
  model, optimizer, schedule, step, data position and every rank's RNG state, so on CPU
  (``run.num_workers=0``) the resumed run equals an uninterrupted one bit for bit. With
  ``num_workers > 0`` this holds only for datasets without randomness of their own.
- **Stopping early**: ``run.max_steps`` ends this invocation after so many steps in all (the
  schedule still spans every epoch); resuming with a larger one continues the same run.
- **Run folder** ``run.out_dir``: ``task.yaml`` (the caller's ``recipe``, when it hands one;
  written at the start, kept on resume), ``config.yaml`` (the ``train``, ``run`` and ``model``
  configs), ``log.csv`` (``step`` done, ``epoch`` = epochs completed, ``split`` train/val,
  ``loss``: train rows average the steps since the previous row, ``lr``: of the row's last
  step), ``tb/`` (TensorBoard, when installed), ``checkpoints/``.
- **Compilation**: ``run.compile`` trains ``torch.compile(model, fullgraph=True)`` (a graph
  break is an error, not a silent slowdown); the first step's time, compilation included, is
  logged.
- **Distributed**: with ``WORLD_SIZE > 1`` in the environment (``torchrun``), the process group is
  initialized from the environment (gloo on CPU, nccl on CUDA) and the model wrapped in DDP.
"""

from __future__ import annotations

import csv
import io
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from stripes.files import atomic_write
from stripes.training.batches import batch_size_of, crop_time, max_len_at, move_to
from stripes.training.checkpoint import (
    capture_rng_state,
    resume_checkpoint,
    save_checkpoint,
    to_plain,
    write_config,
)
from stripes.training.config import PRECISIONS, RunConfig, TrainConfig, build_optimizer
from stripes.training.distributed import DistContext, setup_distributed
from stripes.training.schedule import build_schedule

logger = logging.getLogger(__name__)


@runtime_checkable
class EpochDataset(Protocol):
    """A dataset whose items depend on the epoch (e.g. augmentation redrawn every epoch): the
    loop calls ``set_epoch(e)`` before reading epoch ``e``, resumed or not."""

    def set_epoch(self, epoch: int) -> None: ...


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped with its finite checkpoints kept."""


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class RunLog:
    """``log.csv`` (and TensorBoard when installed), written by rank 0 only."""

    FIELDS = ("step", "epoch", "split", "loss", "lr")

    def __init__(self, run_dir: Path, enabled: bool, resume_step: int | None, tensorboard: bool):
        self.enabled, self.path = enabled, run_dir / "log.csv"
        self.writer: Any = None
        if not enabled:
            return
        rows = []
        if resume_step is not None and self.path.exists():  # keep rows up to the checkpoint
            with self.path.open(newline="") as f:
                rows = [r for r in list(csv.reader(f))[1:] if int(r[0]) <= resume_step]
        text = io.StringIO(newline="")
        csv.writer(text).writerows([self.FIELDS, *rows])
        atomic_write(self.path, lambda f: f.write(text.getvalue().encode()))  # never half-cut
        if tensorboard:
            self.writer = tensorboard_writer(run_dir / "tb")

    def write(self, step: int, epoch: int, split: str, loss: float, lr: float) -> None:
        if not self.enabled:
            return
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([step, epoch, split, f"{loss:.6g}", f"{lr:.6g}"])
        if self.writer is not None:
            self.writer.add_scalar(f"loss/{split}", loss, step)
            self.writer.add_scalar("lr", lr, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def tensorboard_writer(folder: Path) -> Any:
    """A TensorBoard ``SummaryWriter`` on ``folder``, or None without tensorboard installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # optional dependency
        return None
    return SummaryWriter(str(folder))


class Trainer:
    """The state of one run; :func:`train` is its public face."""

    def __init__(self, model, loss_fn, train_dataset, val_dataset, config: TrainConfig,
                 run: RunConfig, collate_fn, model_config, ctx: DistContext, recipe: Any = None):
        # The run's own state first, then the optimizer (config), its schedule and, last, what
        # is read from and written to checkpoints and the run folder.
        if config.batch_size % ctx.world_size:
            raise ValueError(f"batch_size {config.batch_size} not divisible by {ctx.world_size}")
        if config.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, "
                             f"got {config.precision!r}")
        self.cfg, self.run_cfg, self.ctx = config, run, ctx
        self.loss_fn, self.collate_fn = loss_fn, collate_fn
        self.train_dataset, self.val_dataset = train_dataset, val_dataset
        self.local_batch = config.batch_size // ctx.world_size
        self.run_dir, self.is_main = Path(run.out_dir), ctx.rank == 0
        self.step, self.epoch, self.batch = 0, 0, 0
        self.first_step = 0  # the step this invocation starts from (after a resume)
        self.best_val: float | None = None
        self.last_val: float | None = None
        self.train_loss: float | None = None
        self.last_eval_step = -1
        seed_everything(config.seed + ctx.rank)
        self.raw_model = model.to(ctx.device)
        steps_per_epoch = len(self.epoch_batches(0))
        self.optimizer = build_optimizer(self.raw_model.parameters(), config.optimizer,
                                         config.lr, config.weight_decay)
        self.scheduler = build_schedule(
            config.schedule, self.optimizer, warmup_steps=config.warmup_steps,
            steps_per_epoch=steps_per_epoch, total_steps=steps_per_epoch * config.epochs,
            decay=config.decay, min_ratio=config.min_lr_ratio)
        if run.resume_from:
            ckpt = resume_checkpoint(run.resume_from, self.raw_model, self.optimizer,
                                     self.scheduler, rank=ctx.rank, world_size=ctx.world_size)
            position, extra = ckpt["data_position"], ckpt["extra"]
            self.step, self.epoch, self.batch = ckpt["step"], position["epoch"], position["batch"]
            self.best_val = extra.get("best_val")
            self.last_eval_step = extra.get("last_eval_step", -1)
            self.first_step = self.step
        self.model = self.raw_model
        if ctx.world_size > 1:
            ids = [ctx.device.index] if ctx.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.raw_model, device_ids=ids)
        if run.compile:  # lazily: the first call of each mode (train, eval) compiles
            self.model = torch.compile(self.model, fullgraph=True)
        self.resolved = {"train": to_plain(config), "run": to_plain(run),
                         "model": to_plain(model_config), "world_size": ctx.world_size}
        if self.is_main:
            write_config(self.resolved, self.run_dir / "config.yaml")
            if recipe is not None and not run.resume_from:  # a resumed run keeps its recipe
                write_config(recipe, self.run_dir / "task.yaml")
        resume_step = self.step if run.resume_from else None
        self.log = RunLog(self.run_dir, self.is_main, resume_step, run.tensorboard)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of sample indices for ``epoch``."""
        sampler: DistributedSampler[int] = DistributedSampler(
            self.train_dataset, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
            shuffle=True, seed=self.cfg.seed)
        sampler.set_epoch(epoch)
        idx = list(sampler)
        b = self.local_batch
        batches = [idx[i : i + b] for i in range(0, len(idx), b)]
        if self.cfg.drop_last and batches and len(batches[-1]) < b:
            batches.pop()
        return batches

    def loader(self, dataset, batches, epoch: int) -> DataLoader:
        # An explicit generator keeps DataLoader from drawing on the global RNG (resume equality).
        gen = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        return DataLoader(dataset, batch_sampler=batches, collate_fn=self.collate_fn,
                          num_workers=self.run_cfg.num_workers, generator=gen,
                          pin_memory=self.ctx.device.type == "cuda")

    def mean_over_ranks(self, total: torch.Tensor, count: int) -> float:
        """``sum(total) / sum(count)`` over all processes."""
        t = torch.stack([total.double(), total.new_tensor(count, dtype=torch.float64)])
        if self.ctx.world_size > 1:
            dist.all_reduce(t)
        return (t[0] / t[1]).item()

    def autocast(self):
        """The precision context of forward and loss (a no-op for fp32)."""
        dtype = PRECISIONS[self.cfg.precision]
        return torch.autocast(self.ctx.device.type, dtype=dtype or torch.float32,
                              enabled=dtype is not None)

    def train_step(self, batch) -> torch.Tensor:
        self.model.train()
        with self.autocast():
            loss = self.loss_fn(self.model, batch).float()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), self.cfg.grad_clip)
        self.step_lr = self.current_lr()
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return loss.detach()

    @torch.no_grad()
    def evaluate(self) -> float:
        """Sample-weighted mean validation loss over all ranks."""
        self.model.eval()
        sampler: DistributedSampler[int] = DistributedSampler(
            self.val_dataset, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
            shuffle=False)
        idx = list(sampler)
        batches = [idx[i : i + self.local_batch] for i in range(0, len(idx), self.local_batch)]
        total, count = torch.zeros((), dtype=torch.float64, device=self.ctx.device), 0
        for batch in self.loader(self.val_dataset, batches, 0):
            batch = move_to(batch, self.ctx.device)
            n = batch_size_of(batch)
            with self.autocast():
                total += self.loss_fn(self.model, batch).double() * n
            count += n
        self.last_val, self.last_eval_step = self.mean_over_ranks(total, count), self.step
        self.log.write(self.step, self.epoch, "val", self.last_val, self.current_lr())
        if not np.isfinite(self.last_val):
            raise TrainingDiverged(f"validation loss is {self.last_val} at step {self.step}; "
                                   "lower lr or enable grad_clip (checkpoints kept)")
        if self.best_val is None or self.last_val < self.best_val:
            self.best_val = self.last_val
            self.save("best.pt")
        return self.last_val

    def current_lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def save(self, name: str) -> Path:
        """Save a checkpoint (collective: every rank contributes its RNG state).

        Refuses (:class:`TrainingDiverged`) when a parameter is no longer finite, so that no
        checkpoint of a diverged run is ever written over a finite one.
        """
        if not all(bool(torch.isfinite(p).all()) for p in self.raw_model.parameters()):
            raise TrainingDiverged(f"non-finite parameters at step {self.step}; not saving "
                                   f"{name} (earlier checkpoints kept)")
        rng: list[Any] = [capture_rng_state()]
        if self.ctx.world_size > 1:
            rng = [None] * self.ctx.world_size
            dist.all_gather_object(rng, capture_rng_state())
        path = self.run_dir / "checkpoints" / name
        if self.ctx.rank == 0:
            save_checkpoint(path, model=self.raw_model, optimizer=self.optimizer,
                            scheduler=self.scheduler, step=self.step, epoch=self.epoch,
                            data_position={"epoch": self.epoch, "batch": self.batch},
                            config=self.resolved, rng=rng, extra={
                                "best_val": self.best_val, "last_eval_step": self.last_eval_step})
        return path

    def log_train(self, loss_sum: torch.Tensor, count: int) -> None:
        self.train_loss = self.mean_over_ranks(loss_sum, count)
        self.log.write(self.step, self.epoch, "train", self.train_loss, self.step_lr)
        if not np.isfinite(self.train_loss):
            raise TrainingDiverged(f"training loss is {self.train_loss} at step {self.step}; "
                                   "lower lr or enable grad_clip (finite checkpoints kept)")

    def after_step(self) -> None:
        cfg = self.cfg
        if cfg.eval_every and self.val_dataset is not None and self.step % cfg.eval_every == 0:
            self.evaluate()
        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
            self.save("last.pt")
        if cfg.keep_every and self.step % cfg.keep_every == 0 and self.is_main:
            self.keep_weights()

    def keep_weights(self) -> Path:
        """The model weights alone at this step (atomically), for curves scored later."""
        path = self.run_dir / "checkpoints" / f"step_{self.step:06d}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"model": self.raw_model.state_dict(), "step": self.step}
        atomic_write(path, lambda f: torch.save(state, f))
        return path

    def after_epoch(self) -> None:
        if not self.cfg.eval_every and self.val_dataset is not None:
            self.evaluate()
        if not self.cfg.checkpoint_every:
            self.save("last.pt")
        logger.info("epoch %d done at step %d (train loss %s, val loss %s)", self.epoch,
                    self.step, self.train_loss, self.last_val)

    def stopped(self) -> bool:
        return self.run_cfg.max_steps is not None and self.step >= self.run_cfg.max_steps

    def run_epoch(self) -> None:
        """Train from ``self.batch`` to the end of ``self.epoch`` (or until ``max_steps``)."""
        batches = self.epoch_batches(self.epoch)
        if isinstance(self.train_dataset, EpochDataset):
            self.train_dataset.set_epoch(self.epoch)
        max_len = max_len_at(self.cfg.curriculum, self.epoch)
        bar = tqdm(self.loader(self.train_dataset, batches[self.batch :], self.epoch),
                   total=len(batches), initial=self.batch, desc=f"epoch {self.epoch}",
                   disable=not (self.run_cfg.progress and self.is_main), leave=False)
        loss_sum, count = torch.zeros((), device=self.ctx.device), 0
        for batch in bar:
            started = time.perf_counter()
            loss_sum += self.train_step(crop_time(move_to(batch, self.ctx.device), max_len))
            if self.run_cfg.compile and self.step == self.first_step + 1:
                logger.info("torch.compile: the first compiled training step took %.1f s "
                            "(compilation included)", time.perf_counter() - started)
            count += 1
            self.batch += 1
            if self.step % max(1, self.cfg.log_every) == 0:
                self.log_train(loss_sum, count)
                bar.set_postfix(loss=f"{self.train_loss:.4g}")
                loss_sum, count = torch.zeros_like(loss_sum), 0
            self.after_step()
            if self.stopped():  # before the loader fetches (and maybe draws randomness) again
                break
        bar.close()
        if self.batch >= len(batches):
            self.epoch, self.batch = self.epoch + 1, 0
            self.after_epoch()

    def run(self) -> dict:
        while self.epoch < self.cfg.epochs and not self.stopped():
            self.run_epoch()
        finished = self.epoch >= self.cfg.epochs
        # No extra validation when stopped early: a resumed run would not have done it.
        if finished and self.val_dataset is not None and self.last_eval_step != self.step:
            self.evaluate()
        last = self.save("last.pt")
        self.log.close()
        return {"run_dir": str(self.run_dir), "steps": self.step, "epoch": self.epoch,
                "train_loss": self.train_loss, "val_loss": self.last_val,
                "best_val_loss": self.best_val, "checkpoint": str(last),
                "world_size": self.ctx.world_size}


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
          train_dataset, val_dataset, config: TrainConfig, run: RunConfig,
          collate_fn: Callable | None = None, *, model_config: Any = None,
          recipe: Any = None) -> dict:
    """Train ``model`` in place by the recipe ``config`` with the run settings ``run``; see the
    module docstring for every convention.

    loss_fn: ``(model, batch) -> scalar loss``. model_config: the model's config (dataclass or
    dict), saved with the run. recipe: the task's whole recipe (dataclass or dict), written as
    ``task.yaml`` when the run starts (a resumed run keeps its own). Returns a summary:
    ``run_dir, steps, epoch, train_loss, val_loss, best_val_loss, checkpoint, world_size``.
    """
    ctx = setup_distributed(run.device)
    try:
        return Trainer(model, loss_fn, train_dataset, val_dataset, config, run, collate_fn,
                       model_config, ctx, recipe).run()
    finally:
        if ctx.owns_group:
            dist.destroy_process_group()
            # gloo's worker threads drop finished collectives after ``wait()`` returns, and
            # dropping a tensor whose Python object is gone needs the GIL. A worker still
            # waiting for it when the interpreter exits aborts the process (SIGABRT), and DDP's
            # reducer keeps the group (so its threads) alive past destroy_process_group().
            # Releasing the GIL here lets such a worker finish first.
            time.sleep(0.1)


__all__ = ["RunConfig", "TrainConfig", "Trainer", "TrainingDiverged", "train"]
