"""Benchmark plumbing (``common``) and the benchmarks the CLI runs (``attention``)."""

from stripes.benchmarking.common import (
    machine_header,
    markdown_header,
    markdown_table,
    measure_call,
    measure_matmul_peak,
    measure_paired,
    paired_ratio,
    peak_memory,
    run_isolated,
    synchronize,
    time_call,
    write_results,
)


def run_attention_benchmark(*args, **kwargs):
    """See :func:`stripes.benchmarking.attention.run_attention_benchmark`."""
    from stripes.benchmarking.attention import run_attention_benchmark as run

    return run(*args, **kwargs)


__all__ = [
    "machine_header",
    "markdown_header",
    "markdown_table",
    "measure_call",
    "measure_matmul_peak",
    "measure_paired",
    "paired_ratio",
    "peak_memory",
    "run_attention_benchmark",
    "run_isolated",
    "synchronize",
    "time_call",
    "write_results",
]
