"""Time per generated token versus position: recurrent linear decoding (each PE) against
softmax decoding with a preallocated KV cache, the parallel form on one token and fast-transformers
(``stripes bench generation``).

Decoding runs on one thread (see ``measure_method``). One model size for all (``LAYERS`` layers,
``D_MODEL`` wide, ``HEADS`` heads, vocabulary ``VOCAB``); tokens are fed from a fixed random
sequence so every method does the same work. Methods:

- ``linear:<pe>``, ``softmax:<pe>``: the model's one-token ``step`` (what ``generate`` uses: a
  loop over the blocks' ``step``; softmax through its preallocated KV cache);
- ``compiled:linear:<pe>``: that step through :meth:`StripesTransformer.compile_step`
  (``torch.compile(fullgraph=True)``, Inductor with its C++ wrapper; the warm-up decode pays the
  compilation), for every ``linear:<pe>``; stochastic PEs read their code in its traceable form;
- ``reference:linear:none``: the model's parallel ``forward(x_t, state=s)`` on one token;
- ``fast_transformers:linear``: fast-transformers' ``RecurrentEncoderBuilder`` model (linear
  attention, elu+1, GELU) of the same size between the same embedding and head; "not installed"
  when the package is absent.

Time per token at position p is the mean over the ``WINDOW`` steps ending at p (a mean, not a
median: convSPE computes a chunk's codes once every ``block_size`` steps, and that cost belongs to
the tokens); a throwaway warm-up decode of ``WARMUP`` tokens runs first so that p = 256 does not
carry first-call costs. The decode runs ``REPEATS`` times and each window keeps its fastest mean:
other tenants of a shared machine only ever add time.

Ratios are also measured *paired* (:func:`measure_pairs`): in one process, blocks of
``PAIR_BLOCK`` steps of a linear method near the start alternate with blocks of the same method
and of the KV cache near p = ``length``, of fast-transformers (and, for ``linear:none``, of the
reference step); the median of the per-round ratios is what the targets judge, since a load that
comes and goes between separate processes would otherwise decide them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from stripes.attention import AttentionConfig
from stripes.benchmarking.common import (
    machine_header,
    markdown_header,
    markdown_table,
    measure_matmul_peak,
    run_isolated,
    synchronize,
    write_results,
)
from stripes.extras import needs
from stripes.models import ModelConfig, ModelState, StripesTransformer
from stripes.positional import PositionalConfig

LAYERS, D_MODEL, HEADS, VOCAB = 4, 256, 8, 512
WINDOW = 64
WARMUP = 256
REPEATS = 2
POSITIONS = (256, 1024, 2048, 4096, 8192)
SKIP = {"structure_ape", "shaw_rpe", "structure_rpe", "nonstationary_rpe", "learned"}
REFERENCE, FAST_TRANSFORMERS = "reference:linear:none", "fast_transformers:linear"
PAIRS = "pairs"  # the pseudo-method of measure_pairs (one process)
COMPILE = True  # a compiled row per linear PE (the tests turn it off: Inductor takes minutes)
RATE_METHODS, RATE = ("linear:none", "linear:rope_pool", "compiled:linear:none",
                      "compiled:linear:rope_pool"), 1000.0  # tokens/s
VS_FT, VS_KV, FLAT = 3.0, 5.0, 1.2
PAIR_BLOCK, PAIR_ROUNDS = 32, 16

Step = Callable[[int], object]  # step(t) feeds token t (tokens 0 … t−1 already seen)
Factory = Callable[[int], Step]  # factory(prefix) -> a fresh decoder after ids[:, :prefix]


def methods() -> list[str]:
    """``linear:<pe>`` for every decodable PE, softmax with a KV cache (no PE, and RoPE), the
    reference step, fast-transformers."""
    from stripes.positional import available_kinds

    kinds = ["none"] + [k for k in available_kinds() if k not in SKIP | {"none"}]
    soft = ["softmax:none"] + (["softmax:rope"] if "rope" in kinds else [])
    compiled = [f"compiled:linear:{k}" for k in kinds] if COMPILE else []
    return [f"linear:{k}" for k in kinds] + compiled + soft + [REFERENCE, FAST_TRANSFORMERS]


def is_linear(method: str) -> bool:
    """A recurrent linear decoder of the model (eager or compiled)."""
    return method.removeprefix("compiled:").startswith("linear:")


def fast_transformers_installed() -> bool:
    return importlib.util.find_spec("fast_transformers") is not None


def decoder_factory(method: str, length: int, device: str = "cpu") -> Factory:
    """Fresh decoders of ``method`` over one fixed random sequence of ``length + 1`` ids."""
    ids = torch.randint(0, VOCAB, (1, length + 1), generator=torch.Generator().manual_seed(0))
    ids = ids.to(device)
    if method == FAST_TRANSFORMERS:
        return _fast_transformers_factory(ids)
    lean, compiled = not method.startswith("reference:"), method.startswith("compiled:")
    attention, pe = method.removeprefix("reference:").removeprefix("compiled:").split(":")
    model = _model(attention, pe, length, device)
    code = model.draw_pe_code(length + 1, None, torch.Generator().manual_seed(1),
                              traceable=compiled)
    prefilled: dict[int, ModelState] = {}
    if compiled:  # one compiled model at a time: Dynamo keeps 8 graphs per function
        torch._dynamo.reset()
    step = model.compile_step() if compiled else model.step

    def factory(prefix: int) -> Step:
        if prefix not in prefilled:  # the decoders copy what they update: a state serves many
            with torch.inference_mode():
                state = model(ids[:, :prefix], output_state=True, code=code)[1]
                assert state is not None
                prefilled[prefix] = state
        state = prefilled[prefix]
        if lean:
            dec = model.start_decoding(state, capacity=length + 1)
            return lambda t: step(ids[:, t], dec)
        box: list[ModelState | None] = [state]

        def reference(t: int) -> None:
            _, box[0] = model(ids[:, t : t + 1], state=box[0], output_state=True)

        return reference

    return factory


def _model(attention: str, pe: str, length: int, device: str) -> StripesTransformer:
    cfg = ModelConfig(input_kind="tokens", input_dim=VOCAB, output_dim=VOCAB, d_model=D_MODEL,
                      n_layers=LAYERS, n_heads=HEADS, attention=AttentionConfig(attention),
                      pe=PositionalConfig(pe), max_len=length + 1)
    torch.manual_seed(0)
    return StripesTransformer(cfg).eval().to(device)


def _fast_transformers_factory(ids: torch.Tensor) -> Factory:
    """fast-transformers' recurrent linear Transformer (``RecurrentEncoderBuilder``, elu+1
    features, GELU, final LayerNorm) between an embedding and a head of our sizes."""
    with needs("bench"):
        from fast_transformers.builders import RecurrentEncoderBuilder

    torch.manual_seed(0)
    encoder = RecurrentEncoderBuilder.from_kwargs(
        n_layers=LAYERS, n_heads=HEADS, query_dimensions=D_MODEL // HEADS,
        value_dimensions=D_MODEL // HEADS, feed_forward_dimensions=4 * D_MODEL,
        attention_type="linear", activation="gelu", dropout=0.0,
    ).get().eval().to(ids.device)
    embed = nn.Embedding(VOCAB, D_MODEL).to(ids.device)
    head = nn.Linear(D_MODEL, VOCAB).to(ids.device)

    def factory(prefix: int) -> Step:
        box = [None]

        def step(t: int):
            y, box[0] = encoder(embed(ids[0, t : t + 1]), state=box[0])
            return head(y)

        with torch.inference_mode():
            for t in range(prefix):
                step(t)
        return step

    return factory


def measure_method(method: str, length: int, device: str = "cpu") -> dict:
    """Decode ``length`` tokens one by one on ``device``; per-position mean step times in
    milliseconds and tokens per second."""
    # One thread: a decoding step is a chain of tiny ops, where a second thread only adds
    # synchronisation (and makes timings collapse when another process shares the cores).
    torch.set_num_threads(1)
    if method == FAST_TRANSFORMERS and not fast_transformers_installed():
        return {"method": method, "error": "not installed"}
    factory = decoder_factory(method, length, device)
    runs = [_decode_times(factory, length, device) for _ in range(REPEATS)]
    per_pos = {
        str(p): 1e3 * min(statistics.fmean(times[p - WINDOW - 1 : p - 1]) for times in runs)
        for p in POSITIONS
        if p <= length
    }
    times = min(runs, key=sum)
    return {"method": method, "ms_per_token": per_pos, "tokens_per_s": len(times) / sum(times)}


def _decode_times(factory: Factory, length: int, device: str) -> list[float]:
    """Seconds of each decoding step 1 … length−1 (after a throwaway warm-up decode), each
    synchronized on ``device`` (CUDA steps are queued, not finished, at return)."""
    times = []
    with torch.inference_mode():
        warm = factory(1)
        for t in range(1, min(WARMUP, length)):
            warm(t)
        del warm
        step = factory(1)
        for t in range(1, length):
            synchronize(device)
            t0 = time.perf_counter()
            step(t)
            synchronize(device)
            times.append(time.perf_counter() - t0)
    return times


def measure_pairs(length: int, device: str = "cpu") -> dict:
    """Paired ratios of time per token, per linear method, each over the method's own near the
    start: the same method near p = ``length`` (``vs_late``: flatness), the KV cache near
    p = ``length`` (``vs_kv``), fast-transformers (``vs_ft``; flat, so anywhere) and, for
    ``linear:none``, the reference step (``vs_reference``)."""
    torch.set_num_threads(1)
    late = max(1, length - PAIR_BLOCK * (PAIR_ROUNDS + 1))
    kv = decoder_factory("softmax:none", length, device)
    ids = torch.randint(0, VOCAB, (1, length + 1), generator=torch.Generator().manual_seed(0))
    ft = _fast_transformers_factory(ids.to(device)) if fast_transformers_installed() else None
    out: dict[str, dict[str, Any]] = {}
    for method in filter(is_linear, methods()):
        lin = decoder_factory(method, length, device)
        # never one model twice in a row: a block right after one of the same model finds its
        # weights in the caches (measured: 5-10 % faster)
        decoders = {"lin": (lin(1), 1), "kv": (kv(late), late), "late": (lin(late), late)}
        if ft is not None:
            decoders["ft"] = (ft(1), 1)
        if method == "linear:none":
            decoders["reference"] = (decoder_factory(REFERENCE, length, device)(1), 1)
        times = _alternate(decoders, device)
        early = times.pop("lin")
        out[method] = {f"vs_{k}": statistics.median(a / b for a, b in zip(v, early, strict=True))
                       for k, v in times.items()}
        end_early = 1 + (PAIR_ROUNDS + 1) * PAIR_BLOCK
        out[method]["positions"] = {"early": [1 + PAIR_BLOCK, end_early],
                                    "late": [late + PAIR_BLOCK, length]}
    return out


def _alternate(decoders: dict[str, tuple[Step, int]], device: str) -> dict[str, list[float]]:
    """Mean seconds per step of each decoder in each of ``PAIR_ROUNDS`` rounds, the decoders
    taking turns (``PAIR_BLOCK`` steps each); one untimed block first."""
    pos = {k: start for k, (_, start) in decoders.items()}
    times: dict[str, list[float]] = {k: [] for k in decoders}
    with torch.inference_mode():
        for r in range(PAIR_ROUNDS + 1):
            for k, (step, _) in decoders.items():
                synchronize(device)
                t0 = time.perf_counter()
                for t in range(pos[k], pos[k] + PAIR_BLOCK):
                    step(t)
                synchronize(device)
                pos[k] += PAIR_BLOCK
                if r:
                    times[k].append((time.perf_counter() - t0) / PAIR_BLOCK)
    return times


def run_generation_benchmark(out_dir: str = "benchmarks/results", length: int = 8192) -> dict:
    """Run every method, and the paired ratios, in their own processes; write
    ``generation.{json,md}``."""
    header = {**machine_header(), "decode_threads": 1}  # the load average: machine_header
    peak = measure_matmul_peak()
    results = []
    for m in tqdm(methods(), desc="generation benchmark", unit="method"):
        res = run_isolated("stripes.benchmarking.generation", [m, str(length)], timeout=1800)
        res.setdefault("method", m)
        results.append(res)
    pairs = run_isolated("stripes.benchmarking.generation", [PAIRS, str(length)], timeout=1800)
    payload = {
        "header": header,
        "matmul_peak_gflops": peak,
        "model": {"layers": LAYERS, "d_model": D_MODEL, "heads": HEADS, "vocab": VOCAB},
        "length": length,
        "results": results,
        "pairs": pairs,
        "targets": check_targets(results, pairs, length),
    }
    md = markdown_header("Generation benchmark (ms per token at position p)", header, peak)
    md += render_markdown(payload)
    write_results(out_dir, "generation", payload, md)
    return payload


def check_targets(results: list[dict], pairs: dict | None = None, length: int = 8192) -> list[dict]:
    """Per linear method: flat cost (p = ``length`` vs 256 within ``FLAT``), >= ``VS_KV`` times
    faster than the KV cache at ``length``, >= ``VS_FT`` times fast-transformers' tokens/s, and
    >= ``RATE`` tokens/s for ``RATE_METHODS``; paired ratios (:func:`measure_pairs`) judge where
    they were measured, else the ratio of the separate runs."""
    by = {r["method"]: r for r in results if "ms_per_token" in r}
    soft, ft = by.get("softmax:none"), by.get(FAST_TRANSFORMERS)
    pairs = pairs if pairs and "error" not in pairs else {}
    end = str(length)
    out = []
    for r in results:
        ms = r.get("ms_per_token", {})
        if not is_linear(r["method"]) or end not in ms:
            continue
        pair = pairs.get(r["method"], {})
        flat = pair.get("vs_late", ms[end] / ms["256"])
        item = {"method": r["method"], "ratio_8192_vs_256": flat, "flat": flat <= FLAT,
                "flat_paired": "vs_late" in pair, "tokens_per_s": r.get("tokens_per_s")}
        kv = pair.get("vs_kv")
        if kv is None and soft and end in soft["ms_per_token"]:
            kv = soft["ms_per_token"][end] / ms[end]
        if kv is not None:
            item.update(speedup_vs_softmax_8192=kv, fast=kv >= VS_KV, kv_paired="vs_kv" in pair)
        vs_ft = pair.get("vs_ft")
        if vs_ft is None and ft and "tokens_per_s" in r:
            vs_ft = r["tokens_per_s"] / ft["tokens_per_s"]
        if vs_ft is not None:
            item.update(speedup_vs_fast_transformers=vs_ft, beats_fast_transformers=vs_ft >= VS_FT,
                        ft_paired="vs_ft" in pair)
        if r["method"] in RATE_METHODS and "tokens_per_s" in r:
            item["rate"] = r["tokens_per_s"] >= RATE
        out.append(item)
    return out


def render_markdown(payload: dict) -> str:
    rows = []
    for r in payload["results"]:
        ms = r.get("ms_per_token")
        cells = [
            f"{ms[str(p)]:.2f}" if ms and str(p) in ms else r.get("error", "") for p in POSITIONS
        ]
        rows.append([r["method"], *cells, f"{r.get('tokens_per_s', 0):.0f}"])
    text = "\n" + markdown_table(["method", *[f"p={p}" for p in POSITIONS], "tokens/s"], rows)
    paired = (payload.get("pairs") or {}).get("linear:none", {}).get("vs_reference")
    by = {r["method"]: r for r in payload["results"] if "tokens_per_s" in r}
    if paired is None and REFERENCE in by and "linear:none" in by:
        paired = by["linear:none"]["tokens_per_s"] / by[REFERENCE]["tokens_per_s"]
    if paired is not None:
        text += f"\nLean step vs the reference step (linear:none, paired): {paired:.2f}x.\n"
    end = payload.get("length", 8192)
    text += "\n## Targets\n\n" + markdown_table(
        ["method", "tokens/s", f">= {RATE:.0f}", "vs fast-transformers", f">= {VS_FT:.0f}x",
         f"{end} / 256", f"<= {FLAT}", f"vs KV cache at {end}", f">= {VS_KV:.0f}x"],
        [_target_row(t) for t in payload["targets"]],
    )
    return text + ("\n(p): paired in one process (module docstring); others: separate runs.\n")


def _target_row(t: dict) -> list[str]:
    def ratio(key, paired):
        v = t.get(key)
        return "n/a" if v is None else f"{v:.2f}x" + (" (p)" if t.get(paired) else "")

    rate = t.get("tokens_per_s")
    return [t["method"], "n/a" if rate is None else f"{rate:.0f}", _yes(t.get("rate")),
            ratio("speedup_vs_fast_transformers", "ft_paired"),
            _yes(t.get("beats_fast_transformers")), ratio("ratio_8192_vs_256", "flat_paired"),
            _yes(t["flat"]), ratio("speedup_vs_softmax_8192", "kv_paired"), _yes(t.get("fast"))]


def _yes(flag) -> str:
    return "n/a" if flag is None else ("yes" if flag else "**no**")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="measure one decoding method (used internally)")
    ap.add_argument("method", help=f"a method of methods(), or {PAIRS!r} (measure_pairs)")
    ap.add_argument("length", type=int)
    ap.add_argument("--device", default="cpu", help="where to decode (default: cpu)")
    a = ap.parse_args(sys.argv[1:])
    if a.method == PAIRS:
        print(json.dumps(measure_pairs(a.length, a.device)))
    else:
        print(json.dumps(measure_method(a.method, a.length, a.device)))
