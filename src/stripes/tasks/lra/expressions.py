"""ListOps expressions as token ids: an evaluator and the LRA source text, each one stack pass.

Both read the ids of :mod:`.vocab` in prefix order (``[MAX 2 [MIN 3 4 ] ]``) and share no code
with the generator (:mod:`.listops`), which computes its labels on whole levels of a forest at
once; tests hold each against the other.

The operators, on the digits of their arguments ([LRA] ListOps):

- ``MIN``, ``MAX``: the smallest, the largest;
- ``MED``: the median; of an even count, the mean of the two middle values rounded down. The LRA
  generator computes ``int(np.median(args))``, which truncates the mean of the two middle values
  (``MED 2 5`` is 3, ``MED 1 2`` is 1), and so does ours;
- ``SM``: the sum modulo 10.

LRA's writer nests every argument in one more pair of parentheses (its tree is a chain of
(function, argument) pairs), so ``[MAX 2 9 ]`` is written ``( ( ( [MAX 2 ) 9 ) ] )``: an operator
with k arguments opens k + 1 parentheses before its name, every argument is followed by ``)``,
and so is every ``]``. A bare digit is written alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stripes.tasks.lra.vocab import (
    CLOSE,
    CLOSE_ID,
    DIGIT_ID,
    LISTOPS_WORDS,
    OPERATOR_ID,
    OPERATORS,
)


def apply_operator(name: str, args: Sequence[int]) -> int:
    """The value of operator ``name`` (``"[MIN"``...) on the digits ``args``."""
    if name == "[MIN":
        return min(args)
    if name == "[MAX":
        return max(args)
    if name == "[SM":
        return sum(args) % 10
    ordered = sorted(args)
    n = len(ordered)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) // 2


def _kind(token: int) -> str:
    """``"digit"``, ``"operator"`` or ``"close"``; anything else is refused."""
    if DIGIT_ID <= token < DIGIT_ID + 10:
        return "digit"
    if OPERATOR_ID <= token < OPERATOR_ID + len(OPERATORS):
        return "operator"
    if token == CLOSE_ID:
        return "close"
    raise ValueError(f"not an expression id: {token} (PAD, CLS or out of the ListOps vocabulary)")


def evaluate(tokens: Sequence[int] | np.ndarray) -> int:
    """The value of a ListOps expression given as ids ``[L]``, by a stack machine.

    An operator opens a frame, a digit is pushed on the open frame, ``]`` closes the frame and
    pushes its value on the frame below (or makes it the result).

    Raises:
        ValueError: a malformed expression (unbalanced, an operator without arguments, tokens
        after the end, an id that is not a digit, an operator or ``]``).
    """
    frames: list[tuple[str, list[int]]] = []
    result: int | None = None
    for position, token in enumerate(np.asarray(tokens, dtype=np.int64).tolist()):
        kind = _kind(token)
        if result is not None:
            raise ValueError(f"tokens after the end of the expression at position {position}")
        if kind == "operator":
            frames.append((OPERATORS[token - OPERATOR_ID], []))
            continue
        if kind == "digit":
            value = token - DIGIT_ID
        else:
            if not frames:
                raise ValueError(f"']' without an open operator at position {position}")
            name, args = frames.pop()
            if not args:
                raise ValueError(f"{name} without arguments closed at position {position}")
            value = apply_operator(name, args)
        if frames:
            frames[-1][1].append(value)
        else:
            result = value
    if frames or result is None:
        raise ValueError(f"unfinished expression: {len(frames)} operator(s) left open")
    return result


def format_source(tokens: Sequence[int] | np.ndarray) -> str:
    """The LRA source text of an expression given as ids ``[L]`` (see the module docstring).

    Raises:
        ValueError: a malformed expression (as :func:`evaluate`).
    """
    pieces: list[str] = []
    open_ops: list[tuple[int, int]] = []  # (index of the operator's piece, arguments so far)
    for position, token in enumerate(np.asarray(tokens, dtype=np.int64).tolist()):
        kind = _kind(token)
        if pieces and not open_ops:
            raise ValueError(f"tokens after the end of the expression at position {position}")
        if kind == "operator":
            open_ops.append((len(pieces), 0))
            pieces.append(OPERATORS[token - OPERATOR_ID])
            continue
        if kind == "close":
            if not open_ops:
                raise ValueError(f"']' without an open operator at position {position}")
            at, count = open_ops.pop()
            if not count:
                raise ValueError(f"{pieces[at]} without arguments closed at position {position}")
            # the arity is known only now: the operator's piece gets its k + 1 parentheses
            pieces[at] = "( " * (count + 1) + pieces[at]
            pieces.append(CLOSE + " )")
        else:
            pieces.append(LISTOPS_WORDS[token - 2])
        if open_ops:
            at, count = open_ops[-1]
            open_ops[-1] = (at, count + 1)
            pieces[-1] += " )"
    if open_ops or not pieces:
        raise ValueError(f"unfinished expression: {len(open_ops)} operator(s) left open")
    return " ".join(pieces)
