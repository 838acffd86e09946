"""Every PE runs where its inputs live. The meta device (no values, and it refuses to mix devices
as CUDA does) stands in for an accelerator on a CPU-only machine: every registry kind runs its
forward and backward there. Paths that read values to choose a code path (explicit times, the
distinct structure positions of F-StrIPE's tables) cannot run on meta; the ``gpu`` tests, which
run where CUDA exists, compare every PE on CUDA with the CPU."""

import pytest
import torch
from pe_cases import ADDITIVE_CASES, BIAS_CASES, QK_CASES, build, make_positions

from stripes.positional import (
    AdditivePE,
    PositionalConfig,
    RelativeBiasPE,
    available_kinds,
    build_positional,
)
from stripes.positional.ops.conv_band import NoiseBlocks
from stripes.positional.ops.spe_noise import ConvCode, draw_noise

META = torch.device("meta")
B, T, H, D = 2, 37, 2, 8
# constructor arguments a kind needs beyond (d_model | n_heads, head_dim), and label positions
NEEDS = {"structure_ape": dict(vocab_sizes=[5]), "conv_spe": dict(kernel_size=5, block_size=4)}
LABELS = ("structure_ape", "structure_rpe", "nonstationary_rpe")


def _build(kind):
    pe = PositionalConfig(kind, NEEDS.get(kind, {})).build(d_model=H * D, n_heads=H, head_dim=D)
    return pe, isinstance(pe, AdditivePE)


def _run(pe, additive, device, length, offset=0):
    """Forward and backward of one PE on ``device``; returns the outputs."""
    labels = torch.zeros(B, length, dtype=torch.long, device=device) if pe.kind in LABELS \
        else None
    if additive:
        x = torch.randn(B, length, H * D, device=device, requires_grad=True)
        out = (pe(x, positions=labels, offset=offset),)
    elif isinstance(pe, RelativeBiasPE):
        q = torch.randn(B, length, H, D, device=device, requires_grad=True)
        pos = labels if labels is not None else torch.arange(length, device=device)[None]
        out = (pe.bias(pos, pos, q),)
    else:
        q, k = (torch.randn(B, length, H, D, device=device, requires_grad=True) for _ in "qk")
        code = pe.draw_code(length) if pe.stochastic else None
        out = pe(q, k, offset=offset, code=code)
    sum(o.sum() for o in out).backward()
    return out


@pytest.mark.parametrize("length, offset", [(T, 0), (1, 8191)], ids=["parallel", "step"])
@pytest.mark.parametrize("kind", available_kinds())
def test_every_registry_kind_runs_forward_and_backward_on_the_meta_device(kind, length, offset):
    pe, additive = _build(kind)
    if kind == "learned":
        offset = min(offset, pe.max_len - 1)
    out = _run(pe.to(META), additive, META, length, offset)
    assert all(o.device == META for o in out)
    assert all(p.grad is None or p.grad.device == META for p in pe.parameters())


@pytest.mark.parametrize("kind, params", [("rope", dict(variant="A")), ("rope_pool", {}),
                                          ("rope", dict(variant="B", max_len=8))])
def test_rotary_tables_built_on_the_cpu_follow_the_module_to_another_device(kind, params):
    """A CPU call caches a table; after ``.to(device)`` the next call must not reuse it."""
    pe = build_positional(kind, n_heads=H, head_dim=D, **params)
    q = torch.randn(1, 5, H, D)
    pe(q, q)
    qm = pe.to(META)(q.to(META), q.to(META))[0]
    assert qm.device == META


def test_sinusoidal_ape_table_follows_the_input_device():
    pe = build_positional("sinusoidal", d_model=H * D)
    x = torch.randn(1, 5, H * D)
    pe(x)
    assert pe(x.to(META)).device == META
    assert pe(x.to(META), positions=torch.arange(5, device=META)[None]).device == META


