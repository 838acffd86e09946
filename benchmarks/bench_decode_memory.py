"""Where a decoding step's time goes: the weights it streams, with the caches warm and cold.

At the generation benchmark's size (4 layers, d_model 256, one thread) a token multiplies a
single row by every weight matrix once: ~3.3 M multiply-adds against ~13 MB of fp32 weights, so
the step is bound by how fast the weights arrive, not by arithmetic. This script measures that,
for the model's ``step`` (``linear:none``, ``linear:rope_pool``) and fast-transformers' recurrent
model of the same size, in two regimes, paired in one process (decoders take turns block by
block, ``ROUNDS`` rounds of ``BLOCK`` tokens, in an order shuffled every round):

- **warm**: before each timed block the decoder runs one untimed block, so its weights sit in
  the last-level cache (what a user decoding one sequence sees);
- **cold**: before each timed block a buffer larger than the last-level cache is read
  (``--flush-mib``), as the generation benchmark's paired rounds do when a KV cache of 8192
  tokens (67 MB) runs between two blocks.

It also times two floors, warm and cold: a plain read of the model's weight bytes (``Tensor.sum``
over a copy of every weight: the streaming floor) and the step's matrix-vector products alone
(``weight products``: one ``torch.mm`` of a row by each of the step's weight matrices, in the
layout the step keeps them: what no decoder of this model can avoid), and reports each decoder's
effective weight bandwidth (weight bytes / time per token). The ``compiled:`` decoders are the
model's step through :meth:`stripes.models.StripesTransformer.compile_step`. Ratios are medians
of per-round ratios. Writes ``benchmarks/results/decode_memory.{json,md}``.

Usage: ``python benchmarks/bench_decode_memory.py [--flush-mib 96]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from stripes.benchmarking import generation as gen
from stripes.benchmarking.common import (
    machine_header,
    markdown_header,
    markdown_table,
    measure_matmul_peak,
    write_results,
)

ROUNDS, BLOCK, LENGTH = 12, 32, 4096
METHODS = ("linear:none", "linear:rope_pool", "compiled:linear:none", "compiled:linear:rope_pool")
FLOORS = ("read weights", "weight products")


def weight_bytes(method: str) -> int:
    """Bytes of fp32 parameters one token touches (embedding: one row)."""
    model = gen._model(*method.removeprefix("compiled:").split(":"), LENGTH, "cpu")
    total = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embed"))
    return 4 * (total + gen.D_MODEL)


def step_products() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The ``[in, out]`` weight matrices of one ``linear:none`` step (each block's projections
    and MLP, the head) and a row for each: ``x @ W`` over them is the step's product work."""
    model = gen._model("linear", "none", LENGTH, "cpu")
    ids = torch.zeros(1, 1, dtype=torch.long)
    with torch.inference_mode():
        state = model(ids, output_state=True)[1]
        assert state is not None
        dec = model.start_decoding(state, capacity=LENGTH)
    mats = [w for b in dec.blocks for w in (b.attn.weights.qkv, b.attn.weights.out,
                                            b.mlp.up, b.mlp.down)] + [dec.head]
    return mats, [torch.randn(1, w.shape[0]) for w in mats]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flush-mib", type=int, default=96)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    header = {**machine_header(), "decode_threads": 1, "rounds": ROUNDS,
              "tokens_per_block": BLOCK, "flush_mib": args.flush_mib}
    peak = measure_matmul_peak()
    flush = torch.ones(args.flush_mib * 2**18)  # float32: 2**18 per MiB
    decoders = {m: gen.decoder_factory(m, LENGTH)(1) for m in METHODS}
    if gen.fast_transformers_installed():
        ids = torch.randint(0, gen.VOCAB, (1, LENGTH + 1),
                            generator=torch.Generator().manual_seed(0))
        decoders[gen.FAST_TRANSFORMERS] = gen._fast_transformers_factory(ids)(1)
    weights = {m: weight_bytes(m) for m in METHODS}
    weights[gen.FAST_TRANSFORMERS] = weights["linear:none"]  # same sizes (checked: same layers)
    copies = torch.cat([p.detach().reshape(-1) for p in
                        gen._model("linear", "none", LENGTH, "cpu").parameters()])
    mats, rows_in = step_products()
    weights["weight products"] = 4 * sum(w.numel() for w in mats)
    times = {(k, regime): [] for k in [*decoders, *FLOORS] for regime in ("warm", "cold")}
    pos = dict.fromkeys(decoders, 1)
    rng = random.Random(0)
    with torch.inference_mode():
        for r in range(ROUNDS + 1):
            order = [(k, g) for k in [*decoders, *FLOORS] for g in ("warm", "cold")]
            rng.shuffle(order)
            for k, regime in order:
                if k == "read weights":
                    run = lambda: [copies.sum() for _ in range(BLOCK)]  # noqa: E731
                elif k == "weight products":
                    run = lambda: [torch.mm(x, w) for _ in range(BLOCK)  # noqa: E731
                                   for x, w in zip(rows_in, mats, strict=True)]
                else:
                    def run(k=k):
                        for _ in range(BLOCK):
                            decoders[k](pos[k])
                            pos[k] += 1
                run() if regime == "warm" else flush.sum()
                t0 = time.perf_counter()
                run()
                if r:
                    times[k, regime].append((time.perf_counter() - t0) / BLOCK)
    rows, payload = [], {"header": {**header, "matmul_peak_gflops": peak},
                         "weight_bytes": weights, "results": {}}
    ft = gen.FAST_TRANSFORMERS
    for k in [*decoders, *FLOORS]:
        res: dict = {}
        for regime in ("warm", "cold"):
            ms = 1e3 * statistics.median(times[k, regime])
            res[regime] = {"ms_per_token": ms,
                           "weight_gb_per_s": weights.get(k, 4 * copies.numel()) / ms / 1e6}
            if ft in decoders and k != ft:
                res[regime]["ft_over_this"] = statistics.median(
                    a / b for a, b in zip(times[ft, regime], times[k, regime], strict=True))
        payload["results"][k] = res
        rows.append([k, *(f"{res[g]['ms_per_token']:.3f}" for g in ("warm", "cold")),
                     *(f"{res[g]['weight_gb_per_s']:.1f}" for g in ("warm", "cold")),
                     *(f"{res[g]['ft_over_this']:.2f}x" if "ft_over_this" in res[g] else "-"
                       for g in ("warm", "cold"))])
    md = "\n".join([
        markdown_header("Decoding step: weight streaming, warm and cold caches (paired, 1 thread)",
                        header, peak),
        markdown_table(["decoder", "warm ms/token", "cold ms/token", "warm GB/s", "cold GB/s",
                        "fast-transformers / this, warm", "… cold"], rows),
        "", "GB/s: the weight bytes one token reads (%.1f MB) over its time; `read weights`: one "
        "`sum` over a copy of every weight, the streaming floor of each regime; `weight "
        "products`: the step's matrix-vector products alone (one `mm` per weight matrix), the "
        "floor of any decoder of this model. `compiled:` rows: the step through "
        "`compile_step` (Inductor, C++ wrapper)." % (weights["linear:none"] / 1e6), ""])
    write_results(args.out, "decode_memory", payload, md)
    print(md)


if __name__ == "__main__":
    main()
