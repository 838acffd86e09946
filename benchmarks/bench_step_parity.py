"""The model's one-token ``step`` (issue 22: a loop over the blocks' ``step``) against the
``LeanDecoder`` it replaced and fast-transformers, paired in one process.

Issue 22 moved the lean decoder's arithmetic into the blocks (``Attention.step``, ``MLP.step``,
``Block.step``) and deleted ``models/lean_decoder.py``. To show that nothing was lost, this script
reads that file and the ``rotary_step.py`` it used from the last commit that had them
(``--old-commit``, default ``bcc4640``) with ``git show``, adapts their imports and state format
(the typed ``ModelState`` became a dict again) in memory, and times the three decoders on the
generation benchmark's model (``stripes.benchmarking.generation``: 4 layers, d_model 256, one
thread), taking turns block by block (``ROUNDS`` rounds of ``BLOCK`` tokens, one untimed round),
in an order shuffled every round (a block that follows another decoder of the same weights runs
faster from the caches, so a fixed order would favour one). The ratios are medians of per-round
ratios. Needs git and the repository's history; writes
``benchmarks/results/step_parity.{json,md}``.

Usage: ``python benchmarks/bench_step_parity.py [--pes none rope_pool] [--old-commit bcc4640]``
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from stripes.attention.state import LinearState
from stripes.benchmarking import generation as gen
from stripes.benchmarking.common import (
    machine_header,
    markdown_header,
    markdown_table,
    measure_matmul_peak,
    write_results,
)

ROUNDS, BLOCK = 15, 48
ROOT = Path(__file__).resolve().parents[1]


def old_lean_decoder(commit: str):
    """The ``LeanDecoder`` class of ``commit``, importable beside today's package."""
    def show(path: str) -> str:
        return subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout

    folder = Path(tempfile.mkdtemp(prefix="old_lean_"))
    rotary = show("src/stripes/models/rotary_step.py")
    (folder / "old_rotary_step.py").write_text(rotary)
    lean = show("src/stripes/models/lean_decoder.py")
    lean = lean.replace("from stripes.models.rotary_step import", "from old_rotary_step import")
    # today's sineSPE/F-StrIPE call their one-token pooling token_step; RoPE keeps the table
    lean = lean.replace('if hasattr(pe, "token_pool"):',
                        'if hasattr(pe, "token_step") and not is_rotary(pe):')
    lean = lean.replace("pe.token_pool(", "pe.token_step(")
    (folder / "old_lean_decoder.py").write_text(lean)
    sys.path.insert(0, str(folder))
    path = folder / "old_lean_decoder.py"
    spec = importlib.util.spec_from_file_location("old_lean_decoder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LeanDecoder


def as_dict_state(state) -> dict:
    """Today's ``ModelState`` in the dict format the old decoder read."""
    layers = [{"attn": (s.s, s.z) if isinstance(s, LinearState) else (s.keys, s.values),
               "offset": s.offset} for s in state.layers]
    return {"offset": state.offset, "layers": layers, "code": state.code}


def measure(pe: str, lean_cls, length: int) -> dict:
    model = gen._model("linear", pe, length, "cpu")
    ids = torch.randint(0, gen.VOCAB, (1, length + 1), generator=torch.Generator().manual_seed(0))
    code = model.draw_pe_code(length + 1, None, torch.Generator().manual_seed(1))
    with torch.inference_mode():
        _, state = model(ids[:, :1], output_state=True, code=code)
        old = lean_cls(model, as_dict_state(state), capacity=length + 1)
        new = model.start_decoding(state, capacity=length + 1)
        steps = {"step": lambda t: model.step(ids[:, t], new),
                 "lean_decoder": lambda t: old.step(ids[:, t])}
        if gen.fast_transformers_installed():
            steps["fast_transformers"] = gen._fast_transformers_factory(ids)(1)
        times: dict[str, list[float]] = {k: [] for k in steps}
        order = random.Random(0)
        for r in range(ROUNDS + 1):
            names = list(steps)
            order.shuffle(names)
            for name in names:
                step = steps[name]
                t0 = time.perf_counter()
                for t in range(1 + r * BLOCK, 1 + (r + 1) * BLOCK):
                    step(t)
                if r:  # the first round warms up
                    times[name].append((time.perf_counter() - t0) / BLOCK)
    ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    ratios = {f"{k}_over_step": statistics.median(a / b for a, b in
                                                  zip(v, times["step"], strict=True))
              for k, v in times.items() if k != "step"}
    return {"pe": pe, "ms_per_token": ms, **ratios}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pes", nargs="+", default=["none", "rope_pool", "fstripe", "sine_spe"])
    ap.add_argument("--old-commit", default="bcc4640")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    header = machine_header("cpu")
    peak = measure_matmul_peak()
    lean_cls = old_lean_decoder(args.old_commit)
    length = 1 + (ROUNDS + 1) * BLOCK
    rows = [measure(pe, lean_cls, length) for pe in args.pes]
    cols = ["method", "step ms", "LeanDecoder ms", "LeanDecoder / step",
            "fast-transformers ms", "fast-transformers / step"]
    table = [[f"linear:{r['pe']}", f"{r['ms_per_token']['step']:.3f}",
              f"{r['ms_per_token']['lean_decoder']:.3f}", f"{r['lean_decoder_over_step']:.2f}x",
              f"{r['ms_per_token'].get('fast_transformers', float('nan')):.3f}",
              f"{r.get('fast_transformers_over_step', float('nan')):.2f}x"] for r in rows]
    md = (markdown_header("Decoding step vs the LeanDecoder it replaced (paired, 1 thread)",
                          {**header, "old_commit": args.old_commit, "rounds": ROUNDS,
                           "tokens_per_round": BLOCK}, peak)
          + markdown_table(cols, table)
          + "\nRatios > 1: the other decoder takes longer per token than today's step.\n")
    write_results(Path(args.out), "step_parity", {"header": header, "rows": rows}, md)
    print(md)


if __name__ == "__main__":
    main()
