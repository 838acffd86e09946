"""The one-token pooling of decoding equals each PE's own forward on that token: sineSPE
(gated or not, times or structure vectors), F-StrIPE (with key phases or not), F-StrIPE₁;
awkward sizes, shared and per-sequence positions, positions far from zero."""

import math

import pytest
import torch

from stripes.positional import FStrIPE, FStrIPE1, SineSPE
from stripes.positional.base import ForwardTokenStep
from stripes.positional.ops.token_pool import rotation_weights

H, D, K, R = 3, 5, 3, 7


def _pe(kind: str, position_dim: int):
    torch.manual_seed(0)
    if kind.startswith("sine_spe"):
        pe = SineSPE(H, D, n_sines=K, n_realizations=R, position_dim=position_dim,
                     gated=kind.endswith("gated"), n_layers=2)
        if pe.gated:  # gates away from 1/2 so that both parts matter
            torch.nn.init.normal_(pe.gate, std=2.0)
    elif kind == "fstripe_key_phases":
        pe = FStrIPE(H, D, n_sines=K, position_dim=position_dim, key_phases=True)
        torch.nn.init.normal_(pe.key_phases)
    elif kind == "fstripe1":
        pe = FStrIPE1(H, D, position_dim=position_dim)
    else:
        pe = FStrIPE(H, D, n_sines=K, position_dim=position_dim)
    with torch.no_grad():  # frequencies of all sizes, not only the long initial periods
        pe.freq_logits.normal_(0.0, 2.0)
    return pe.double().eval()


KINDS = ["sine_spe", "sine_spe_gated", "fstripe", "fstripe_key_phases", "fstripe1"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("offset", [0, 37, 10_003])
def test_one_token_at_a_time_equals_the_forward_at_that_time(kind, offset):
    pe, b = _pe(kind, 1), 2
    code = pe.draw_code(generator=torch.Generator().manual_seed(3)) if kind.startswith(
        "sine") else None
    layer = 1 if kind == "sine_spe_gated" else 0
    step = pe.token_step(code, layer, b, torch.empty((), dtype=torch.float64))
    q, k = torch.randn(2, b, 1, H, D, dtype=torch.float64)
    with torch.no_grad():
        ref_q, ref_k = pe(q, k, offset=offset, code=code, layer=layer)
    got = step(torch.stack([q[:, 0], k[:, 0]], 1), offset)
    torch.testing.assert_close(got[:, 0], ref_q[:, 0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(got[:, 1], ref_k[:, 0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_structure_vectors_per_sequence_equal_the_forward(kind):
    pe, b, length = _pe(kind, 3), 3, 4
    code = pe.draw_code(generator=torch.Generator().manual_seed(4)) if kind.startswith(
        "sine") else None
    step = pe.token_step(code, 0, b, torch.empty((), dtype=torch.float64))
    pos = torch.randint(-5, 30, (b, length, 3)).double()
    q, k = torch.randn(2, b, length, H, D, dtype=torch.float64)
    with torch.no_grad():
        ref_q, ref_k = pe(q, k, positions=pos, code=code)
    for t in range(length):
        got = step(torch.stack([q[:, t], k[:, t]], 1), positions=pos[:, t : t + 1])
        torch.testing.assert_close(got[:, 0], ref_q[:, t], rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(got[:, 1], ref_k[:, t], rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="positions for 2 sequences"):
        step(torch.randn(b, 2, H, D, dtype=torch.float64), positions=pos[:2, :1])


def test_rotation_weights_turn_cos_and_sin_into_their_phase_shifted_outputs():
    w = torch.rand(2, 4, 2 * K, dtype=torch.float64) + 0.5
    theta = torch.randn(2, 4, K, dtype=torch.float64)
    a = torch.randn(2, 4, K, dtype=torch.float64)
    omega = torch.cat([a.cos(), a.sin()], -1)  # [H, D, 2K]
    got = torch.einsum("hdj,hdjo->hdo", omega, rotation_weights(w, theta))
    want = torch.cat([(a + theta).cos(), (a + theta).sin()], -1) * w
    torch.testing.assert_close(got, want)
    plain = torch.einsum("hdj,hdjo->hdo", omega, rotation_weights(w, None))
    torch.testing.assert_close(plain, omega * w)
    assert math.isclose(float(rotation_weights(w, None).count_nonzero()), 2 * 4 * 2 * K)


def test_a_spe_without_any_code_steps_through_its_own_forward():
    assert isinstance(_pe("sine_spe", 1).token_step(None, 0, 1, torch.empty(())),
                      ForwardTokenStep)
