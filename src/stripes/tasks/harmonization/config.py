"""What one harmonization run is: data, structure context, model and training (YAML-loadable).

Loaded by the project's one loader (:mod:`stripes.config`): the ``model`` and ``train`` sections
are checked against :class:`~stripes.models.ModelConfig` and
:class:`~stripes.training.config.TrainConfig` (types, unknown keys with the closest valid one), so a
typo or ``lr: fast`` fails at load time with the key's name, not deep inside training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stripes.config import ConfigError, check_keys, check_sizes, from_dict, load_config
from stripes.models import ModelConfig
from stripes.music.structure import CONTEXT_DIMS, check_features
from stripes.training.config import TrainConfig

DATASETS = ("chorales", "pop909")


@dataclass
class HarmonizationConfig:
    """One harmonization run: data, context, model and training (YAML-loadable).

    Attributes:
        data: ``"chorales"`` (offline default, music21) or ``"pop909"``.
        data_root: the POP909 data folder (holding ``pop909/``, ``pop909_structure/``,
            ``pop909_alignment/``); ``None`` uses ``$STRIPES_DATA``.
        cache_dir: where prepared corpora live (``None``: ``$STRIPES_CACHE`` or ~/.cache).
        context: structure positions fed to the PE: ``time``, ``rep``, ``key``, ``bin``,
            ``melody``, ``chord``, ``phrase``, ``fs`` (docs/positional.md, structure contexts).
        train_bars: window length for training (16 in the papers; ``None``: whole pieces).
        test_bars: window lengths for testing (16 and 64 in the papers; ``None``: whole pieces).
        transpose: training augmentation range in semitones (``[-6, 6]``; ``None`` disables).
        max_train_windows / max_eval_windows: cap the windows used (reduced scales; ``None``:
            all). Capped subsets are the first windows in a seeded permutation.
        eval_tracks: ``"all"`` scores the three predicted tracks against the three target
            tracks (the papers' setting); ``"accompaniment"`` leaves the melody track out.
        input_features: structure labels also read *as input*, appended to the pianoroll
            (``chroma``, ``root``, ``meter``; see ``music.structure.FEATURE_DIMS``). ``[]``
            (default) is the papers' setting, where structure reaches the model only through
            its PE; the shipped harmonizers use all three (docs/harmonization.md).
        binarization_criterion: what the validation search of ``thresholds`` x
            ``merge_gaps`` maximises (``evaluation.binarization.BINARIZATION_CRITERIA``).
        model: :class:`~stripes.models.ModelConfig` fields (input/output sizes and
            ``position_dim`` are set from the task).
        train: :class:`~stripes.training.config.TrainConfig` fields.
        thresholds, merge_gaps: the binarization grid searched on the validation set.
    """

    data: str = "chorales"
    data_root: str | None = None
    cache_dir: str | None = None
    context: str = "time"
    train_bars: int | None = 16
    test_bars: list[int | None] = field(default_factory=lambda: [16, 64])
    transpose: list[int] | None = field(default_factory=lambda: [-6, 6])
    max_train_windows: int | None = None
    max_eval_windows: int | None = None
    eval_tracks: str = "all"
    input_features: list[str] = field(default_factory=list)
    binarization_criterion: str = "frame_f1_accompaniment"
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    thresholds: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5])
    merge_gaps: list[int] = field(default_factory=lambda: [0, 2, 4])

    def __post_init__(self):
        if self.data not in DATASETS:
            raise ConfigError(f"data must be one of {DATASETS}, got {self.data!r}")
        if self.context not in CONTEXT_DIMS:
            raise ConfigError(f"unknown context {self.context!r}; choose from {list(CONTEXT_DIMS)}")
        if self.eval_tracks not in ("all", "accompaniment"):
            raise ConfigError(
                f"eval_tracks must be 'all' or 'accompaniment', got {self.eval_tracks!r}"
            )
        try:
            check_features(self.input_features)
        except ValueError as err:
            raise ConfigError(f"input_features: {err}") from None
        from stripes.evaluation.harmonization.binarization import BINARIZATION_CRITERIA

        if self.binarization_criterion not in BINARIZATION_CRITERIA:
            raise ConfigError(f"binarization_criterion must be one of "
                              f"{sorted(BINARIZATION_CRITERIA)}, got "
                              f"{self.binarization_criterion!r}")
        self.check_sizes()
        self.model = check_keys(ModelConfig, self.model or {}, "model")
        self.train = check_keys(TrainConfig, self.train or {}, "train")
        from_dict(TrainConfig, self.train, "train")  # its ranges (epochs >= 1, lr, device)
        self.model_config()  # the whole model is valid (sizes, PE kind and arguments)

    def check_sizes(self) -> None:
        """Window lengths, caps, transposition range and binarization grid are usable."""
        check_sizes(self, 1, "train_bars", "max_train_windows", "max_eval_windows")
        for i, bars in enumerate(self.test_bars):
            if bars is not None and bars < 1:
                raise ConfigError(f"test_bars[{i}]: must be >= 1 or null, got {bars}")
        if self.transpose is not None and (len(self.transpose) != 2
                                           or self.transpose[0] > self.transpose[1]):
            raise ConfigError(f"transpose: expected [low, high] with low <= high, "
                              f"got {self.transpose}")
        if not self.thresholds or not all(0 <= t <= 1 for t in self.thresholds):
            raise ConfigError(f"thresholds: expected probabilities in [0, 1], "
                              f"got {self.thresholds}")
        if not self.merge_gaps or min(self.merge_gaps) < 0:
            raise ConfigError(f"merge_gaps: expected steps >= 0, got {self.merge_gaps}")

    def model_config(self) -> ModelConfig:
        """The model, with input/output sizes and ``position_dim`` set by the task."""
        fixed = {
            "input_kind": "pianoroll",
            "input_dim": 256 + check_features(self.input_features),
            "output_dim": 384,
            "position_dim": CONTEXT_DIMS[self.context],
        }
        return ModelConfig.from_dict({**self.model, **fixed})

    def train_config(self, out_dir: str | Path) -> TrainConfig:
        """The training loop's config, writing into ``out_dir``."""
        return from_dict(TrainConfig, {**self.train, "out_dir": str(out_dir)}, "train")

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()) -> HarmonizationConfig:
        """A checked config from a YAML file, after ``section.key=value`` overrides."""
        return load_config(cls, path, overrides)
