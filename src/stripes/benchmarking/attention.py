"""Attention time and peak memory versus T: softmax (SDPA, oracle) against linear attention.

``run_attention_benchmark`` drives the series (``stripes bench attention``); every point runs in
a fresh process through ``python -m stripes.benchmarking.attention METHOD T MODE``, with the
default allocator (what users get). Shapes follow docs/performance.md: B=1, H=8, D=E=M=64,
float32. Paired ratios against fast-transformers' CPU kernel and SDPA:
:mod:`stripes.benchmarking.attention_paired`.

FLOPs are counted by one chunk-independent formula per operation (:func:`forward_flops`), so a
chunk size cannot look faster by doing more work: causal linear attention is charged the state
path ``4·T·M·E`` plus the causal half of the intra-chunk products at the reference chunk
``REF_CHUNK = 64``, ``T·REF_CHUNK·(M+E)``, per head, whatever chunk it runs with (a 256-token
chunk executes 2.7x that count at C = 256 and gets no credit for it). Backward: twice the forward.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import torch
import torch.nn.functional as F
from tqdm import tqdm

from stripes.benchmarking.common import (
    machine_header,
    markdown_header,
    markdown_table,
    measure_call,
    measure_matmul_peak,
    run_isolated,
    write_results,
)
from stripes.extras import MissingExtra, install_line, needs

B, H, D = 1, 8, 64
METHODS = (
    "sdpa",
    "oracle",
    "linear_c64",
    "linear_c128",
    "linear_c256",
    "linear_noncausal",
    "recurrent",
    "fast_transformers",
)
REF_CHUNK = 64
FULL_T = [512, 1024, 2048, 4096, 8192, 16384, 32768]
QUICK_T = [512, 1024, 2048, 4096]
MEMORY_CAP = 8 << 30  # skip quadratic points whose T×T tensors alone would exceed this


def forward_flops(method: str, t: int) -> float:
    """Useful FLOPs of one forward (B·H heads) by the chunk-independent count (module docstring).

    Causal softmax: the causal half of ``2·T²·(D+E)``. Causal linear attention (any chunk, and
    fast-transformers): ``T·(REF_CHUNK·(M+E) + 4·M·E)``. Non-causal and recurrent linear:
    ``4·T·M·E`` (state product and readout).
    """
    m = e = D
    if method in ("sdpa", "oracle"):
        return B * H * t * t * (m + e)
    if method.startswith("linear_c") or method == "fast_transformers":
        return B * H * t * (REF_CHUNK * (m + e) + 4 * m * e)
    return B * H * t * 4 * m * e


def fast_transformers_attention():
    """fast-transformers' causal linear attention on featurized ``[B, T, H, ·]`` inputs (its
    ``CausalLinearAttention`` after the feature map: the CPU ``causal_dot_product`` kernel for the
    numerator, a cumulative sum for the normalizer), or None when it is not installed."""
    try:
        with needs("bench"):
            from fast_transformers.causal_product import causal_dot_product
    except ImportError:  # an optional baseline (or a broken build of it): marked skipped
        return None

    def attend(q, k, v, eps=1e-6):
        z = 1 / (torch.einsum("nlhi,nlhi->nlh", q, k.cumsum(1)) + eps)
        num = causal_dot_product(q.permute(0, 2, 1, 3).contiguous(),
                                 k.permute(0, 2, 1, 3).contiguous(),
                                 v.permute(0, 2, 1, 3).contiguous())
        return num.permute(0, 2, 1, 3) * z[..., None]

    return attend


def _inputs(t: int, grad: bool, device: str = "cpu"):
    g = torch.Generator().manual_seed(0)  # drawn on the CPU: the same inputs on every device
    q = torch.rand(B, t, H, D, generator=g).to(device).requires_grad_(grad)
    k = torch.rand(B, t, H, D, generator=g).to(device).requires_grad_(grad)
    v = torch.randn(B, t, H, D, generator=g).to(device).requires_grad_(grad)
    return q, k, v


def make_call(method: str, t: int, mode: str, device: str = "cpu"):
    """A zero-argument callable that runs one forward (or forward+backward) of ``method``."""
    from stripes.attention import (
        linear_attention,
        recurrent_linear_attention_step,
        softmax_attention,
    )

    grad = mode == "fwdbwd"
    q, k, v = _inputs(t, grad, device)
    if method == "sdpa":
        qt, kt, vt = (
            x.detach().transpose(1, 2).contiguous().requires_grad_(grad) for x in (q, k, v)
        )
        op = lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)
    elif method == "oracle":
        op = lambda: softmax_attention(q, k, v, causal=True)
    elif method.startswith("linear_c"):
        c = int(method[len("linear_c") :])
        op = lambda: linear_attention(q, k, v, causal=True, chunk_size=c)[0]
    elif method == "fast_transformers":
        attend = fast_transformers_attention()
        if attend is None:
            raise MissingExtra(install_line("bench", "fast_transformers"))
        op = lambda: attend(q, k, v)
    elif method == "linear_noncausal":
        op = lambda: linear_attention(q, k, v, causal=False)[0]
    elif method == "recurrent":
        if grad:
            raise ValueError("recurrent decoding is timed forward only")

        def op():
            state, o = None, None
            with torch.inference_mode():
                for i in range(t):
                    o, state = recurrent_linear_attention_step(q[:, i], k[:, i], v[:, i], state)
            return o
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    if not grad:
        return lambda: op()
    return lambda: op().sum().backward()


def measure_point(method: str, t: int, mode: str, repeats: int = 3, device: str = "cpu") -> dict:
    """Peak memory of a cold call, then the median time (default allocator).

    A point whose cold call took over 2 s is timed once more (no warm-up beyond the cold call):
    repeating multi-second quadratic points adds minutes and no information. On CUDA, timings
    are synchronized and memory is the allocator's peak (:mod:`stripes.benchmarking.common`).
    """
    measured = measure_call(make_call(method, t, mode, device), repeats, device=device)
    seconds, mem = measured["seconds"], measured["peak_bytes"]
    flops = forward_flops(method, t) * (3 if mode == "fwdbwd" else 1)
    return {
        "method": method,
        "T": t,
        "mode": mode,
        "seconds": seconds,
        "peak_bytes": mem,
        "gflops": flops / seconds / 1e9,
    }


def _growth(method: str) -> float:
    """Time factor per doubling of T: 4 for quadratic attention, 2 for the linear paths."""
    return 4.0 if method in ("sdpa", "oracle") else 2.0


def _too_big(method: str, t: int) -> bool:
    return method == "oracle" and 3 * B * H * t * t * 4 > MEMORY_CAP


def run_attention_benchmark(
    out_dir: str = "benchmarks/results", quick: bool = False, budget_s: float = 20.0
) -> dict:
    """Run every series, write ``attention.json`` / ``attention.md`` and return the payload."""
    header = machine_header()
    peak = measure_matmul_peak()
    lengths = QUICK_T if quick else FULL_T
    points = []
    series = [
        (m, mode)
        for m in METHODS
        for mode in ("fwd", "fwdbwd")
        if not (m == "recurrent" and mode == "fwdbwd")
    ]
    have_ft = fast_transformers_attention() is not None
    for method, mode in tqdm(series, desc="attention benchmark", unit="series"):
        if method == "fast_transformers" and not have_ft:
            points.append({"method": method, "T": lengths[0], "mode": mode,
                           "skipped": "not installed"})
            continue
        for t in lengths:
            if _too_big(method, t):
                points.append({"method": method, "T": t, "mode": mode, "skipped": "memory"})
                break
            res = run_isolated("stripes.benchmarking.attention", [method, str(t), mode])
            res.update(method=method, T=t, mode=mode)
            points.append(res)
            # stop a series before a point predicted to exceed the budget
            if "error" in res or res["seconds"] * _growth(method) > budget_s:
                break
    payload = {
        "header": header,
        "matmul_peak_gflops": peak,
        "shape": {"B": B, "H": H, "D": D},
        "flop_count": "causal linear: T·(REF_CHUNK·(M+E) + 4·M·E) per head, REF_CHUNK = "
                      f"{REF_CHUNK}, whatever the chunk; backward 2x forward (module docstring)",
        "allocator": "default",
        "points": points,
        "targets": check_targets(points, peak),
    }
    md = markdown_header("Attention benchmark", header, peak) + render_markdown(payload)
    write_results(out_dir, "attention_quick" if quick else "attention", payload, md)
    return payload


def _get(points, method, t, mode):
    for p in points:
        if p["method"] == method and p["T"] == t and p["mode"] == mode and "seconds" in p:
            return p
    return None


def _slope(points, method, mode, key, t0=4096, t1=32768):
    a, b = _get(points, method, t0, mode), _get(points, method, t1, mode)
    if not a or not b or a[key] <= 0:
        return None
    return math.log(b[key] / a[key]) / math.log(t1 / t0)


def _best_fraction(points, mode, peak):
    """The best causal linear point at T >= 4096 by the honest count, as a fraction of peak."""
    best = max((p for p in points if p["method"].startswith("linear_c") and p["mode"] == mode
                and p["T"] >= 4096 and "gflops" in p), key=lambda p: p["gflops"], default=None)
    return (best, best["gflops"] / peak) if best else (None, None)


def check_targets(points: list[dict], peak: float) -> list[dict]:
    """The targets of docs/performance.md, each with the measured value and whether it holds
    (paired ratios against fast-transformers: :mod:`stripes.benchmarking.attention_paired`)."""
    out = []
    for mode, goal, label in (("fwd", 0.5, "forward"), ("fwdbwd", 0.4, "forward+backward")):
        best, frac = _best_fraction(points, mode, peak)
        if best:
            out.append({"target": f"causal chunked {label}, T>=4096, >= {goal:.0%} of matmul "
                                  "peak (honest count)",
                        "measured": f"{100 * frac:.0f} % ({best['method']}, T={best['T']})",
                        "holds": frac >= goal})
    for mode, label in (("fwd", "forward"), ("fwdbwd", "fwd+bwd")):
        for key, what in (("seconds", "time"), ("peak_bytes", "peak memory")):
            s = _slope(points, "linear_c64", mode, key)
            if s is not None:
                out.append({"target": f"linear_c64 {label} {what} log-log slope 4096->32768 "
                                      "<= 1.1", "measured": f"{s:.2f}", "holds": s <= 1.1})
    lin, sdpa = _get(points, "linear_c64", 8192, "fwdbwd"), _get(points, "sdpa", 8192, "fwdbwd")
    if lin and sdpa:
        ratio = sdpa["seconds"] / lin["seconds"]
        out.append({"target": "T=8192 fwd+bwd: linear >= 5x faster than causal SDPA",
                    "measured": f"{ratio:.1f}x", "holds": ratio >= 5})
    return out


def render_markdown(payload: dict) -> str:
    """Tables: seconds / peak MiB / %-of-peak per (method, mode) and T; then the targets."""
    points, peak = payload["points"], payload["matmul_peak_gflops"]
    lengths = sorted({p["T"] for p in points})
    text = ""
    for mode, title in (("fwd", "Forward"), ("fwdbwd", "Forward + backward")):
        rows = []
        for m in METHODS:
            cells = []
            for t in lengths:
                p = next(
                    (x for x in points if x["method"] == m and x["T"] == t and x["mode"] == mode),
                    None,
                )
                cells.append(_cell(p, peak))
            if any(c != "" for c in cells):
                rows.append([m, *cells])
        text += f"\n## {title}: seconds / peak MiB / % of matmul peak\n\n"
        text += markdown_table(["method", *[f"T={t}" for t in lengths]], rows)
    text += "\n## Targets\n\n" + markdown_table(
        ["target", "measured", "holds"],
        [
            [t["target"], t["measured"], "yes" if t["holds"] else "**no**"]
            for t in payload["targets"]
        ],
    )
    return text


def _cell(p, peak) -> str:
    if p is None:
        return ""
    if "skipped" in p:
        return f"skipped ({p['skipped']})"
    if "error" in p:
        return "failed"
    return f"{p['seconds']:.3g} s / {p['peak_bytes'] / 2**20:.0f} / {100 * p['gflops'] / peak:.0f}%"


def _main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description="measure one benchmark point (used internally)")
    ap.add_argument("method", choices=METHODS)
    ap.add_argument("T", type=int)
    ap.add_argument("mode", choices=("fwd", "fwdbwd"))
    ap.add_argument("--device", default="cpu", help="where to run the point (default: cpu)")
    args = ap.parse_args(argv)
    print(json.dumps(measure_point(args.method, args.T, args.mode, device=args.device)))


if __name__ == "__main__":
    _main(sys.argv[1:])
