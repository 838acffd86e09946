"""The LRA classifier on the stripes Transformer, as LRA's code builds it ([LRA] ``models/``).

- :class:`Encoder`: token embedding -> (additive PE) -> N non-causal :class:`~stripes.models.
  blocks.Block` (query/key PE inside) -> final norm; the PE is any registered kind, wired as in
  :class:`~stripes.models.transformer.StripesTransformer` (one stochastic code per forward,
  shared by the batch and, with ``share_pe``, by every layer). Padding is masked in every
  attention layer (``key_padding_mask``), so a padded batch gives each example its own logits.
- :class:`LRAClassifier`: the output at the class token (the :data:`~.vocab.CLS` id the batch
  leads with, whose embedding row is learned) through Dense -> ReLU -> Dense, as LRA's
  ``classifier_head`` with ``pooling_mode="CLS"``. With ``dual`` (Retrieval), one encoder reads
  both documents and the two class outputs are combined as LRA's ``classifier_head_dual``:
  concatenated (``interaction="concat"``, LRA's default) or ``[u, v, u*v, u-v]``
  (``interaction="nli"``), then Dense -> ReLU -> Dense(mlp_dim / 2) -> ReLU -> Dense.
- FAVOR+ features are redrawn every ``redraw_every`` training steps (Performer), by
  :meth:`LRAClassifier.redraw_if_due`, which the loss calls: explicit, seeded by the step, so a
  resumed run redraws the same features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from stripes.attention import AttentionConfig
from stripes.attention.feature_maps import FAVOR
from stripes.config import ConfigError, from_dict
from stripes.models.blocks import Block
from stripes.models.config import ModelConfig
from stripes.models.transformer import build_stack
from stripes.positional import QKTransformPE, RelativeBiasPE

INTERACTIONS = ("concat", "nli")


@dataclass
class ClassifierConfig:
    """An LRA classifier: the encoder's :class:`ModelConfig` and the head.

    Attributes:
        model: the encoder (``input_kind: tokens``, ``input_dim``: the vocabulary,
            ``output_dim``: the number of classes; ``attention.causal`` must be false).
        mlp_dim: the Dense layer's width (LRA's ``mlp_dim``).
        dual: two documents per example through one shared encoder (Retrieval).
        interaction: how ``dual`` combines the two class outputs (:data:`INTERACTIONS`).
        redraw_every: redraw FAVOR+ features every so many training steps (0: never).
    """

    model: ModelConfig = field(default_factory=lambda: ModelConfig(
        input_kind="tokens", input_dim=17, output_dim=10, d_model=64, n_heads=4,
        attention=AttentionConfig(causal=False)))
    mlp_dim: int = 128
    dual: bool = False
    interaction: str = "concat"
    redraw_every: int = 0

    def __post_init__(self):
        if self.model.input_kind != "tokens":
            raise ConfigError("model.input_kind: the LRA classifier reads token ids ('tokens')")
        if self.model.attention.causal:
            raise ConfigError("model.attention.causal: the LRA encoder is non-causal (false)")
        if self.interaction not in INTERACTIONS:
            raise ConfigError(f"interaction: one of {INTERACTIONS}, got {self.interaction!r}")
        if self.mlp_dim < 1 or self.redraw_every < 0:
            raise ConfigError("mlp_dim must be >= 1 and redraw_every >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "") -> ClassifierConfig:
        return from_dict(cls, d, where)


class Encoder(nn.Module):
    """``ids [B, T]`` (and ``mask [B, T]``, True on real ids) -> ``h [B, T, d_model]``."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c = self.config = config
        self.embed = nn.Embedding(c.input_dim, c.d_model)
        self.add_pe, qk, bias, blocks = build_stack(c)  # the model's own PEs and blocks
        self.qk_pes: list[QKTransformPE] = nn.ModuleList(qk)  # type: ignore[assignment]
        self.bias_pes: list[RelativeBiasPE] = nn.ModuleList(bias)  # type: ignore[assignment]
        self.blocks: list[Block] = nn.ModuleList(blocks)  # type: ignore[assignment]
        self.norm = nn.LayerNorm(c.d_model)

    def draw_pe_code(self, length: int, generator: torch.Generator | None = None
                     ) -> list[Any] | None:
        """One realization per distinct query/key PE module, or None (deterministic PEs)."""
        if not any(p.stochastic for p in self.qk_pes):
            return None
        return [p.draw_code(length, None, generator) for p in self.qk_pes]

    def forward(self, ids: Tensor, mask: Tensor | None = None, code: list[Any] | None = None
                ) -> Tensor:
        """``h [B, T, d_model]`` after the final norm; ``code``: a frozen PE realization
        (drawn afresh when None). Positions are ``arange(T)``: padding follows the real ids."""
        if code is None:
            code = self.draw_pe_code(ids.shape[1])
        padding = None if mask is None else ~mask
        h = self.embed(ids)
        if self.add_pe is not None:
            h = self.add_pe(h)
        for i, block in enumerate(self.blocks):
            layer_code = None if code is None else code[0 if self.config.share_pe else i]
            h, _ = block(h, code=layer_code, layer=i, key_padding_mask=padding)
        return self.norm(h)


