"""SPE's white noise and its code objects ([SPE] App. A.2): what sineSPE and convSPE draw once
per forward and share across the batch, the layers and every decoding step.

- :func:`draw_noise`: Gaussian, Rademacher or orthogonal noise with ``E[z zᵀ] = I``, drawn on
  the device of its generator (:func:`noise_generator`).
- :func:`counter_seed`: splitmix64 of ``(seed, block)``, so convSPE's noise at a position is a
  deterministic function of the position (parallel forward and decoding read the same samples).
- :class:`SineCode`, :class:`ConvCode`: one realization of each family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

NOISES = ("gaussian", "rademacher", "orthogonal")
_MASK64 = (1 << 64) - 1
_SIGNS = {"cpu": torch.tensor([[1.0 if (b >> i) & 1 else -1.0 for i in range(8)]
                               for b in range(256)])}  # the ±1 of each byte, by device


def counter_seed(seed: int, index: int) -> int:
    """splitmix64 of ``(seed, index)``: the seed of noise block ``index`` (counter-based noise)."""
    x = (seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) >> 1


def noise_generator(seed: int, device: torch.device) -> torch.Generator | None:
    """A generator on ``device`` seeded with ``seed``: noise is drawn where it is used (one seed
    gives the same samples on every run on one device type; CPU and CUDA streams differ). None
    on the meta device, which holds no values."""
    if device.type == "meta":
        return None
    return torch.Generator(device=device).manual_seed(seed)


def _signs(device: torch.device) -> Tensor:
    key = str(device)
    if key not in _SIGNS:
        _SIGNS[key] = _SIGNS["cpu"].to(device)
    return _SIGNS[key]


def draw_noise(
    kind: str,
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device | None = None,
) -> Tensor:
    """White noise, float32 on the generator's device (else ``device``, else the CPU): zero mean,
    ``E[z zᵀ] = I``.

    ``gaussian``: N(0, 1). ``rademacher``: ±1 from 64 random bits per draw (about 3× faster than
    ``randn``, same second moments, lower variance of ``Q̄K̄ᵀ/R``). ``orthogonal`` (sineSPE, last
    two axes ``[2K, R]`` with ``R ≥ 2K``): rows orthogonal with ``Z Zᵀ = R·I`` (Haar directions).
    """
    device = generator.device if generator is not None else device
    if kind == "gaussian":
        return torch.randn(shape, generator=generator, device=device)
    if kind == "rademacher":
        n = math.prod(shape)
        words = torch.randint(-(2**63), 2**63 - 1, (-(-n // 64),), generator=generator,
                              device=device)
        signs = _signs(words.device)
        return F.embedding(words.view(torch.uint8).long(), signs).view(-1)[:n].view(shape)
    if kind == "orthogonal":
        *batch, rows, r = shape
        if r < rows:
            raise ValueError(f"orthogonal noise needs R >= 2K; got R={r} < 2K={rows}")
        g = torch.randn(*batch, r, rows, generator=generator, dtype=torch.float64, device=device)
        qmat, tri = torch.linalg.qr(g)  # [.., R, 2K], orthonormal columns
        qmat = qmat * torch.sign(torch.diagonal(tri, dim1=-2, dim2=-1))[..., None, :]
        return (math.sqrt(r) * qmat.transpose(-1, -2)).float()
    raise ValueError(f"unknown noise {kind!r}; choose from {NOISES}")


@dataclass
class SineCode:
    """A sineSPE realization: ``noise Z [H, D, 2K, R]``, ``gate_noise ε [H, D, R]`` or None."""

    noise: Tensor
    gate_noise: Tensor | None = None
    prepared: dict = field(default_factory=dict, repr=False)  # decoding: pooling weights by layer

    @property
    def n_realizations(self) -> int:
        return self.noise.shape[-1]


@dataclass
class ConvCode:
    """A convSPE realization: counter-based noise, block ``b`` drawn from ``counter_seed(seed, b)``.

    The noise of padded position ``u`` is a deterministic function of ``(seed, u)``, so the
    parallel forward and step-by-step decoding read the same samples; ``cache`` keeps the few
    blocks in use (``clear()`` frees them). Blocks are drawn on the device of the inputs, with
    its generator (:func:`noise_generator`): one seed gives other samples on CUDA than on the CPU.

    ``noise``: the same samples drawn ahead as one tensor ``[H·D, U, R]`` (padded positions
    ``0 … U−1``), or None: what a ``torch.compile``'d graph reads, since it cannot create the
    generators the blocks are drawn with (:meth:`ConvSPE.traceable_code
    <stripes.positional.conv_spe.ConvSPE.traceable_code>`).
    """

    seed: int
    n_realizations: int
    gate_noise: Tensor | None = None
    cache: dict = field(default_factory=dict, repr=False)
    chunk_codes: dict = field(default_factory=dict, repr=False)  # decoding: one chunk per layer
    noise: Tensor | None = field(default=None, repr=False)

    def clear(self) -> None:
        self.cache.clear()
        self.chunk_codes.clear()
