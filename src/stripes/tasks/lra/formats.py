"""ListOps in the LRA release format: ``basic_{train,val,test}.tsv`` written and read.

The format, as LRA's generator writes it and its input pipeline reads it: tab-separated, a header
row ``Source<TAB>Target``, one expression per row (the source text of
:func:`stripes.tasks.lra.expressions.format_source`, with its parentheses) and its value 0-9.
LRA writes with Python's ``csv`` module in its default dialect, so rows end in ``\\r\\n``; ours
too, byte for byte. The reader takes ``\\n`` or ``\\r\\n``.

:func:`write_listops_release` draws train, validation and test from one stream of distinct
examples (:func:`stripes.tasks.lra.listops.iter_listops`), so no expression is in two splits, as
in LRA (which splits one set of distinct trees).
"""

from __future__ import annotations

import csv
import itertools
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from stripes.tasks.lra.errors import LRADataError
from stripes.tasks.lra.listops import LRA_SIZES, ListOpsConfig, ListOpsStats, iter_listops

HEADER = ("Source", "Target")
SPLITS = ("train", "val", "test")


def listops_path(folder: str | Path, split: str, task: str = "basic") -> Path:
    """Where LRA keeps a ListOps split: ``folder/{task}_{split}.tsv``."""
    if split not in SPLITS:
        raise ValueError(f"split: one of {', '.join(SPLITS)}, got {split!r}")
    return Path(folder) / f"{task}_{split}.tsv"


def write_listops_tsv(path: str | Path, rows: Iterable[tuple[str, int]]) -> int:
    """Write ``(source, value)`` rows under the header; returns the number of rows."""
    count = 0
    with open(path, "w", newline="", encoding="ascii") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(HEADER)
        for source, value in rows:
            writer.writerow((source, int(value)))
            count += 1
    return count


def read_listops_tsv(path: str | Path) -> list[tuple[str, int]]:
    """The ``(source, value)`` rows of a ListOps TSV file.

    Raises:
        FileNotFoundError: no such file. LRADataError: a header other than ``Source Target``, a
        row without exactly two fields, a value that is not a digit 0-9.
    """
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header is None or tuple(header) != HEADER:
            raise LRADataError(f"{path}:1: header must be 'Source<TAB>Target', got {header!r}")
        for line, row in enumerate(reader, start=2):
            if len(row) != 2:
                raise LRADataError(f"{path}:{line}: expected 2 tab-separated fields, "
                                   f"got {len(row)}")
            source, target = row
            if target.strip() not in {str(d) for d in range(10)}:
                raise LRADataError(f"{path}:{line}: Target must be a digit 0-9, got {target!r}")
            rows.append((source, int(target)))
    return rows


@dataclass
class ListOpsRelease:
    """What :func:`write_listops_release` wrote: the files, per split the example count, the
    label counts ``[10]`` and the token lengths (min, mean, max); the stream's statistics."""

    files: dict[str, Path]
    counts: dict[str, int]
    labels: dict[str, list[int]]
    lengths: dict[str, tuple[int, float, int]]
    stats: ListOpsStats
    seconds: float
    config: ListOpsConfig = field(default_factory=ListOpsConfig)


def write_listops_release(out: str | Path, sizes: Sequence[int] = LRA_SIZES,
                          cfg: ListOpsConfig | None = None, seed: int = 0, *,
                          progress: bool | None = None, force: bool = False) -> ListOpsRelease:
    """Generate ListOps and write ``out/basic_{train,val,test}.tsv`` with ``sizes`` examples
    (``cfg``: LRA's recipe by default).

    Each file is written under a temporary name and renamed when complete, so an interrupted run
    leaves no truncated split. ``progress`` shows a bar (``None``: for 10,000 examples or more).

    Raises:
        FileExistsError: a split file exists already and ``force`` is false.
    """
    out, cfg = Path(out), cfg or ListOpsConfig()
    if len(sizes) != 3 or any(int(n) < 0 for n in sizes):
        raise ValueError(f"sizes: three counts >= 0 (train, val, test), got {list(sizes)}")
    files = {split: listops_path(out, split) for split in SPLITS}
    existing = [p.name for p in files.values() if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{out} already holds {', '.join(existing)}: "
                              "pass force=True (--force) to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    stats, start = ListOpsStats(), time.perf_counter()
    stream = iter_listops(cfg, seed, stats=stats)
    show = sum(sizes) >= 10_000 if progress is None else progress
    summary = ListOpsRelease(files, {}, {}, {}, stats, 0.0, cfg)
    with tqdm(total=sum(sizes), desc="ListOps", unit="expr", disable=not show) as bar:
        for split, n in zip(SPLITS, sizes, strict=True):
            labels: list[int] = []
            lengths: list[int] = []

            def rows(n=int(n), labels=labels, lengths=lengths):
                # streamed into the file: the 96,000 training sources never sit in memory at once
                for example in itertools.islice(stream, n):
                    labels.append(example.label)
                    lengths.append(len(example.tokens))
                    bar.update()
                    yield example.source, example.label

            partial = files[split].with_name(files[split].name + ".partial")
            summary.counts[split] = write_listops_tsv(partial, rows())
            os.replace(partial, files[split])
            summary.labels[split] = np.bincount(np.asarray(labels, dtype=np.int64),
                                                minlength=10).tolist()
            summary.lengths[split] = ((min(lengths), float(np.mean(lengths)), max(lengths))
                                      if lengths else (0, 0.0, 0))
    summary.seconds = time.perf_counter() - start
    return summary
