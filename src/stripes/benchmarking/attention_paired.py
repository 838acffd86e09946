"""Paired attention ratios: our chunked causal linear attention against fast-transformers' CPU
kernel and causal SDPA, timed alternately in one process per T (``stripes bench attention
--paired``), so that load from other processes hits every method alike.

Each T runs in a fresh process (``python -m stripes.benchmarking.attention_paired T``) with the
default allocator; ratios are medians over rounds of per-round ratios
(:func:`stripes.benchmarking.common.paired_ratio`). fast-transformers is optional
(``make bench-deps`` installs it; docs/performance.md); without it its columns read "not installed".
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from tqdm import tqdm

from stripes.benchmarking.attention import (
    fast_transformers_attention,
    forward_flops,
    make_call,
)
from stripes.benchmarking.common import (
    machine_header,
    markdown_header,
    markdown_table,
    measure_matmul_peak,
    measure_paired,
    paired_ratio,
    run_isolated,
    write_results,
)

PAIRED_T = [2048, 4096, 8192, 16384, 32768]
ROUNDS = 7
PROFILE_T = 32768
SDPA_MAX_T = 8192  # causal SDPA fwd+bwd grows as T²: 13 s a call at 16384 here, times 9 calls


def measure_paired_point(t: int, rounds: int = ROUNDS) -> dict:
    """One T: every available method, forward and forward+backward, alternately timed."""
    out: dict[str, Any] = {"T": t, "rounds": rounds}
    for mode in ("fwd", "fwdbwd"):
        calls = {"linear_c64": make_call("linear_c64", t, mode)}
        if fast_transformers_attention() is not None:
            calls["fast_transformers"] = make_call("fast_transformers", t, mode)
        if t <= SDPA_MAX_T:
            calls["sdpa"] = make_call("sdpa", t, mode)
        measured = measure_paired(calls, rounds=rounds)
        row = {name: m["seconds"] for name, m in measured.items()}
        for other in calls:
            if other != "linear_c64":
                row[f"{other}_over_ours"] = paired_ratio(measured, other, "linear_c64")
        flops = forward_flops("linear_c64", t) * (3 if mode == "fwdbwd" else 1)
        row["ours_gflops"] = flops / row["linear_c64"] / 1e9
        out[mode] = row
    return out


def profile_point(t: int = PROFILE_T) -> dict:
    """Where our causal path spends its time at ``t``: ``{mode: [[op, share of self time], ...]}``
    (torch.profiler, three calls after two warm-ups, the ops above 1 %)."""
    from torch.profiler import profile

    out = {}
    for mode in ("fwd", "fwdbwd"):
        call = make_call("linear_c64", t, mode)
        call()
        call()
        with profile() as prof:
            for _ in range(3):
                call()
        events = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
        total = sum(us for _, us in events) or 1.0
        out[mode] = [[key, us / total] for key, us in sorted(events, key=lambda x: -x[1])
                     if us / total >= 0.01]
    return out


def run_paired_benchmark(out_dir: str = "benchmarks/results", lengths=PAIRED_T,
                         rounds: int = ROUNDS) -> dict:
    """Every T in a fresh process, then the profile; writes ``attention_paired.{json,md}``."""
    header, peak = machine_header(), measure_matmul_peak()
    points = []
    for t in tqdm(lengths, desc="paired attention", unit="T"):
        res = run_isolated("stripes.benchmarking.attention_paired", [str(t), str(rounds)])
        points.append({"T": t, **res})
    payload = {"header": header, "matmul_peak_gflops": peak, "rounds": rounds,
               "fast_transformers": fast_transformers_attention() is not None,
               "points": points, "targets": check_paired_targets(points),
               "profile": run_isolated("stripes.benchmarking.attention_paired", ["--profile"])}
    md = markdown_header("Attention, paired ratios", header, peak) + render_paired(payload)
    write_results(out_dir, "attention_paired", payload, md)
    return payload


def check_paired_targets(points: list[dict]) -> list[dict]:
    """fwd+bwd >= 1.5x fast-transformers at every T in 2k-32k (docs/performance.md)."""
    ratios = [(p["T"], p["fwdbwd"].get("fast_transformers_over_ours")) for p in points
              if "fwdbwd" in p]
    ratios = [(t, r) for t, r in ratios if r is not None]
    if not ratios:
        return []
    worst = min(ratios, key=lambda x: x[1])
    out = [{"target": "fwd+bwd >= 1.5x fast-transformers at every T in 2048-32768 (paired)",
            "measured": f"worst {worst[1]:.2f}x at T={worst[0]}; "
                        + ", ".join(f"{t}: {r:.2f}x" for t, r in ratios),
            "holds": worst[1] >= 1.5 and len(ratios) == len(PAIRED_T)}]
    return out + slope_targets(points)


def slope_targets(points: list[dict], t0: int = 4096, t1: int = 32768) -> list[dict]:
    """Log-log slope of our median paired time from ``t0`` to ``t1`` <= 1.1, per mode."""
    by_t = {p["T"]: p for p in points}
    out = []
    for mode, label in (("fwd", "forward"), ("fwdbwd", "forward+backward")):
        a, b = by_t.get(t0, {}).get(mode, {}), by_t.get(t1, {}).get(mode, {})
        if "linear_c64" in a and "linear_c64" in b:
            slope = math.log(b["linear_c64"] / a["linear_c64"]) / math.log(t1 / t0)
            out.append({"target": f"ours (C=64) {label} time log-log slope {t0}->{t1} <= 1.1 "
                                  "(paired medians)", "measured": f"{slope:.2f}",
                        "holds": slope <= 1.1})
    return out


def render_paired(payload: dict) -> str:
    """Per mode: seconds of each method and the paired ratios, then the targets."""
    peak, text = payload["matmul_peak_gflops"], ""
    for mode, title in (("fwd", "Forward"), ("fwdbwd", "Forward + backward")):
        rows = []
        for p in payload["points"]:
            r = p.get(mode)
            if r is None:
                rows.append([p["T"], p.get("error", "failed"), "", "", "", ""])
                continue
            rows.append([p["T"], f"{1e3 * r['linear_c64']:.1f} ms",
                         f"{100 * r['ours_gflops'] / peak:.0f} %",
                         _ms(r, "fast_transformers"), _ratio(r, "fast_transformers"),
                         f"{_ms(r, 'sdpa')} ({_ratio(r, 'sdpa')})"])
        text += f"\n## {title} (median of {payload['rounds']} paired rounds)\n\n"
        text += markdown_table(["T", "ours (C=64)", "ours, % of peak (honest count)",
                                "fast-transformers", "fast-transformers / ours",
                                "causal SDPA (/ ours)"], rows)
    text += render_profile(payload.get("profile"))
    if payload["targets"]:
        text += "\n## Targets\n\n" + markdown_table(
            ["target", "measured", "holds"],
            [[t["target"], t["measured"], "yes" if t["holds"] else "**no**"]
             for t in payload["targets"]])
    return text


def render_profile(profile: dict | None) -> str:
    """The profile's op shares, forward and forward+backward side by side."""
    if not profile or "error" in profile:
        return ""
    ops = list(dict.fromkeys(op for mode in ("fwd", "fwdbwd") for op, _ in profile[mode]))
    share = {mode: dict(profile[mode]) for mode in ("fwd", "fwdbwd")}
    rows = [[op, *(f"{100 * share[m][op]:.0f} %" if op in share[m] else "" for m in
                   ("fwd", "fwdbwd"))] for op in ops]
    return (f"\n## Where the time goes (ours, C = 64, T = {PROFILE_T}, share of profiled self "
            "time)\n\n" + markdown_table(["op", "forward", "forward+backward"], rows) +
            "\nbmm/baddbmm are the useful products (64×64 blocks at ~60 % of the 2048² peak, "
            "1.33x the honest count at C = 64); the rest is the strided write of the output "
            "into [B, T, H, E], per-segment copies, the causal mask and the prefix sums "
            "(docs/performance.md).\n")


def _ms(row: dict, name: str) -> str:
    return f"{1e3 * row[name]:.1f} ms" if name in row else "not run"


def _ratio(row: dict, name: str) -> str:
    key = f"{name}_over_ours"
    return f"{row[key]:.2f}x" if key in row else "—"


def _main(argv: list[str]) -> None:
    if argv == ["--profile"]:
        print(json.dumps(profile_point()))
        return
    ap = argparse.ArgumentParser(description="measure one paired point (used internally)")
    ap.add_argument("T", type=int)
    ap.add_argument("rounds", type=int, nargs="?", default=ROUNDS)
    args = ap.parse_args(argv)
    print(json.dumps(measure_paired_point(args.T, args.rounds)))


if __name__ == "__main__":
    _main(sys.argv[1:])
