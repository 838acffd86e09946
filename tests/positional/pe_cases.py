"""Shared builders for the positional tests: every PE family in small float64 configurations."""

import torch

from stripes.positional import PositionalConfig, RelativeBiasPE

D_MODEL, N_HEADS, HEAD_DIM = 32, 4, 8

# name -> (kind, params, position_dim); position_dim > 1 means structure-vector positions.
QK_CASES = {
    "sine_spe": ("sine_spe", dict(n_sines=3, n_realizations=8, pool_rows=8), 1),
    "sine_spe_gated": ("sine_spe", dict(n_sines=2, n_realizations=8, gated=True), 1),
    "sine_spe_orthogonal": ("sine_spe", dict(n_sines=2, n_realizations=6, noise="orthogonal"), 1),
    "fstripe_sff": ("sine_spe", dict(n_sines=2, n_realizations=8, pool_rows=8), 2),
    "conv_spe": ("conv_spe", dict(kernel_size=5, n_realizations=8, block_size=4), 1),
    "conv_spe_fft_gated": (
        "conv_spe",
        dict(kernel_size=6, n_realizations=8, block_size=4, method="fft", gated=True),
        1,
    ),
    "fstripe": ("fstripe", dict(n_sines=3, pool_rows=8, key_phases=True), 1),
    "fstripe_vector": ("fstripe", dict(n_sines=2), 3),
    "fstripe1": ("fstripe1", dict(pool_rows=8), 2),
    "rope_A": ("rope", dict(variant="A", max_len=4), 1),
    "rope_B": ("rope", dict(variant="B"), 1),
    "rope_C_vector": ("rope", dict(variant="C"), 2),
    "rope_pool_A": ("rope_pool", dict(variant="A"), 1),
    "rope_pool_C": ("rope_pool", dict(variant="C"), 2),
}
BIAS_CASES = {
    "shaw_rpe": ("shaw_rpe", dict(max_distance=4), 1),
    "structure_rpe": ("structure_rpe", dict(max_distance=3), 2),
    "structure_rpe_sine": ("structure_rpe", dict(mode="sinusoidal"), 1),
    "nonstationary_rpe": ("nonstationary_rpe", dict(max_distance=5), 1),
    "nonstationary_rpe_sine": ("structure_rpe", dict(non_stationary=True, mode="sinusoidal"), 2),
}
ADDITIVE_CASES = {
    "none": ("none", {}, 1),
    "sinusoidal": ("sinusoidal", {}, 1),
    "learned": ("learned", {}, 1),
    "structure_ape": ("structure_ape", dict(vocab_sizes=[5, 3]), 2),
    "structure_ape_sine": ("structure_ape", dict(mode="sinusoidal"), 2),
}


LABEL_KINDS = ("structure_rpe", "nonstationary_rpe", "structure_ape")


def hooks(pe):
    """The attention layer's keyword for ``pe``: its query/key hook or its logit-bias hook."""
    if isinstance(pe, RelativeBiasPE):
        return {"bias_pe": pe}
    return {"qk_pe": pe}


def build(kind, params, position_dim=1, n_layers=2):
    """A PE through the configuration path a model uses, in float64."""
    pe = PositionalConfig(kind, dict(params)).build(
        d_model=D_MODEL, n_heads=N_HEADS, head_dim=HEAD_DIM, position_dim=position_dim,
        max_len=64, n_layers=n_layers,
    )
    return pe.double()


def make_positions(kind, position_dim, batch, length, seed=0):
    """Times (None), integer labels, or structure vectors with repeated values."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "shaw_rpe" or (position_dim == 1 and kind not in LABEL_KINDS):
        return None
    labels = torch.randint(0, 3, (batch, length, position_dim), generator=gen)
    labels = labels.cumsum(1) // 2  # runs of equal labels, slowly increasing
    if kind == "structure_ape":
        return labels.clamp(max=2)
    if kind in ("structure_rpe", "nonstationary_rpe"):
        return labels[..., 0] if position_dim == 1 else labels
    return labels.double()
