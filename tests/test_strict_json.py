"""Reports are strict JSON: no NaN / Infinity tokens; a non-finite number is null, and noted."""

import json

import numpy as np
import pytest

from stripes.files import NON_FINITE_KEY, strict_json


def strict_loads(text: str):
    """``json.loads`` refusing the NaN / Infinity / -Infinity tokens Python writes by default."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_python_json_writes_tokens_a_strict_reader_refuses():
    with pytest.raises(ValueError, match="-Infinity"):
        strict_loads(json.dumps({"peak_dbfs": float("-inf")}))


def test_strict_json_writes_non_finite_numbers_as_null_and_says_where():
    report = {"wav_stats": {"peak_dbfs": float("-inf"), "seconds": 2.5},
              "scores": [np.float32(0.5), np.float64("nan")], "grid": np.array([0.1, np.inf]),
              "name": "ode", "n": np.int64(3)}
    back = strict_loads(strict_json(report))
    assert back["wav_stats"] == {"peak_dbfs": None, "seconds": 2.5}
    assert back["scores"] == [0.5, None] and back["grid"] == [0.1, None] and back["n"] == 3
    assert back[NON_FINITE_KEY] == ["wav_stats.peak_dbfs: -inf", "scores[1]: nan",
                                    "grid[1]: inf"]
    assert NON_FINITE_KEY not in strict_loads(strict_json({"a": 1.0}))
