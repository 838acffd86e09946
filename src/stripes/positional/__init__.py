"""Positional encodings, one file per family; importing this package registers every ``kind``.

| kind            | class           | contract          | output per head |
|-----------------|-----------------|-------------------|-----------------|
| ``none``        | NoPE            | additive          | —               |
| ``sinusoidal``  | SinusoidalAPE   | additive          | —               |
| ``learned``     | LearnedAPE      | additive          | —               |
| ``structure_ape`` | StructureAPE  | additive          | —               |
| ``sine_spe``    | SineSPE         | q/k transform     | R               |
| ``conv_spe``    | ConvSPE         | q/k transform     | R               |
| ``fstripe``     | FStrIPE         | q/k transform     | 2K              |
| ``fstripe1``    | FStrIPE1        | q/k transform     | 2               |
| ``rope``        | RoPE            | q/k transform     | D               |
| ``rope_pool``   | RoPEPool        | q/k transform     | D/2             |
| ``shaw_rpe``    | ShawRPE         | logit bias        | D (softmax)     |
| ``structure_rpe`` | StructureRPE  | logit bias        | D (softmax)     |
| ``nonstationary_rpe`` | NonStationaryRPE | logit bias | D (softmax)     |
"""

from stripes.positional.absolute import LearnedAPE, NoPE, SinusoidalAPE, StructureAPE
from stripes.positional.base import (
    AdditivePE,
    QKTransformPE,
    RelativeBiasPE,
    default_positions,
    position_vectors,
    register,
)
from stripes.positional.conv_spe import ConvSPE
from stripes.positional.ops.spe_noise import ConvCode, SineCode
from stripes.positional.registry import PositionalConfig, available_kinds, build_positional
from stripes.positional.relative import NonStationaryRPE, ShawRPE, StructureRPE
from stripes.positional.rope import RoPE, RoPEPool
from stripes.positional.spe import SineSPE
from stripes.positional.structure import FStrIPE, FStrIPE1

__all__ = [
    "AdditivePE",
    "ConvCode",
    "ConvSPE",
    "FStrIPE",
    "FStrIPE1",
    "LearnedAPE",
    "NoPE",
    "NonStationaryRPE",
    "PositionalConfig",
    "QKTransformPE",
    "RelativeBiasPE",
    "RoPE",
    "RoPEPool",
    "ShawRPE",
    "SineCode",
    "SineSPE",
    "SinusoidalAPE",
    "StructureAPE",
    "StructureRPE",
    "available_kinds",
    "build_positional",
    "default_positions",
    "position_vectors",
    "register",
]
