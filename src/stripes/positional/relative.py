"""Quadratic relative-PE baselines for exact softmax attention ([S24]), through its ``bias`` hook.

Each module is a :class:`~stripes.positional.base.RelativeBiasPE`: q and k pass unchanged, and
``bias(positions, key_positions, q)`` returns the Shaw-style logit term
``b_mn = q_m · a(lag_mn) / √D`` as ``[B, H, T, S]`` (added to ``q_m·k_n/√D``). Queries are the
*last* T of the S keys (training: T = S; decoding: the new tokens after a cache).

- :class:`ShawRPE` ("shaw_rpe", Shaw et al. 2018; Music Transformer, Huang et al. 2018): learned
  ``a_h(ℓ)``, lag ``ℓ = clip(p_n − p_m, −C, C)``.
- :class:`StructureRPE` ("structure_rpe", [S24]): lags are label differences ``s_n − s_m`` per
  structure level (summed over levels); ``mode="learned"`` (clipped table) or ``"sinusoidal"``
  (``a(ℓ) = W_l sinusoid(ℓ; base_l)``, evaluated exactly as a rank-D product, no T×S×D tensor);
  ``non_stationary=True``: the lag is the within-segment time ``τ_n − τ_m`` (τ = time since the
  start of the current run of equal labels) and the term is zero where labels differ;
  :class:`NonStationaryRPE` ("nonstationary_rpe") is that variant by default.

The learned stationary bias has a low-rank form (:meth:`StructureRPE.bias_factors`: one column
per distinct key label, far fewer than S): the attention layer folds it into q and k and runs the
fused causal kernel, no ``[B, H, T, S]`` tensor; :meth:`StructureRPE.bias_reference` is the
definition, which the tests compare it with.

They exist to compare against: each dense ``bias`` refuses, naming the memory it would need, any
input whose ``[B, H, T, S]`` tensors exceed ``max_bytes`` (default 2 GiB).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stripes.positional.absolute import SINE_BASES
from stripes.positional.base import RelativeBiasPE, register


def check_quadratic_memory(
    name: str, shape: tuple[int, ...], itemsize: int, max_bytes: int
) -> None:
    """Raise ``MemoryError`` when two ``shape`` tensors (bias, temporary) exceed ``max_bytes``."""
    need = 2 * math.prod(shape) * itemsize
    if need > max_bytes:
        raise MemoryError(
            f"{name} would need {need / 2**30:.2f} GiB for its {list(shape)} logit-bias tensors, "
            f"above max_bytes = {max_bytes / 2**30:.2f} GiB; use a linear-complexity PE (SPE, "
            "F-StrIPE, RoPE) or raise max_bytes"
        )


def segment_times(labels: Tensor) -> Tensor:
    """Time since the start of the current run of equal labels: ``[B, S] -> [B, S]`` (long)."""
    s = labels.shape[-1]
    t = torch.arange(s, device=labels.device).expand_as(labels)
    start = torch.ones_like(labels, dtype=torch.bool)
    start[..., 1:] = labels[..., 1:] != labels[..., :-1]
    return t - torch.cummax(torch.where(start, t, torch.zeros_like(t)), dim=-1).values


def distinct_values(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Each row's distinct labels and every label's place among them: ``[Bp, S] -> (values
    [Bp, U], index [Bp, S])`` with ``values[b, index[b, s]] == labels[b, s]``; U is the largest
    row's count (a shorter row's spare slots hold 0 and no label points at them)."""
    ordered, order = labels.sort(dim=-1)
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    rank = first.long().cumsum(-1) - 1  # place of each sorted label among the distinct ones
    count = int(rank[:, -1].max()) + 1 if rank.numel() else 0
    index = torch.empty_like(rank).scatter_(1, order, rank)
    values = ordered.new_zeros(ordered.shape[0], count).scatter_(1, rank, ordered)
    return values, index


def _levels(positions: Tensor) -> Tensor:
    return positions[..., None] if positions.dim() == 2 else positions


class _ShawBase(RelativeBiasPE):
    def __init__(self, n_heads: int, head_dim: int, max_bytes: int):
        super().__init__()
        self.n_heads, self.head_dim, self.max_bytes = n_heads, head_dim, max_bytes

    def _check(self, q: Tensor, s: int) -> None:
        b, t = q.shape[:2]
        check_quadratic_memory(type(self).__name__, (b, self.n_heads, t, s), q.element_size(),
                               self.max_bytes)

    def _table_term(self, q: Tensor, table: Tensor, lag: Tensor, clip: int) -> Tensor:
        """``q_m · table_h[clip(lag) + C] / √D``: q ``[B,T,H,D]``, lag ``[Bp,T,S]`` -> B,H,T,S."""
        rel = torch.einsum("bthd,hld->bhtl", q, table.to(q)) / math.sqrt(self.head_dim)
        idx = (lag.clamp(-clip, clip) + clip).long()[:, None]  # [Bp, 1, T, S]
        b, h, t, _ = rel.shape
        return rel.gather(-1, idx.expand(b, h, t, idx.shape[-1]))


