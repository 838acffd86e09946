"""``ModelConfig``: the one object that defines a model; saved inside every checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from stripes.attention import AttentionConfig
from stripes.config import ConfigError, from_dict
from stripes.positional.registry import check_arguments, rename_params

INPUT_KINDS = ("pianoroll", "tokens")


@dataclass
class ModelConfig:
    """Every choice of a :class:`~stripes.models.transformer.StripesTransformer`.

    Defaults follow the harmonization papers ([FS] Sec. IV, [ST] Sec. IV-E): 2 layers, 4 heads,
    d_model 512, causal.

    Attributes:
        input_kind: ``"pianoroll"`` (multi-hot ``[B, T, input_dim]`` through a linear layer) or
            ``"tokens"`` (ids ``[B, T]`` through an embedding).
        input_dim: pianoroll rows (256 = melody + bridge) or vocabulary size.
        output_dim: logits per step (384 = 3 tracks × 128 pitches, or the vocabulary size).
        d_model, n_layers, n_heads: width, depth, heads; ``d_ff`` defaults to ``4 d_model``.
        dropout: after attention and MLP (0 disables).
        attention: ``"softmax"`` or ``"linear"``; ``feature_map``, ``n_features``: φ of linear
            attention (``elu1p``, ``relu``, ``favor``, ``favor_hyperbolic``).
        causal: mask the future (the papers' harmonizer is a causal "encoder").
        chunk_size: C of the chunked causal linear path (attention; a PE's pooling chunk is its
            own ``pool_rows`` in ``pe_params``).
        pe: a registered positional-encoding kind (``stripes.positional.available_kinds()``);
            ``pe_params``: its constructor arguments.
        position_dim: L, the size of a structural position (1 for time).
        max_len: the longest sequence a table-based PE (learned APE) must hold.
        share_pe: one query/key PE module, and one drawn code, for every layer ([SPE] Fig. 2);
            per-layer gates remain per layer.
        feature_seed: seed of FAVOR projections (layer i uses ``feature_seed + i``).
    """

    input_kind: str = "pianoroll"
    input_dim: int = 256
    output_dim: int = 384
    d_model: int = 512
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int | None = None
    dropout: float = 0.0
    attention: str = "linear"
    feature_map: str = "elu1p"
    n_features: int | None = None
    causal: bool = True
    chunk_size: int = 64
    pe: str = "none"
    pe_params: dict[str, Any] = field(default_factory=dict)
    position_dim: int = 1
    max_len: int = 4096
    share_pe: bool = True
    feature_seed: int = 0

    def __post_init__(self):
        if self.input_kind not in INPUT_KINDS:
            raise ConfigError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        try:
            check_arguments(self.pe, self.pe_params)
        except ValueError as err:
            raise ConfigError(str(err)) from None

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def attention_config(self, layer: int = 0) -> AttentionConfig:
        """The :class:`~stripes.attention.AttentionConfig` of block ``layer``."""
        return AttentionConfig(
            d_model=self.d_model,
            n_heads=self.n_heads,
            kind=self.attention,
            feature_map=self.feature_map,
            n_features=self.n_features,
            causal=self.causal,
            chunk_size=self.chunk_size,
            feature_seed=self.feature_seed + layer,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> ModelConfig:
        """Rebuild from :meth:`to_dict` output or a YAML section, checked by
        :func:`stripes.config.from_dict`; PE arguments renamed since (``chunk_size`` of the
        pooling, now ``pool_rows``) are read under their new name, so old checkpoints load."""
        if isinstance(d, Mapping) and isinstance(d.get("pe_params"), Mapping):
            d = {**d, "pe_params": rename_params(d["pe_params"])}
        return from_dict(cls, d, where)
