"""Feature maps φ for kernelized attention (docs/math.md §1).

``elu1p`` and ``relu`` are deterministic ([SPE] Sec. 3.1); :class:`FAVOR` is Performer's FAVOR+,
positive orthogonal random features whose inner products estimate the softmax kernel
``exp(q·k/√D)`` without bias. Every map is a module with ``output_dim`` and
``forward(x, is_query) -> φ(x)`` on ``[..., D]`` tensors, built by :func:`build_feature_map`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def elu1p(x: Tensor) -> Tensor:
    """``elu(x) + 1``: positive, smooth (Katharopoulos et al. 2020)."""
    return F.elu(x) + 1.0


def relu(x: Tensor) -> Tensor:
    """``max(0, x)`` ([SPE] "Linear Transformer-ReLU")."""
    return F.relu(x)


class FeatureMap(nn.Module):
    """φ of kernelized attention: ``forward(x [..., D], is_query) -> [..., M]``
    (``M = output_dim``)."""

    output_dim: int

    def forward(self, x: Tensor, is_query: bool = True) -> Tensor:
        raise NotImplementedError

    def featurize_pair_(self, qk: Tensor) -> tuple[Tensor, Tensor]:
        """``(φ(q) [B, H, M], φ(k) [B, H, M])`` of one token's ``qk [B, 2, H, D]`` (query, then
        key), for decoding; may overwrite ``qk``."""
        return self(qk[:, 0], is_query=True), self(qk[:, 1], is_query=False)


class PointwiseFeatureMap(FeatureMap):
    """A deterministic feature map applied elementwise; ``output_dim == dim``."""

    def __init__(self, fn: str, dim: int):
        super().__init__()
        if fn not in _POINTWISE:
            raise ValueError(
                f"unknown pointwise feature map {fn!r}; choose from {list(_POINTWISE)}"
            )
        self.fn, self.dim, self.output_dim = fn, dim, dim

    def forward(self, x: Tensor, is_query: bool = True) -> Tensor:
        """``[..., D] -> [..., D]``."""
        return _POINTWISE[self.fn](x)

    def featurize_pair_(self, qk: Tensor) -> tuple[Tensor, Tensor]:
        """In place on ``qk``: one elementwise pass for the query and the key together."""
        if self.fn == "elu1p":
            F.elu(qk, inplace=True).add_(1.0)
        else:
            F.relu(qk, inplace=True)
        return qk[:, 0], qk[:, 1]

    def extra_repr(self) -> str:
        return f"{self.fn}, dim={self.dim}"


_POINTWISE = {"elu1p": elu1p, "relu": relu}


def draw_orthogonal_gaussian(
    n_rows: int, dim: int, generator: torch.Generator | None = None, dtype=torch.float32
) -> Tensor:
    """``[n_rows, dim]`` rows from stacked orthogonal blocks with chi(dim)-distributed norms.

    Each block of ``dim`` rows is orthonormal (QR of a Gaussian matrix); each row is then scaled
    by the norm of an independent Gaussian vector, so every row is marginally ``N(0, I)`` while
    rows within a block stay orthogonal (Choromanski et al. 2021, ORF).
    """
    blocks = []
    for _ in range(math.ceil(n_rows / dim)):
        g = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
        qmat, r = torch.linalg.qr(g)
        qmat = qmat * torch.sign(torch.diagonal(r))[None, :]  # make the QR factor unique (Haar)
        blocks.append(qmat.T)
    rows = torch.cat(blocks, dim=0)[:n_rows]
    norms = torch.randn(n_rows, dim, generator=generator, dtype=torch.float64).norm(dim=1)
    return (rows * norms[:, None]).to(dtype)


class FAVOR(FeatureMap):
    """Performer FAVOR+ positive random features for the softmax kernel.

    ``φ(x) = exp(W x' − |x'|²/2) / √M`` with ``x' = x / D^{1/4}``, so that
    ``E[φ(q)·φ(k)] = exp(q·k/√D)``; the hyperbolic variant concatenates the ``+Wx'`` and
    ``−Wx'`` halves (``output_dim = 2M``, lower variance).

    Stabilisation: queries subtract their own max exponent (it cancels between the numerator and
    the normalizer of *that* query, so nothing depends on other tokens); keys get none, since any
    shift must be shared by all keys of a sequence and a per-sequence max would let position t
    depend on later tokens. The key exponent is bounded by ``|w|²/2`` and is evaluated in float32.

    W (``[M, D]``) is a buffer saved in the state dict; it changes only through :meth:`redraw`.
    """

    projection: Tensor  # [M, D] buffer (redraw)

    def __init__(
        self,
        dim: int,
        n_features: int | None = None,
        hyperbolic: bool = False,
        seed: int | None = None,
    ):
        super().__init__()
        self.dim = dim
        self.n_features = n_features or max(dim, int(round(dim * math.log(dim))))
        self.hyperbolic = hyperbolic
        self.output_dim = 2 * self.n_features if hyperbolic else self.n_features
        self.register_buffer("projection", torch.empty(self.n_features, dim))
        self.redraw(None if seed is None else torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def redraw(self, generator: torch.Generator | None = None) -> None:
        """Draw a new projection W (explicitly: never done silently during forward)."""
        w = draw_orthogonal_gaussian(self.n_features, self.dim, generator)
        self.projection.copy_(w.to(self.projection.device))

    def forward(self, x: Tensor, is_query: bool = True, stabilize: bool = True) -> Tensor:
        """``[..., D] -> [..., M]`` (or ``[..., 2M]`` hyperbolic), in float32 or wider."""
        acc = torch.promote_types(x.dtype, torch.float32)
        xs = x.to(acc) * self.dim**-0.25
        proj = xs @ self.projection.to(acc).T  # [..., M]
        sq = 0.5 * (xs * xs).sum(-1, keepdim=True)
        if self.hyperbolic:
            proj = torch.cat([proj, -proj], dim=-1)
        exponent = proj - sq
        if is_query and stabilize:
            exponent = exponent - exponent.amax(dim=-1, keepdim=True).detach()
        return torch.exp(exponent) / math.sqrt(self.output_dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_features={self.n_features}, hyperbolic={self.hyperbolic}"


FEATURE_MAPS = ("elu1p", "relu", "favor", "favor_hyperbolic")


def build_feature_map(
    kind: str, dim: int, n_features: int | None = None, seed: int | None = None
) -> FeatureMap:
    """Build a feature map by name: one of :data:`FEATURE_MAPS`, for inputs of size ``dim``."""
    if kind in _POINTWISE:
        return PointwiseFeatureMap(kind, dim)
    if kind in ("favor", "favor_hyperbolic"):
        return FAVOR(dim, n_features, hyperbolic=kind == "favor_hyperbolic", seed=seed)
    raise ValueError(f"unknown feature map {kind!r}; choose from {FEATURE_MAPS}")
