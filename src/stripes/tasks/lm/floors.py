"""What a language model's losses stand beside: models that ignore the context.

- ``unigram``: each token scored by its frequency in the training pieces (add-one smoothed over
  the vocabulary), on the evaluation windows exactly as a model is (next-token positions
  ``t ≥ 1``, split at the training length by :func:`~stripes.tasks.lm.evaluate.split_losses`).
  A model above it has learned nothing from the context.
- ``uniform``: ``log V`` nats, every token equally likely.
"""

from __future__ import annotations

import math

import numpy as np

from stripes.tasks.lm.config import LMDataConfig
from stripes.tasks.lm.data import load_token_corpus
from stripes.tasks.lm.evaluate import split_losses


def unigram_losses(pieces_train: list[np.ndarray], windows: list[np.ndarray], vocab_size: int,
                   train_length: int) -> dict[str, float]:
    """``{"within", "beyond", "all"}`` of the add-one unigram of ``pieces_train`` on
    ``windows`` (``[T_i]`` token ids each), per next-token position as the models are scored."""
    counts = np.bincount(np.concatenate(pieces_train), minlength=vocab_size) + 1.0
    nll = -np.log(counts / counts.sum())
    t = max(len(w) for w in windows)
    sums, n = np.zeros(t - 1), np.zeros(t - 1, dtype=np.int64)
    for w in windows:
        sums[: len(w) - 1] += nll[w[1:]]
        n[: len(w) - 1] += 1
    return split_losses(sums, n, train_length)


def context_free_floors(data: LMDataConfig) -> dict[str, dict[str, float]]:
    """``{"unigram": {...}, "uniform": {...}}`` for the validation windows of ``data``."""
    corpus = load_token_corpus(data.corpus)
    vocab = len(corpus.tokenizer())
    windows = [p[: data.eval_length] for p in corpus.pieces("val")[: data.max_val_pieces]
               if len(p) >= 2]
    uniform = math.log(vocab)
    return {"unigram": unigram_losses(corpus.pieces("train"), windows, vocab, data.train_length),
            "uniform": {"within": uniform, "beyond": uniform, "all": uniform}}