class LRAClassifier(nn.Module):
    """Logits ``[B, n_classes]`` of one document (or, ``dual``, of a pair) per example."""

    steps: Tensor  # [] long buffer: training steps seen (redraws; saved with the weights)

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.model)
        d, m, n = config.model.d_model, config.mlp_dim, config.model.output_dim
        if config.dual:
            width = (4 if config.interaction == "nli" else 2) * d
            self.head: nn.Sequential = nn.Sequential(
                nn.Linear(width, m), nn.ReLU(), nn.Linear(m, m // 2), nn.ReLU(),
                nn.Linear(m // 2, n))
        else:
            self.head = nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, n))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, ids: Tensor, mask: Tensor, ids2: Tensor | None = None,
                mask2: Tensor | None = None, code: list[Any] | None = None) -> Tensor:
        """``ids, mask [B, T]`` (``mask`` True on real ids; each row led by CLS) and, when
        ``dual``, the second documents ``ids2, mask2 [B, T2]`` -> logits ``[B, n_classes]``."""
        if not self.config.dual:
            return self.head(self.encoder(ids, mask, code)[:, 0])
        if ids2 is None or mask2 is None:
            raise ValueError("a dual (Retrieval) classifier needs ids2 and mask2")
        b = ids.shape[0]
        both, both_mask = _stack(ids, mask, ids2, mask2)
        cls = self.encoder(both, both_mask, code)[:, 0]  # one encoder, one code, both towers
        u, v = cls[:b], cls[b:]
        pair = [u, v, u * v, u - v] if self.config.interaction == "nli" else [u, v]
        return self.head(torch.cat(pair, -1))

    def favor_maps(self) -> list[FAVOR]:
        """The FAVOR+ feature maps of the encoder's attention layers (empty for other maps)."""
        return [blk.attn.phi for blk in self.encoder.blocks if isinstance(blk.attn.phi, FAVOR)]

    @torch.no_grad()
    def redraw_if_due(self) -> bool:
        """Count one training step; every ``redraw_every`` steps, redraw every FAVOR+ projection
        from a generator seeded by (feature seed, layer, step). Returns whether it redrew."""
        self.steps += 1
        every, step = self.config.redraw_every, int(self.steps)
        if every == 0 or step % every:
            return False
        seed = self.config.model.attention.feature_seed or 0
        for i, phi in enumerate(self.favor_maps()):
            phi.redraw(torch.Generator().manual_seed(seed * 1_000_003 + i * 7919 + step))
        return True


def _stack(ids: Tensor, mask: Tensor, ids2: Tensor, mask2: Tensor) -> tuple[Tensor, Tensor]:
    """Two batches ``[B, T]`` and ``[B, T2]`` as one ``[2B, max(T, T2)]``, padded (PAD is 0)."""
    t = max(ids.shape[1], ids2.shape[1])

    def pad(x: Tensor) -> Tensor:
        return nn.functional.pad(x, (0, t - x.shape[1]))

    return torch.cat([pad(ids), pad(ids2)]), torch.cat([pad(mask), pad(mask2)])


