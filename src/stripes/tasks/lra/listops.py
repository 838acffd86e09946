"""The ListOps generator of the Long-Range Arena recipe ([LRA], Long ListOps), seeded, vectorized.

The recipe (LRA's ``lra_benchmarks/data/listops.py``): a tree is grown from a root at depth 1;
a node at a depth below ``max_depth`` is an operator with probability ``p_operator`` (0.25), else
a digit 0-9 drawn uniformly; nodes at depth ``max_depth`` (10) are digits. An operator (MIN, MAX,
MED, SM, drawn uniformly) takes 2 to ``max_args`` (10) arguments, drawn uniformly. A tree's
*length* counts its digits plus two per operator (its name and ``]``), which is its number of
tokens; it is kept iff ``min_length < length < max_length`` (500 and 2000) and no identical tree
was kept before. LRA draws 96,000 + 2,000 + 2,000 distinct trees and splits them into train,
validation and test.

Speed. Blind rejection is what the recipe does, and most draws are rejected: 3 in 4 roots are
a bare digit (length 1), and of the operator-rooted trees about a third land in (500, 2000)
(measured: 8.2 % of all draws are kept, with the reference below, 20,000 kept trees). Here the
rejection stays, so the distribution is the recipe's exactly, but costs little:

- trees are grown a whole batch at a time, level by level, as numpy arrays (every node draws
  independently, so growing breadth-first instead of depth-first leaves the distribution as it is);
- a tree whose tokens so far plus one per pending argument reach ``max_length`` is rejected
  already and grown no further (it could only get longer);
- values, token positions and the source text are computed for the kept trees only.

For the default range, 71 % of the nodes drawn belong to kept trees, and LRA's 100,000 examples
take about two minutes on one shared CPU core (1.2 million draws; docs/lra.md).
:func:`draw_reference` is the recipe node by node in plain Python (slow, readable); tests compare
the two distributions. The generator's labels come from whole levels at once (``reduceat`` over
the arguments); the independent check is :func:`stripes.tasks.lra.expressions.evaluate`, a stack
machine over tokens.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from stripes.config import ConfigError, check_sizes
from stripes.tasks.lra.vocab import CLOSE, CLOSE_ID, DIGIT_ID, OPERATOR_ID, OPERATORS

#: LRA's release sizes: train, validation, test.
LRA_SIZES = (96_000, 2_000, 2_000)
#: Trees drawn without a new example before the stream gives up on a length range.
STALL_DRAWS = 2_000_000


@dataclass(frozen=True)
class ListOpsConfig:
    """The recipe's parameters (LRA's defaults); lengths are exclusive bounds."""

    min_length: int = 500
    max_length: int = 2000
    max_depth: int = 10
    max_args: int = 10
    p_operator: float = 0.25

    def __post_init__(self) -> None:
        check_sizes(self, 0, "min_length")
        check_sizes(self, 1, "max_depth")
        check_sizes(self, 2, "max_args")
        if not 0 <= self.p_operator < 1:
            raise ConfigError(f"p_operator: must be in [0, 1), got {self.p_operator}")
        # lengths a tree can have: 1 (a digit) and, with operators, every integer from 4 on
        possible = [n for n in range(self.min_length + 1, self.max_length)
                    if n == 1 or (n >= 4 and self.max_depth > 1 and self.p_operator > 0)]
        if not possible:
            raise ConfigError(f"no tree has a length in ({self.min_length}, {self.max_length}) "
                              "exclusive: lengths are 1 or >= 4 (widen the range)")


@dataclass(frozen=True)
class ListOpsExample:
    """One expression: its LRA source text, its ids ``[L]`` (uint8, no PAD or CLS), its value."""

    source: str
    tokens: np.ndarray
    label: int


@dataclass
class ListOpsStats:
    """Counts of a stream so far: trees drawn, examples kept, duplicates dropped."""

    draws: int = 0
    kept: int = 0
    duplicates: int = 0


@dataclass
class _Level:
    """The nodes at one depth of a forest, each array ``[M]``: the tree each belongs to, its
    parent's index in the level above (-1 at the roots), operator or digit, argument count,
    operator index or digit."""

    tree: np.ndarray
    parent: np.ndarray
    is_op: np.ndarray
    arity: np.ndarray
    symbol: np.ndarray


def _grow(rng: np.random.Generator, roots: int, cfg: ListOpsConfig,
          ) -> tuple[list[_Level], np.ndarray]:
    """A forest of ``roots`` trees, level by level; returns the levels and each tree's length
    ``[roots]`` (exact for a tree that can still be kept, at least ``max_length`` otherwise)."""
    levels = []
    tree, parent = np.arange(roots), np.full(roots, -1)
    tokens = np.zeros(roots, dtype=np.int64)  # tokens of the nodes drawn so far
    over = np.zeros(roots, dtype=bool)
    for depth in range(1, cfg.max_depth + 1):
        m = tree.size
        is_op = (rng.random(m) < cfg.p_operator) if depth < cfg.max_depth else np.zeros(m, bool)
        arity = np.where(is_op, rng.integers(2, cfg.max_args + 1, m), 0)
        symbol = np.where(is_op, rng.integers(0, len(OPERATORS), m), rng.integers(0, 10, m))
        levels.append(_Level(tree, parent, is_op, arity, symbol))
        tokens += np.bincount(tree, weights=1 + is_op, minlength=roots).astype(np.int64)
        pending = np.bincount(tree, weights=arity, minlength=roots).astype(np.int64)
        over |= tokens + pending >= cfg.max_length
        parent = np.repeat(np.arange(m), arity)
        parent = parent[~over[tree[parent]]]
        tree = tree[parent]
        if not parent.size:
            break
    return levels, np.where(over, np.maximum(tokens, cfg.max_length), tokens)


def _compact(levels: list[_Level], keep: np.ndarray) -> list[_Level]:
    """The levels of the trees with ``keep`` ``[roots]`` True, renumbered."""
    new_tree = np.cumsum(keep) - 1
    out: list[_Level] = []
    new_index = None
    for level in levels:
        mask = keep[level.tree]
        if not mask.any():
            break
        parent = level.parent[mask] if new_index is None else new_index[level.parent[mask]]
        out.append(_Level(new_tree[level.tree[mask]], parent, level.is_op[mask],
                          level.arity[mask], level.symbol[mask]))
        new_index = np.cumsum(mask) - 1
    return out


def _reduce(symbol: np.ndarray, arity: np.ndarray, args: np.ndarray) -> np.ndarray:
    """Each operator's value ``[K]`` on its arguments, which lie contiguous in ``args``."""
    starts = np.cumsum(arity) - arity
    # digits sorted inside each operator's run: one sort of (operator, digit) keys
    ordered = np.sort(np.repeat(np.arange(arity.size) * 10, arity) + args) % 10
    median = (ordered[starts + (arity - 1) // 2] + ordered[starts + arity // 2]) // 2
    return np.choose(symbol, [np.minimum.reduceat(args, starts), np.maximum.reduceat(args, starts),
                              median, np.add.reduceat(args, starts) % 10])


def _spans_and_values(levels: list[_Level]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Bottom-up: each node's length in tokens and its value, one array per level."""
    spans: list[np.ndarray] = [np.empty(0, np.int64)] * len(levels)
    values: list[np.ndarray] = [np.empty(0, np.int64)] * len(levels)
    for i in reversed(range(len(levels))):
        level = levels[i]
        span = 1 + level.is_op.astype(np.int64)
        value = level.symbol.copy()
        if i + 1 < len(levels):
            below = levels[i + 1]
            span += np.bincount(below.parent, weights=spans[i + 1],
                                minlength=span.size).astype(np.int64)
            ops = np.flatnonzero(level.is_op)
            value[ops] = _reduce(level.symbol[ops], level.arity[ops], values[i + 1])
        spans[i], values[i] = span, value
    return spans, values


def _starts(levels: list[_Level], spans: list[np.ndarray]) -> list[np.ndarray]:
    """Top-down: each node's first token position inside its tree (pre-order)."""
    starts = [np.zeros(levels[0].tree.size, np.int64)]
    for i in range(1, len(levels)):
        above, parent, span = levels[i - 1], levels[i].parent, spans[i]
        first = (np.cumsum(above.arity) - above.arity)[parent]  # the parent's first argument
        ends = np.cumsum(span)
        before = ends - span - (ends[first] - span[first])  # earlier siblings' tokens
        starts.append(starts[i - 1][parent] + 1 + before)
    return starts


def _piece_table(max_args: int) -> list[str]:
    """The source text of each (token, context) code of :func:`_serialize`."""
    digits = [str(d) for d in range(10)] + [f"{d} )" for d in range(10)]  # 0-19: root, argument
    closes = [f"{CLOSE} )", f"{CLOSE} ) )"]  # 20-21
    ops = ["( " * (k + 1) + name for name in OPERATORS for k in range(max_args + 1)]  # 22-
    return digits + closes + ops


def _serialize(levels: list[_Level], spans: list[np.ndarray], starts: list[np.ndarray],
               max_args: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All trees' ids ``[N]`` (uint8) and source-text codes ``[N]``, back to back, and the
    offsets ``[R+1]`` where each tree begins."""
    root_span = spans[0]
    offsets = np.concatenate([[0], np.cumsum(root_span)])
    tokens = np.empty(offsets[-1], np.uint8)
    codes = np.empty(offsets[-1], np.int64)
    for depth, (level, span, start) in enumerate(zip(levels, spans, starts, strict=True)):
        arg = int(depth > 0)
        pos = offsets[level.tree] + start
        digit, op = ~level.is_op, level.is_op
        tokens[pos[digit]] = DIGIT_ID + level.symbol[digit]
        codes[pos[digit]] = level.symbol[digit] + 10 * arg
        tokens[pos[op]] = OPERATOR_ID + level.symbol[op]
        codes[pos[op]] = 22 + level.symbol[op] * (max_args + 1) + level.arity[op]
        close = pos[op] + span[op] - 1
        tokens[close] = CLOSE_ID
        codes[close] = 20 + arg
    return tokens, codes, offsets


def draw_batch(rng: np.random.Generator, roots: int, cfg: ListOpsConfig,
               ) -> list[ListOpsExample]:
    """The trees in the length range among ``roots`` fresh draws, in draw order (duplicates
    included)."""
    levels, length = _grow(rng, roots, cfg)
    keep = (length > cfg.min_length) & (length < cfg.max_length)
    if not keep.any():
        return []
    levels = _compact(levels, keep)
    spans, values = _spans_and_values(levels)
    starts = _starts(levels, spans)
    tokens, codes, offsets = _serialize(levels, spans, starts, cfg.max_args)
    table = _piece_table(cfg.max_args)
    return [ListOpsExample(" ".join(map(table.__getitem__, codes[a:b].tolist())),
                           tokens[a:b].copy(), int(v))
            for a, b, v in zip(offsets[:-1], offsets[1:], values[0], strict=True)]


def iter_listops(cfg: ListOpsConfig | None = None, seed: int = 0, *, batch: int = 8192,
                 stats: ListOpsStats | None = None) -> Iterator[ListOpsExample]:
    """Distinct examples of the recipe (``cfg``: LRA's by default), without end, in an order
    fixed by ``seed`` and ``batch`` (the trees drawn at once: it changes the order, not the
    distribution). ``stats``, if given, is updated as the stream goes.

    Raises:
        ConfigError: :data:`STALL_DRAWS` trees in a row gave no new example (a length range the
        recipe almost never reaches).
    """
    cfg = cfg or ListOpsConfig()
    rng = np.random.default_rng(seed)
    stats = ListOpsStats() if stats is None else stats
    seen: set[bytes] = set()
    stalled = 0
    while True:
        examples = draw_batch(rng, batch, cfg)
        stats.draws += batch
        stalled += batch
        for example in examples:
            key = hashlib.blake2b(example.tokens.tobytes(), digest_size=16).digest()
            if key in seen:
                stats.duplicates += 1
                continue
            seen.add(key)
            stats.kept += 1
            stalled = 0
            yield example
        if stalled >= STALL_DRAWS:
            raise ConfigError(f"no new ListOps example in {stalled:,} draws: lengths in "
                              f"({cfg.min_length}, {cfg.max_length}) are (almost) never drawn "
                              "or all were drawn already")


def generate_listops(count: int, cfg: ListOpsConfig | None = None, seed: int = 0, *,
                     progress: bool | None = None,
                     stats: ListOpsStats | None = None) -> list[ListOpsExample]:
    """The first ``count`` examples of :func:`iter_listops`; a progress bar when ``progress``
    (``None``: for 10,000 examples or more)."""
    stream = iter_listops(cfg, seed, stats=stats)
    show = count >= 10_000 if progress is None else progress
    with tqdm(total=count, desc="ListOps", unit="expr", disable=not show) as bar:
        out = []
        for example in itertools.islice(stream, count):
            out.append(example)
            bar.update()
    return out


# --- the recipe node by node (the slow reference) ------------------------------------------------
_REFERENCE_OPS: dict[str, Callable[[Sequence[int]], int]] = {
    "[MIN": min, "[MAX": max, "[MED": lambda a: int(statistics.median(a)),
    "[SM": lambda a: sum(a) % 10}


def draw_reference(rng: random.Random, cfg: ListOpsConfig, depth: int = 1) -> tuple[list[int], int]:
    """One tree of the recipe, grown depth-first as LRA grows it: its ids and its value."""
    if depth < cfg.max_depth and rng.random() < cfg.p_operator:
        arguments = [draw_reference(rng, cfg, depth + 1)
                     for _ in range(rng.randint(2, cfg.max_args))]
        op = rng.randrange(len(OPERATORS))
        tokens = [OPERATOR_ID + op] + [t for ts, _ in arguments for t in ts] + [CLOSE_ID]
        return tokens, _REFERENCE_OPS[OPERATORS[op]]([v for _, v in arguments])
    digit = rng.randrange(10)
    return [DIGIT_ID + digit], digit


def reference_listops(count: int, cfg: ListOpsConfig, seed: int = 0,
                      ) -> tuple[list[tuple[list[int], int]], int]:
    """``count`` distinct kept trees of :func:`draw_reference` and the number of draws."""
    rng = random.Random(seed)
    kept: dict[tuple[int, ...], int] = {}
    draws = 0
    while len(kept) < count:
        tokens, value = draw_reference(rng, cfg)
        draws += 1
        if cfg.min_length < len(tokens) < cfg.max_length:
            kept.setdefault(tuple(tokens), value)
    return [(list(t), v) for t, v in kept.items()], draws
