"""``GrooveConfig``: one groove-continuation run as configuration (``configs/groove/*.yaml``).

A run trains a token model on trio crops ([SPE] App. C.2) and continues the first bars of test
pieces with it (Sec. 3.3, Fig. 5). Sections: ``model`` (a
:class:`~stripes.models.ModelConfig`; its sizes of the vocabulary are fixed by the trio format),
``data`` (:class:`GrooveData`: which pieces, how long a crop, the augmentation), ``train`` (the
recipe, :class:`~stripes.training.config.TrainConfig`), ``sampling``
(:class:`GrooveSampling`: prompts, samples, length, temperature) and ``run`` (device, folder,
``data_root``: never part of the recipe, never saved in ``task.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stripes.config import ConfigError, check_sizes, from_dict, load_config
from stripes.models import ModelConfig
from stripes.music.trio_events import TrioVocabulary
from stripes.tasks.groove.dataset import Augmentation
from stripes.tasks.groove.protocol import N_CHUNKS, PROMPT_BARS, SAMPLE_TOKENS, TEMPERATURE
from stripes.training.config import RunConfig, TrainConfig

#: Where the pieces come from: POP909 (offline, docs/groove.md) or the Groove2Groove release.
SOURCES = ("pop909", "groove2groove")
#: V of the trio format (794: [SPE]'s vocabulary).
VOCAB_SIZE = TrioVocabulary().size


@dataclass
class GrooveData:
    """Which pieces, and how they are cut.

    Attributes:
        source: one of :data:`SOURCES`; read under ``run.data_root``.
        train_length: T, tokens per training crop (512 in [SPE]).
        n_val, n_test, split_seed: the POP909 song-level split
            (:func:`~stripes.tasks.groove.pop909_trios.split_songs`).
        max_val_pieces: validation pieces scored during training (None: all).
        augmentation: [SPE]'s augmentation of training crops (None: plain crops).
    """

    source: str = "pop909"
    train_length: int = 512
    n_val: int = 50
    n_test: int = 50
    split_seed: int = 0
    max_val_pieces: int | None = None
    augmentation: Augmentation | None = field(default_factory=Augmentation)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ConfigError(f"data.source: one of {list(SOURCES)}, got {self.source!r}")
        check_sizes(self, 2, "train_length")
        check_sizes(self, 1, "n_val", "n_test", "max_val_pieces")


@dataclass
class GrooveSampling:
    """The continuation protocol ([SPE] Sec. 3.3, App. C.2).

    Attributes:
        prompts: test pieces continued (the first ones of the test split; 50 in [SPE]).
        samples: samples per prompt (3 in the official notebook).
        tokens: length of each sample, prompt included (1,024 in [SPE], 2x the crops).
        temperature: 0.6 in [SPE]; the trio grammar constrains every token.
        prompt_bars: bars of the prompt. chunks: equal-duration chunks of a continuation.
        seed: of the PE code and the sampling noise (prompt ``i`` draws with ``seed + i``).
    """

    prompts: int = 50
    samples: int = 3
    tokens: int = SAMPLE_TOKENS
    temperature: float = TEMPERATURE
    prompt_bars: int = PROMPT_BARS
    chunks: int = N_CHUNKS
    seed: int = 0

    def __post_init__(self):
        check_sizes(self, 1, "prompts", "samples", "prompt_bars", "chunks")
        check_sizes(self, 2, "tokens")
        check_sizes(self, 0, "temperature", "seed")


@dataclass
class GrooveConfig:
    """One groove-continuation run: ``model``, ``data``, ``train``, ``sampling`` (the recipe)
    and ``run`` (the settings)."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(
        input_kind="tokens", input_dim=VOCAB_SIZE, output_dim=VOCAB_SIZE))
    data: GrooveData = field(default_factory=GrooveData)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: GrooveSampling = field(default_factory=GrooveSampling)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self):
        vocab, m = VOCAB_SIZE, self.model
        if m.input_kind != "tokens" or m.input_dim != vocab or m.output_dim != vocab:
            raise ConfigError(f"model: the trio format needs input_kind tokens and input_dim = "
                              f"output_dim = {vocab}, got {m.input_kind}, {m.input_dim}, "
                              f"{m.output_dim}")
        if m.max_len < max(self.data.train_length, self.sampling.tokens):
            raise ConfigError(f"model.max_len ({m.max_len}) must hold sampling.tokens "
                              f"({self.sampling.tokens}) and data.train_length "
                              f"({self.data.train_length})")

    def recipe(self) -> dict[str, Any]:
        """Everything but the run settings: what ``task.yaml`` holds and a resume must match."""
        out = asdict(self)
        out.pop("run")
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> GrooveConfig:
        return from_dict(cls, d, where)


def load_groove_config(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
                       ) -> GrooveConfig:
    """A :class:`GrooveConfig` from YAML (or a mapping) with ``section.key=value`` overrides."""
    return load_config(GrooveConfig, source, overrides)
