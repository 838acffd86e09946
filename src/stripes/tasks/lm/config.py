"""What a language-model experiment is: ``name``, ``data``, ``model``, ``train``, ``eval`` (the
recipe) and ``run`` (where and how this invocation runs it).

Loaded from YAML by the project's one loader (:mod:`stripes.config`): types checked, unknown keys
refused with the closest valid one, ``section.key=value`` overrides; the older shape (run
settings inside ``train``, a flat ``model``) is migrated on load with one note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stripes.config import (
    ConfigError,
    apply_overrides,
    check_plain_name,
    check_sizes,
    from_dict,
    migrate,
    migration_note,
    read_yaml,
    register_migration,
)
from stripes.models import ModelConfig
from stripes.training.config import RunConfig, TrainConfig, migrate_run_settings


@dataclass
class LMDataConfig:
    """Which tokens, and how they are cut.

    Attributes:
        corpus: a cache name (``chorales``, ``pop909``) or a folder holding ``tokens.npz``.
        train_length: tokens per training crop. eval_length: tokens per evaluation window.
        transpose: ``[lo, hi]`` semitone shifts of training crops ([SPE] App. C.1), or None.
        crops_per_piece: crops of each training piece per epoch. align_to_bar: crops start on bars.
        max_val_pieces: use only the first validation pieces (None: all).
    """

    corpus: str = "chorales"
    train_length: int = 256
    eval_length: int = 512
    transpose: list[int] | None = field(default_factory=lambda: [-6, 6])
    crops_per_piece: int = 1
    align_to_bar: bool = True
    max_val_pieces: int | None = None

    def __post_init__(self):
        check_sizes(self, 2, "train_length", "eval_length")
        check_sizes(self, 1, "crops_per_piece", "max_val_pieces")
        if self.transpose is not None and (len(self.transpose) != 2
                                           or self.transpose[0] > self.transpose[1]):
            raise ConfigError(f"transpose: expected [low, high] with low <= high, "
                              f"got {self.transpose}")


@dataclass
class LMEvalConfig:
    """What :func:`stripes.tasks.lm.evaluate.evaluate_language_model` measures.

    Attributes:
        checkpoint: ``best.pt`` or ``last.pt`` of a run (for the comparison runner).
        bucket: token positions per bucket of the loss curve. realizations: PE draws averaged
        (stochastic PEs). seed: of every draw. batch_size: evaluation windows per forward.
        probe_length, probe_token: the identical-token probe ([SPE] Sec. 3.2, App. C).
        attention_layer, attention_head, attention_length: the map that is plotted.
        prompts, prompt_tokens, continuation_tokens, top_p, temperature: style of continuations
        ([SPE] Sec. 3.3); ``prompts=0`` skips them.
    """

    checkpoint: str = "best.pt"
    bucket: int = 32
    realizations: int = 4
    seed: int = 0
    batch_size: int = 8
    probe_length: int = 256
    probe_token: str = "Bar_None"
    attention_layer: int = 0
    attention_head: int = 0
    attention_length: int = 128
    prompts: int = 4
    prompt_tokens: int = 256
    continuation_tokens: int = 256
    top_p: float = 0.9
    temperature: float = 1.2

    def __post_init__(self):
        check_sizes(self, 1, "bucket", "realizations", "batch_size", "probe_length",
                    "attention_length", "prompt_tokens", "continuation_tokens")
        check_sizes(self, 0, "prompts", "attention_layer", "attention_head", "temperature")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p: must be in (0, 1], got {self.top_p}")
        if self.checkpoint not in ("best.pt", "last.pt"):
            raise ConfigError(f"checkpoint: must be 'best.pt' or 'last.pt', "
                              f"got {self.checkpoint!r}")


@dataclass
class LMExperimentConfig:
    """One language-model experiment: ``name``, ``data``, ``model`` (a :class:`ModelConfig`;
    ``input_kind``, ``input_dim``, ``output_dim`` are set from the vocabulary), ``train``
    (a :class:`TrainConfig`), ``eval`` (the recipe), and ``run`` (a :class:`RunConfig`: the
    default run folder ``out_dir``, device, progress...; not part of the recipe)."""

    name: str = "lm"
    data: LMDataConfig = field(default_factory=LMDataConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(input_kind="tokens"))
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: LMEvalConfig = field(default_factory=LMEvalConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self):
        check_plain_name(self.name)  # a folder inside --out (`stripes lm experiment`)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "") -> LMExperimentConfig:
        """From plain data (sections as mappings), checked by :func:`stripes.config.from_dict`
        (an older shape migrated, with one note naming ``source``); the model reads tokens
        unless it says otherwise."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"expected a mapping of experiment sections, got {d!r}")
        with migration_note(source or cls.__name__):
            d = migrate(cls, d)
            model = d.get("model") or {}
            if isinstance(model, Mapping):
                model = from_dict(ModelConfig, {"input_kind": "tokens", **model}, "model")
            return from_dict(cls, {**d, "model": model})


def migrate_experiment(data: dict[str, Any]) -> dict[str, Any]:
    """An experiment mapping of the older shape with the run settings of ``train`` (out_dir,
    device, progress, ...) moved into ``run``."""
    return migrate_run_settings(data)


register_migration(LMExperimentConfig, migrate_experiment)


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> LMExperimentConfig:
    """An :class:`LMExperimentConfig` from a YAML file, with ``section.key=value`` overrides (an
    older shape of the file or of an override's key migrated, with one note)."""
    data = read_yaml(path)
    with migration_note(str(path)):
        raw = apply_overrides(migrate(LMExperimentConfig, data), overrides, LMExperimentConfig)
        try:
            return LMExperimentConfig.from_dict(raw)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None


def resolve_model_config(exp: LMExperimentConfig, vocab_size: int) -> ModelConfig:
    """The experiment's model on tokens of a ``vocab_size`` vocabulary, holding ``eval_length``."""
    return replace(exp.model, input_kind="tokens", input_dim=vocab_size, output_dim=vocab_size,
                   max_len=max(exp.model.max_len, exp.data.eval_length))