@register("shaw_rpe")
class ShawRPE(_ShawBase):
    """Shaw / Music-Transformer relative PE: learned per-head ``a_h(ℓ) ∈ R^D``, ``|ℓ| ≤ C``.

    Args:
        n_heads, head_dim: H, D.
        max_distance: C, the clipping distance.
        max_bytes: memory budget of the ``[B, H, T, S]`` tensors.
    """

    def __init__(self, n_heads: int, head_dim: int, max_distance: int = 128,
                 max_bytes: int = 2**31):
        super().__init__(n_heads, head_dim, max_bytes)
        self.max_distance = max_distance
        self.table = nn.Parameter(0.02 * torch.randn(n_heads, 2 * max_distance + 1, head_dim))

    def bias(self, positions, key_positions=None, q=None):
        """``b_mn = q_m · a(clip(p_n − p_m)) / √D`` ``[B, H, T, S]``; positions ``[B or 1, ·]``."""
        key_positions = positions if key_positions is None else key_positions
        self._check(q, key_positions.shape[1])
        lag = key_positions[:, None, :] - positions[:, :, None]
        return self._table_term(q, self.table, lag, self.max_distance)


@register("structure_rpe")
class StructureRPE(_ShawBase):
    """StructureRPE ([S24]) over L label levels (module docstring).

    Args:
        n_heads, head_dim: H, D.
        position_dim: L, the number of label levels.
        mode: ``learned`` (clipped table) or ``sinusoidal``.
        max_distance: C (learned mode).
        bases: per-level sinusoid bases (default [S24]'s).
        non_stationary: within-segment lags, zero where labels differ.
        max_bytes: memory budget of the ``[B, H, T, S]`` tensors.
    """

    factored = True  # learned stationary mode (bias_factors says None otherwise)
    max_rank = 128  # largest U of bias_factors (not a setting: a cost threshold)

    def __init__(self, n_heads: int, head_dim: int, position_dim: int = 1, mode: str = "learned",
                 max_distance: int = 64, bases=None, non_stationary: bool = False,
                 max_bytes: int = 2**31):
        super().__init__(n_heads, head_dim, max_bytes)
        if mode not in ("learned", "sinusoidal"):
            raise ValueError(f"mode must be 'learned' or 'sinusoidal', got {mode!r}")
        self.levels, self.mode, self.max_distance = position_dim, mode, max_distance
        self.non_stationary = non_stationary
        default = [SINE_BASES[i] if i < 4 else 10000.0 * 1.1**i for i in range(position_dim)]
        self.bases = list(bases or default)
        if mode == "learned":
            size = (position_dim, n_heads, 2 * max_distance + 1, head_dim)
            self.table = nn.Parameter(0.02 * torch.randn(size))
        else:
            eye = torch.eye(head_dim).expand(position_dim, n_heads, -1, -1)
            self.weight = nn.Parameter(eye.clone())  # W_l per head: a(ℓ) = W sinusoid(ℓ)

    def bias(self, positions, key_positions=None, q=None):
        """Labels ``[B or 1, T(, L)]`` of the queries and ``[B or 1, S(, L)]`` of the keys.

        The product of :meth:`bias_factors` where they exist, else :meth:`bias_reference`.
        """
        factors = self.bias_factors(positions, key_positions, q)
        if factors is None:
            return self.bias_reference(positions, key_positions, q)  # checks the memory itself
        left, right = factors
        self._check(q, right.shape[1])
        return torch.einsum("bthu,bsu->bhts", left, right.expand(left.shape[0], -1, -1))

    def bias_factors(self, positions, key_positions=None, q=None):
        """Learned stationary mode: ``b_mn = Σ_l q_m · a_l(clip(s_n − s_m)) / √D`` depends on key n
        only through its labels, so one column per distinct key label and level suffices:
        ``left [B, T, H, U]`` (query m against each distinct label), ``right [B or 1, S, U]``
        (one-hot of key n's labels), U = Σ_l distinct labels of level l (largest over the batch;
        POP909, 16 bars, context fs: U ≈ 35 against S = 1024). ``None`` in the other modes and
        when U exceeds ``max_rank`` (then the factors would cost more than they save), and on the
        meta device, whose labels hold no values to count, and under ``torch.compile`` (U is
        data-dependent)."""
        keys = _levels(positions if key_positions is None else key_positions)
        if self.mode != "learned" or self.non_stationary or keys.device.type == "meta" or \
                torch.compiler.is_compiling():  # U is data-dependent: the dense bias serves
            return None
        queries = _levels(positions)
        distinct = [distinct_values(keys[..., lvl]) for lvl in range(self.levels)]
        if sum(values.shape[1] for values, _ in distinct) > self.max_rank:
            return None
        lefts, rights = [], []
        for lvl, (values, index) in enumerate(distinct):  # [Bp, U_l], [Bp, S]
            lag = values[:, None, :] - queries[..., lvl][:, :, None]  # [Bp, T, U_l]
            lefts.append(self._table_term(q, self.table[lvl], lag, self.max_distance))
            rights.append(F.one_hot(index, values.shape[1]))
        left = torch.cat(lefts, -1).transpose(1, 2)  # [B, H, T, U] -> [B, T, H, U]
        return left, torch.cat(rights, -1).to(left.dtype)

    def bias_reference(self, positions, key_positions=None, q=None):
        """The bias straight from the definition: one clipped-lag table lookup per level and
        query/key pair (``[B, H, T, S]`` per level), summed over levels."""
        keys = _levels(positions if key_positions is None else key_positions)
        queries = _levels(positions)
        t = queries.shape[1]
        self._check(q, keys.shape[1])
        total: Tensor | float = 0.0
        for lvl in range(self.levels):
            sq, sk = queries[..., lvl], keys[..., lvl]
            if self.non_stationary:
                tau = segment_times(sk)
                vq, vk = tau[:, -t:], tau
            else:
                vq, vk = sq, sk
            term = self._term(q, vq, vk, lvl)
            if self.non_stationary:
                term = term * (sq[:, :, None] == sk[:, None, :])[:, None]
            total = total + term
        return total

    def _term(self, q: Tensor, vq: Tensor, vk: Tensor, lvl: int) -> Tensor:
        if self.mode == "learned":
            lag = vk[:, None, :] - vq[:, :, None]
            return self._table_term(q, self.table[lvl], lag, self.max_distance)
        return self._sinusoid_term(q, vq, vk, lvl)

    def _sinusoid_term(self, q: Tensor, vq: Tensor, vk: Tensor, lvl: int) -> Tensor:
        """``q_m · W sinusoid(v_n − v_m) / √D`` as the rank-D product ``A_m · B_n``.

        With ``u = Wᵀq`` and ``sinusoid(ℓ)_{2i, 2i+1} = (sin ω_iℓ, cos ω_iℓ)``:
        ``u·sinusoid(v_n − v_m) = Σ_i c_n(u_{2i+1} c_m − u_2i s_m) + s_n(u_2i c_m + u_{2i+1} s_m)``
        with ``c = cos ω_i v``, ``s = sin ω_i v``.
        """
        acc = torch.promote_types(q.dtype, torch.float32)
        d = self.head_dim
        omega = self.bases[lvl] ** (-2 * torch.arange(d // 2, dtype=torch.float64) / d)
        omega = omega.to(device=q.device, dtype=acc)
        u = torch.einsum("bthd,hde->bthe", q.to(acc), self.weight[lvl].to(acc))
        u0, u1 = u[..., 0::2], u[..., 1::2]  # [B, T, H, D/2]
        am = vq.to(acc)[..., None] * omega  # [Bp, T, D/2]
        cm, sm = am.cos()[:, :, None], am.sin()[:, :, None]
        left = torch.cat([u1 * cm - u0 * sm, u0 * cm + u1 * sm], -1)  # [B, T, H, D]
        an = vk.to(acc)[..., None] * omega
        right = torch.cat([an.cos(), an.sin()], -1)  # [Bp, S, D]
        out = torch.einsum("bthe,bse->bhts", left, right.expand(left.shape[0], -1, -1))
        return (out / math.sqrt(d)).to(q.dtype)


@register("nonstationary_rpe")
class NonStationaryRPE(StructureRPE):
    """StructureRPE with ``non_stationary=True`` ([S24]'s non-stationary kernel), same arguments."""

    def __init__(self, n_heads: int, head_dim: int, position_dim: int = 1, mode: str = "learned",
                 max_distance: int = 64, bases=None, non_stationary: bool = True,
                 max_bytes: int = 2**31):
        super().__init__(n_heads, head_dim, position_dim, mode, max_distance, bases,
                         non_stationary, max_bytes)
