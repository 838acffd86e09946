"""Tables over seeds: mean ± std cells, marks against the reference, best in bold, JSON beside."""

import json

import pytest

from stripes.evaluation.harmonization import HIGHER_IS_BETTER
from stripes.experiments.tables import format_markdown, summarize_seeds, write_report

PER_SEED = {
    ("NoPE", "-"): {"CS": [50.0, 51.0, 49.0], "NDD": [30.0, 31.0, 29.0]},
    ("F-StrIPE", "REP"): {"CS": [60.0, 61.0, 59.0], "NDD": [20.0, 21.0, 19.0]},
    ("RoPE", "TIME"): {"CS": [50.5, 51.5, 49.5], "NDD": [35.0, 36.0, 34.0]},
}


def test_summary_marks_best_by_direction_and_significance_against_reference():
    rows = summarize_seeds(PER_SEED, higher_is_better=HIGHER_IS_BETTER, reference=("NoPE", "-"))
    by_name = {tuple(r["method"]): r["metrics"] for r in rows}
    assert by_name[("F-StrIPE", "REP")]["CS"]["best"]
    assert by_name[("F-StrIPE", "REP")]["NDD"]["best"]  # lower is better for NDD
    assert not by_name[("RoPE", "TIME")]["CS"]["best"]
    assert by_name[("F-StrIPE", "REP")]["CS"]["mark"] == "**"
    assert by_name[("NoPE", "-")]["CS"]["p_value"] is None
    assert by_name[("NoPE", "-")]["CS"]["std"] == pytest.approx(1.0)


def test_markdown_table_has_papers_layout():
    rows = summarize_seeds(PER_SEED, higher_is_better=HIGHER_IS_BETTER, reference=("NoPE", "-"))
    md = format_markdown(rows, higher_is_better=HIGHER_IS_BETTER)
    lines = md.strip().splitlines()
    assert lines[0] == "| PE | Context | CS ↑ | NDD ↓ |"
    assert len(lines) == 2 + len(PER_SEED)
    assert r"| F-StrIPE | REP | **60.00 ± 1.00**\*\* | **20.00 ± 1.00**\*\* |" in lines
    assert "| NoPE | - | 50.00 ± 1.00 | 30.00 ± 1.00 |" in lines


def test_write_report_writes_markdown_and_json(tmp_path):
    paths = write_report(PER_SEED, tmp_path / "table", higher_is_better=HIGHER_IS_BETTER,
                         reference=("NoPE", "-"), title="16 bars")
    md = paths["markdown"].read_text()
    assert md.startswith("# 16 bars") and "against NoPE / -" in md
    data = json.loads(paths["json"].read_text())
    assert data["reference"] == ["NoPE", "-"]
    assert data["rows"][1]["metrics"]["CS"]["mean"] == pytest.approx(60.0)


def test_one_seed_cells_show_no_std():
    from stripes.experiments.tables import format_cell

    assert format_cell({"mean": 3.14159, "std": 0.0, "n": 1, "best": False, "mark": ""}) == \
        "3.14 (n=1)"
    assert format_cell({"mean": 3.0, "std": 0.5, "n": 3, "best": True, "mark": "*"}) == \
        r"**3.00 ± 0.50**\*"
