"""``LRAConfig``: one Long-Range Arena run as configuration (``configs/lra/*.yaml``).

It nests ``classifier`` (:class:`~.model.ClassifierConfig`: the encoder's ``ModelConfig`` and the
head), ``data`` (:class:`LRAData`: which task, how long a document, how many training examples,
and for ListOps optionally how to generate the files), ``train`` (the recipe,
:class:`~stripes.training.config.TrainConfig`) and ``run`` (device, folder, workers, the data
folder ``data_root``; never part of the recipe, never saved in ``task.yaml``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stripes.config import ConfigError, check_sizes, from_dict, load_config
from stripes.tasks.lra.model import ClassifierConfig
from stripes.tasks.lra.vocab import BYTE_VOCAB_SIZE, LISTOPS_VOCAB_SIZE
from stripes.training.config import RunConfig, TrainConfig

#: task -> (vocabulary size, classes, documents per example)
TASKS = {
    "listops": (LISTOPS_VOCAB_SIZE, 10, 1),
    "text": (BYTE_VOCAB_SIZE, 2, 1),
    "retrieval": (BYTE_VOCAB_SIZE, 2, 2),
    "image": (BYTE_VOCAB_SIZE, 10, 1),  # pixel p is id p + 2, as a byte
}


@dataclass
class ListOpsGeneration:
    """ListOps files drawn by the LRA recipe (``stripes lra listops``) when the folder lacks
    them: lengths in ``(min_length, max_length)`` exclusive, split sizes, seed."""

    min_length: int = 500
    max_length: int = 2000
    train: int = 96_000
    val: int = 2_000
    test: int = 2_000
    seed: int = 0

    def __post_init__(self):
        check_sizes(self, 1, "train", "val", "test")
        check_sizes(self, 0, "min_length", "seed")

    def folder_name(self) -> str:
        return (f"listops_{self.min_length}-{self.max_length}_{self.train}-{self.val}-"
                f"{self.test}_s{self.seed}")


@dataclass
class LRAData:
    """What a run reads.

    Attributes:
        task: one of :data:`TASKS`.
        max_length: ids per document, the class token included (LRA cuts longer ones).
        train_examples: the first so many training examples (None: all); with ``batch_size``
            and ``epochs`` it fixes the number of steps, as LRA's ``num_train_steps`` does.
        generate: ListOps only: the files' recipe, generated under the cache when
            ``run.data_root`` is not given.
    """

    task: str = "listops"
    max_length: int = 2000
    train_examples: int | None = None
    generate: ListOpsGeneration | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError(f"task: one of {sorted(TASKS)}, got {self.task!r}")
        check_sizes(self, 2, "max_length")
        check_sizes(self, 1, "train_examples")
        if self.generate is not None and self.task != "listops":
            raise ConfigError("generate: only ListOps is generated; the other tasks read the "
                              "LRA release files (docs/lra.md)")


@dataclass
class LRAConfig:
    """One LRA run: ``classifier``, ``data``, ``train`` (recipe), ``run`` (settings);
    ``eval_seed`` seeds the frozen PE code that evaluation uses."""

    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    data: LRAData = field(default_factory=LRAData)
    train: TrainConfig = field(default_factory=TrainConfig)
    run: RunConfig = field(default_factory=RunConfig)
    eval_seed: int = 0

    def __post_init__(self):
        vocab, classes, docs = TASKS[self.data.task]
        m = self.classifier.model
        if m.input_dim != vocab or m.output_dim != classes:
            raise ConfigError(f"classifier.model: {self.data.task} needs input_dim {vocab} and "
                              f"output_dim {classes}, got {m.input_dim} and {m.output_dim}")
        if self.classifier.dual != (docs == 2):
            raise ConfigError(f"classifier.dual: must be {docs == 2} for {self.data.task}")
        if m.max_len < self.data.max_length:
            raise ConfigError(f"classifier.model.max_len ({m.max_len}) < data.max_length "
                              f"({self.data.max_length})")

    def recipe(self) -> dict[str, Any]:
        """Everything but the run settings: what ``task.yaml`` holds and a resume must match."""
        out = asdict(self)
        out.pop("run")
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> LRAConfig:
        return from_dict(cls, d, where)


def load_lra_config(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
                    ) -> LRAConfig:
    """An :class:`LRAConfig` from YAML (or a mapping) with ``section.key=value`` overrides."""
    return load_config(LRAConfig, source, overrides)


def data_folder(cfg: LRAConfig) -> Path:
    """The task's files: ``run.data_root``, else (generated ListOps) a folder of the cache
    (``run.cache_dir``, ``$STRIPES_CACHE`` or ``~/.cache/stripes``) named by the recipe."""
    if cfg.run.data_root is not None:
        return Path(cfg.run.data_root)
    if cfg.data.generate is None:
        raise ConfigError(f"run.data_root: the folder of the {cfg.data.task} files is needed "
                          "(docs/lra.md names them and where they come from)")
    cache = cfg.run.cache_dir or os.environ.get("STRIPES_CACHE") or \
        str(Path.home() / ".cache" / "stripes")
    return Path(cache) / "lra" / cfg.data.generate.folder_name()
