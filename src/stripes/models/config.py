"""``ModelConfig``: the one object that defines a model; saved inside every checkpoint.

It nests the configs of its parts: ``attention`` (an
:class:`~stripes.attention.AttentionConfig`, one for every block) and ``pe`` (a
:class:`~stripes.positional.PositionalConfig`). The flat shape of older checkpoints and YAML
files (``attention: linear``, ``feature_map``, ``pe: rope``, ``pe_params`` beside the sizes) is
migrated on load (:func:`migrate_flat_model`, registered with :mod:`stripes.config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from stripes.attention import AttentionConfig
from stripes.config import ConfigError, check_sizes, from_dict, register_migration
from stripes.positional.registry import PositionalConfig, check_arguments, rename_params

INPUT_KINDS = ("pianoroll", "tokens")
#: PE constructor arguments that are sizes or counts (>= 1), checked when the config loads.
PE_SIZE_ARGUMENTS = frozenset({"n_sines", "n_realizations", "n_layers", "pool_rows",
                               "position_dim", "block_size", "kernel_size", "max_distance",
                               "ndim", "head_dim", "d_model", "n_heads", "max_bytes"})


@dataclass
class ModelConfig:
    """Every choice of a :class:`~stripes.models.transformer.StripesTransformer`.

    Defaults follow the harmonization papers ([FS] Sec. IV, [ST] Sec. IV-E): 2 layers, 4 heads,
    d_model 512, causal linear attention.

    Attributes:
        input_kind: ``"pianoroll"`` (multi-hot ``[B, T, input_dim]`` through a linear layer) or
            ``"tokens"`` (ids ``[B, T]`` through an embedding).
        input_dim: pianoroll rows (256 = melody + bridge) or vocabulary size.
        output_dim: logits per step (384 = 3 tracks × 128 pitches, or the vocabulary size).
        d_model, n_layers, n_heads: width, depth, heads; ``d_ff`` defaults to ``4 d_model``.
        dropout: after attention and MLP (0 disables).
        attention: every block's attention (kind, feature map φ, causal, chunk size C, FAVOR
            seed: block i draws with ``feature_seed + i``, ``None`` counting as 0).
        pe: the positional encoding: a registered ``kind``
            (``stripes.positional.available_kinds()``) and its constructor ``params``; sizes it
            omits come from the model (``d_model``, ``n_heads``, ``position_dim``, ``max_len``).
        position_dim: L, the size of a structural position (1 for time).
        max_len: the longest sequence a table-based PE (learned APE) must hold.
        share_pe: one query/key PE module, and one drawn code, for every layer ([SPE] Fig. 2);
            per-layer gates remain per layer.
    """

    input_kind: str = "pianoroll"
    input_dim: int = 256
    output_dim: int = 384
    d_model: int = 512
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int | None = None
    dropout: float = 0.0
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    pe: PositionalConfig = field(default_factory=PositionalConfig)
    position_dim: int = 1
    max_len: int = 4096
    share_pe: bool = True

    def __post_init__(self):
        if self.input_kind not in INPUT_KINDS:
            raise ConfigError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")
        check_sizes(self, 1, "input_dim", "output_dim", "d_model", "n_layers", "n_heads", "d_ff",
                    "position_dim", "max_len")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout: must be in [0, 1), got {self.dropout}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        try:
            check_arguments(self.pe.kind, self.pe.params)
        except ValueError as err:
            raise ConfigError(f"pe: {err}") from None
        for key in PE_SIZE_ARGUMENTS & self.pe.params.keys():
            value = self.pe.params[key]
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, int) and not isinstance(v, bool) and v < 1:
                    raise ConfigError(f"pe.params.{key}: must be >= 1, got {value}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def layer_attention(self, layer: int) -> AttentionConfig:
        """Block ``layer``'s attention: this config's, drawing FAVOR features with seed
        ``feature_seed + layer``."""
        return replace(self.attention, feature_seed=(self.attention.feature_seed or 0) + layer)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> ModelConfig:
        """Rebuild from :meth:`to_dict` output or a YAML section, checked by
        :func:`stripes.config.from_dict` (an older shape migrated, with one note)."""
        return from_dict(cls, d, where)


#: Keys of the flat shape that now live in ``attention``.
FLAT_ATTENTION_KEYS = ("feature_map", "n_features", "causal", "chunk_size", "feature_seed")


def migrate_flat_model(data: dict[str, Any]) -> dict[str, Any]:
    """A model mapping of the flat shape (``attention: linear``, ``feature_map``, ``causal``,
    ``chunk_size``, ``feature_seed``, ``pe: rope``, ``pe_params``) in the nested one; PE
    arguments renamed since (``chunk_size`` of the pooling, now ``pool_rows``) under their new
    name. The nested shape, and any part of one, passes unchanged."""
    out = dict(data)
    attention = out.get("attention")
    moved = {k: out.pop(k) for k in FLAT_ATTENTION_KEYS if k in out}
    if "attention" in out and not isinstance(attention, Mapping):
        moved = {"kind": attention, **moved}
    if moved:
        out["attention"] = {**(attention if isinstance(attention, Mapping) else {}), **moved}
    pe = out.get("pe")
    pe_new: dict[str, Any] = dict(pe) if isinstance(pe, Mapping) else (
        {"kind": pe} if "pe" in out else {})
    if "pe_params" in out:
        pe_new["params"] = out.pop("pe_params")
    if isinstance(pe_new.get("params"), Mapping):
        pe_new["params"] = rename_params(dict(pe_new["params"]))
    if pe_new:
        out["pe"] = pe_new
    return out


register_migration(ModelConfig, migrate_flat_model)
