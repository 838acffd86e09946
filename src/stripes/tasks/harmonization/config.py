"""What one harmonization run is: data, structure context, model and training (YAML-loadable).

Loaded by the project's one loader (:mod:`stripes.config`): the ``model``, ``train`` and ``run``
sections are a :class:`~stripes.models.ModelConfig`, a
:class:`~stripes.training.config.TrainConfig` and a :class:`~stripes.training.config.RunConfig`
(types, unknown keys with the closest valid one), so a typo or ``lr: fast`` fails at load time
with the key's name, not deep inside training. The older shape (``data_root``, ``cache_dir`` at
the top, run settings inside ``train``, a flat ``model``) is migrated on load with one note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stripes.config import ConfigError, check_sizes, load_config, register_migration
from stripes.models import ModelConfig
from stripes.music.structure import CONTEXT_DIMS, check_features
from stripes.training.config import RunConfig, TrainConfig, migrate_run_settings

DATASETS = ("chorales", "pop909")
#: What a harmonizer outputs per slot and pitch: ``frames`` (on/off per step, trained with
#: frame-wise BCE: the papers' setting) or ``onsets_frames`` (an onset channel beside the frame
#: channel, as in Onsets and Frames: notes are decoded from onsets, so a figure can be struck).
OUTPUTS = {"frames": 1, "onsets_frames": 2}


@dataclass
class HarmonizationConfig:
    """One harmonization run: data, context, model and training (YAML-loadable); every field
    but ``run`` is the recipe (saved as the run folder's ``task.yaml``).

    Attributes:
        data: ``"chorales"`` (offline default, music21) or ``"pop909"``.
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
        output: ``frames`` (the papers' frame-wise BCE) or ``onsets_frames`` (onset and frame
            channels, notes decoded from onsets: the shipped harmonizers; see :data:`OUTPUTS`).
        onset_weight: the weight of a positive cell in the onset BCE (``onsets_frames``). A
            note begins in well under 1 % of the cells, so unweighted onset probabilities stay
            near 0; weighting the strikes lifts them to where a threshold can separate them
            (the threshold is chosen on validation anyway).
        binarization_criterion: what the validation search of ``thresholds`` x
            ``merge_gaps`` (``frames``) or ``thresholds`` x ``onset_thresholds``
            (``onsets_frames``) maximises (``evaluation.binarization.BINARIZATION_CRITERIA``).
        model: the model; ``input_kind``, ``input_dim``, ``output_dim`` and ``position_dim``
            are set from the task (data, ``input_features``, ``context``) when the config is
            built.
        train: the training recipe.
        thresholds, merge_gaps, onset_thresholds, strike_caps: the binarization grid searched on
            the validation set (frame thresholds; gaps for ``frames``; onset thresholds and the
            most notes struck at one step, 0 for no cap, for ``onsets_frames``).
        voice_holds: for ``onsets_frames`` on a corpus whose parts are voices (the chorales),
            the frame-probability bonus that keeps a sounding pitch against a near tie
            (``binarization.decode_voices``), also searched on validation.
        figure_shares: for ``onsets_frames``, 0 decodes every onset cell on its own; a share
            in (0, 1) decodes the free accompaniment with the figure decoder
            (``evaluation.harmonization.figure``: one figure per window, made of the bar
            positions at or above that share of the onset profile's peak, the model's expected
            chroma struck there per half bar), also searched on validation.
        figure_cores: the share of the profile's peak above which a position of the figure is
            struck in every half bar (its core; the rest varies), searched on validation.
        run: how and where this invocation runs (device, folder, progress, ``data_root`` and
            ``cache_dir`` of the corpus); not part of the recipe: never saved in a run folder,
            never compared on resume.
    """

    data: str = "chorales"
    context: str = "time"
    train_bars: int | None = 16
    test_bars: list[int | None] = field(default_factory=lambda: [16, 64])
    transpose: list[int] | None = field(default_factory=lambda: [-6, 6])
    max_train_windows: int | None = None
    max_eval_windows: int | None = None
    eval_tracks: str = "all"
    input_features: list[str] = field(default_factory=list)
    output: str = "frames"
    onset_weight: float = 1.0
    binarization_criterion: str = "frame_f1_accompaniment"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    thresholds: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5])
    merge_gaps: list[int] = field(default_factory=lambda: [0, 2, 4])
    onset_thresholds: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5])
    strike_caps: list[int] = field(default_factory=lambda: [0])
    voice_holds: list[float] = field(default_factory=lambda: [0.0])
    figure_shares: list[float] = field(default_factory=lambda: [0.0])
    figure_cores: list[float] = field(default_factory=lambda: [0.8])
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self):
        if self.data not in DATASETS:
            raise ConfigError(f"data must be one of {DATASETS}, got {self.data!r}")
        if self.context not in CONTEXT_DIMS:
            raise ConfigError(f"unknown context {self.context!r}; choose from {list(CONTEXT_DIMS)}")
        if self.eval_tracks not in ("all", "accompaniment"):
            raise ConfigError(
                f"eval_tracks must be 'all' or 'accompaniment', got {self.eval_tracks!r}"
            )
        if self.output not in OUTPUTS:
            raise ConfigError(f"output must be one of {sorted(OUTPUTS)}, got {self.output!r}")
        if not self.onset_weight > 0:
            raise ConfigError(f"onset_weight must be > 0, got {self.onset_weight}")
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
        self.model = replace(self.model, input_kind="pianoroll",
                             input_dim=256 + check_features(self.input_features),
                             output_dim=384 * OUTPUTS[self.output],
                             position_dim=CONTEXT_DIMS[self.context])

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
        for name, values in (("thresholds", self.thresholds),
                             ("onset_thresholds", self.onset_thresholds)):
            if not values or not all(0 < t < 1 for t in values):
                raise ConfigError(f"{name}: expected probabilities in (0, 1), got {values}")
        if not self.strike_caps or min(self.strike_caps) < 0:
            raise ConfigError(f"strike_caps: expected counts >= 0 (0: no cap), "
                              f"got {self.strike_caps}")
        if not self.figure_shares or not all(0 <= s < 1 for s in self.figure_shares):
            raise ConfigError(f"figure_shares: expected shares in [0, 1) (0: per cell), "
                              f"got {self.figure_shares}")
        if not self.figure_cores or not all(0 < c <= 1 for c in self.figure_cores):
            raise ConfigError(f"figure_cores: expected shares in (0, 1], got {self.figure_cores}")
        if not self.voice_holds or not all(0 <= h < 1 for h in self.voice_holds):
            raise ConfigError(f"voice_holds: expected bonuses in [0, 1), got {self.voice_holds}")
        if not self.merge_gaps or min(self.merge_gaps) < 0:
            raise ConfigError(f"merge_gaps: expected steps >= 0, got {self.merge_gaps}")

    def binarization_grid(self) -> dict[str, Any]:
        """The decoding grid searched on validation, as the keyword arguments of
        ``evaluation.harmonization.score_harmonization`` and ``binarization.choose_binarization``
        (the model's ``onset_weight`` with it)."""
        return {"thresholds": self.thresholds, "merge_gaps": self.merge_gaps,
                "onset_thresholds": self.onset_thresholds, "strike_caps": self.strike_caps,
                "voice_holds": self.voice_holds, "figure_shares": self.figure_shares,
                "figure_cores": self.figure_cores, "onset_weight": self.onset_weight}

    def recipe(self) -> dict[str, Any]:
        """Every field but ``run``, as plain data: what ``task.yaml`` holds and resuming keeps."""
        plain = asdict(self)
        del plain["run"]
        return plain

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()) -> HarmonizationConfig:
        """A checked config from a YAML file, after ``section.key=value`` overrides."""
        return load_config(cls, path, overrides)


def migrate_task(data: dict[str, Any]) -> dict[str, Any]:
    """A task mapping of the older shape with ``data_root``, ``cache_dir`` and the run settings
    of ``train`` (device, out_dir, progress, ...) moved into ``run``."""
    return migrate_run_settings(data, top_level=("data_root", "cache_dir"))


register_migration(HarmonizationConfig, migrate_task)