def test_conv_spe_noise_is_drawn_on_the_device_of_its_inputs():
    """Not on the CPU block by block and then copied: the generator lives on the device."""
    code = ConvCode(seed=3, n_realizations=4)
    for kind in ("rademacher", "gaussian"):
        block = NoiseBlocks(code, 6, 4, kind, torch.empty((), device=META)).draw(0)
        assert block.device == META and block.shape == (6, 4, 4)
        assert draw_noise(kind, (3, 8), None, META).device == META
    cpu = NoiseBlocks(code, 6, 4, "rademacher", torch.empty(())).draw(1)
    assert torch.equal(cpu, NoiseBlocks(code, 6, 4, "rademacher", torch.empty(())).draw(1))


def test_time_start_of_default_positions_reads_no_tensor():
    from stripes.positional.ops.table_pool import time_start

    assert time_start(None, 5, 8191) == 8191
    assert time_start(torch.arange(3, 8)[None].double(), 5, 0) == 3


# --- CUDA (skipped where it is absent) ---------------------------------------------------------
CUDA_CASES = {**QK_CASES, **BIAS_CASES, **ADDITIVE_CASES}


def _cuda_forward_backward(pe, case, device):
    name, _, pdim = CUDA_CASES[case]
    gen = torch.Generator().manual_seed(1)
    pos = make_positions(name, pdim, B, T)
    pos = None if pos is None else pos.to(device)
    pe = pe.to(device)
    if case in ADDITIVE_CASES:
        x = torch.randn(B, T, 32, dtype=torch.float64, generator=gen).to(device).requires_grad_()
        out, inputs = (pe(x, positions=pos, offset=3),), [x]
    else:
        q, k = (torch.randn(B, T, 4, 8, dtype=torch.float64, generator=gen).to(device)
                .requires_grad_() for _ in "qk")
        if case in BIAS_CASES:
            p = pos if pos is not None else torch.arange(T, device=device)[None]
            out, inputs = (pe.bias(p, p, q),), [q]
        else:
            code = pe.draw_code(T, None, torch.Generator().manual_seed(7)) if pe.stochastic \
                else None
            out, inputs = pe(q, k, positions=pos, offset=3, code=code), [q, k]
    leaves = inputs + [p for p in pe.parameters() if p.requires_grad]
    g = [torch.randn(o.shape, dtype=o.dtype, generator=gen).to(device) for o in out]
    return [t.cpu() for t in (*out, *torch.autograd.grad(out, leaves, g, allow_unused=True))
            if t is not None]


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(CUDA_CASES))
def test_every_pe_on_cuda_equals_the_cpu_forward_and_backward(case):
    """convSPE draws its noise with the device's generator (another stream than the CPU's), so
    its CUDA run is compared with the CUDA noise evaluated on the CPU."""
    name, params, pdim = CUDA_CASES[case]
    pe = build(name, params, pdim)
    cuda = _cuda_forward_backward(pe, case, torch.device("cuda"))
    if name == "conv_spe":
        pytest.skip("compared through its explicit codes below")
    cpu = _cuda_forward_backward(pe, case, torch.device("cpu"))
    for a, b in zip(cuda, cpu, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.gpu
def test_conv_spe_on_cuda_equals_its_explicit_codes():
    pe = build_positional("conv_spe", n_heads=2, head_dim=3, kernel_size=5, n_realizations=4,
                          block_size=4).double().cuda()
    code = pe.draw_code(generator=torch.Generator().manual_seed(4))
    q, k = torch.randn(2, 2, 19, 2, 3, dtype=torch.float64, device="cuda")
    qh, kh = pe(q, k, code=code)
    qb, kb = pe.codes(code, 19)
    scale = (3 * 4) ** -0.25
    torch.testing.assert_close(qh, torch.einsum("bthd,othdr->bthr", q, qb) * scale)
    torch.testing.assert_close(kh, torch.einsum("bthd,othdr->bthr", k, kb) * scale)
