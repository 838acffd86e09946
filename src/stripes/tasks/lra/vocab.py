"""Token ids of the Long-Range Arena tasks: ListOps words, bytes, and the shared PAD and CLS.

Every task's ids start with the same two: :data:`PAD` (0) fills a batch after the real tokens,
:data:`CLS` (1) is the class token a classifier may prepend. Content ids follow:

- ListOps (:data:`LISTOPS_WORDS`): the digits ``0``-``9`` (ids 2-11), the operators ``[MIN``,
  ``[MAX``, ``[MED``, ``[SM`` (ids 12-15) and the closing bracket ``]`` (id 16); 17 ids in all.
  The parentheses of the LRA source text carry no information (they follow from the operators'
  arities) and are dropped, as the upstream fix of LRA's input pipeline does; ``]`` is kept as a
  token, so the expression's structure is intact (the bracket-stripped loader behind [SPE]'s
  ListOps numbers lost it).
- Bytes (Text, Retrieval): byte ``b`` is id ``b + 2``; 258 ids in all. LRA's byte encoder keeps
  0 for padding and shifts bytes by one; ours shifts by two to make room for :data:`CLS`.

Image pixels (0-255) are not mapped here: they are intensities, and the loader returns them raw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

PAD = 0
CLS = 1

DIGITS = tuple(str(d) for d in range(10))
#: The operators in the order of their ids; :mod:`.listops` draws them by this index.
OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
CLOSE = "]"
LISTOPS_WORDS = DIGITS + OPERATORS + (CLOSE,)
#: Word -> id; the ids of :data:`LISTOPS_WORDS` are 2, 3, ...
LISTOPS_IDS = {word: i + 2 for i, word in enumerate(LISTOPS_WORDS)}
DIGIT_ID = LISTOPS_IDS["0"]  # digit d is DIGIT_ID + d
OPERATOR_ID = LISTOPS_IDS[OPERATORS[0]]  # operator k is OPERATOR_ID + k
CLOSE_ID = LISTOPS_IDS[CLOSE]
LISTOPS_VOCAB_SIZE = 2 + len(LISTOPS_WORDS)

BYTE_OFFSET = 2
BYTE_VOCAB_SIZE = BYTE_OFFSET + 256

#: Words of the LRA source text that carry no token (the binary nesting of LRA's writer).
PARENTHESES = frozenset({"(", ")"})


def tokenize_listops(source: str) -> np.ndarray:
    """The ids of a ListOps source text, parentheses dropped: ``[L]`` uint8, no PAD or CLS.

    Raises:
        ValueError: a word that is none of :data:`LISTOPS_WORDS` or a parenthesis.
    """
    ids = []
    for word in source.split():
        if word in PARENTHESES:
            continue
        if word not in LISTOPS_IDS:
            raise ValueError(f"not a ListOps word: {word!r} (expected one of "
                             f"{' '.join(LISTOPS_WORDS)} or a parenthesis)")
        ids.append(LISTOPS_IDS[word])
    return np.asarray(ids, dtype=np.uint8)


def detokenize_listops(ids: Sequence[int] | np.ndarray) -> str:
    """The words of ListOps ids joined by spaces (prefix notation, no parentheses); PAD and CLS
    are skipped. The inverse of :func:`tokenize_listops` on its output."""
    words = []
    for i in np.asarray(ids, dtype=np.int64).tolist():
        if i in (PAD, CLS):
            continue
        if not 2 <= i < LISTOPS_VOCAB_SIZE:
            raise ValueError(f"not a ListOps id: {i} (ids run 0..{LISTOPS_VOCAB_SIZE - 1})")
        words.append(LISTOPS_WORDS[i - 2])
    return " ".join(words)


def encode_bytes(data: bytes, max_length: int | None = None) -> np.ndarray:
    """Byte-level ids of ``data``, truncated to ``max_length`` as LRA truncates: ``[L]`` int16."""
    ids = np.frombuffer(data, dtype=np.uint8).astype(np.int16) + BYTE_OFFSET
    return ids if max_length is None else ids[:max_length]


def decode_bytes(ids: Sequence[int] | np.ndarray) -> bytes:
    """The bytes of byte-level ids; PAD and CLS are skipped."""
    ids = np.asarray(ids, dtype=np.int64)
    ids = ids[ids >= BYTE_OFFSET]
    if ids.size and ids.max() >= BYTE_VOCAB_SIZE:
        raise ValueError(f"not a byte id: {int(ids.max())} (ids run 0..{BYTE_VOCAB_SIZE - 1})")
    return (ids - BYTE_OFFSET).astype(np.uint8).tobytes()


def collate(sequences: Sequence[np.ndarray], *, cls: bool = True,
            max_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Pad id sequences into one batch, each optionally led by :data:`CLS`.

    Args:
        sequences: B arrays of ids, each ``[L_b]``. cls: prepend :data:`CLS` to each.
        max_length: cut each sequence (CLS included) to this many ids; ``None``: the longest.

    Returns:
        ``ids`` ``[B, T]`` int64, :data:`PAD` after each sequence's end, and ``mask`` ``[B, T]``
        bool, True on real ids (CLS included), where T is the longest (cut) sequence.
    """
    lead = [CLS] if cls else []
    rows = [np.concatenate([np.asarray(lead, dtype=np.int64),
                            np.asarray(s, dtype=np.int64)]) for s in sequences]
    if max_length is not None:
        rows = [r[:max_length] for r in rows]
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), PAD, dtype=torch.int64)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for b, row in enumerate(rows):
        ids[b, : len(row)] = torch.from_numpy(row)
        mask[b, : len(row)] = True
    return ids, mask
