"""The experiment tables' statistics on a synthetic experiment folder (fake evaluation.json files,
nothing trained): best vs next best over seeds, the paired-windows fallback with one seed, the
context-order check, and ``stripes experiment tables``."""

import json

import numpy as np
import pytest
import yaml
from scipy import stats

from stripes.cli import main
from stripes.config import ConfigError
from stripes.evaluation.harmonization import METRICS
from stripes.evaluation.stats import holm
from stripes.experiments.harmonization import ExperimentConfig, write_experiment_tables
from stripes.experiments.significance import ALL_CONTEXTS, run_scores
from stripes.experiments.tables import write_report

SONGS = [3, 3, 5, 8, 8, 9, 11, 12]  # the song of each shared test window
#: CS gain of each (PE, context) over the window's base score; rope is worse under key than time.
GAIN = {("rope_pool", "bin"): 9.0, ("rope_pool", "key"): 4.0, ("rope_pool", "time"): 0.0,
        ("rope", "bin"): 6.0, ("rope", "key"): -1.0, ("rope", "time"): 0.0}


def fake_evaluation(windows: dict[str, np.ndarray], songs=SONGS) -> dict:
    """The parts of an ``evaluation.json`` (as ``evaluate_harmonizer`` writes it) tables read."""
    per_window = [{"song": s, "all": {m: float(windows[m][i]) for m in METRICS},
                   "accompaniment": {m: float(windows[m][i]) - 1 for m in METRICS}}
                  for i, s in enumerate(songs)]
    summary = {m: {"mean": float(np.mean(windows[m])), "std": float(np.std(windows[m])),
                   "n": len(songs)} for m in METRICS}
    return {"test": {"16": {"n": len(songs), "songs": list(songs), "per_window": per_window,
                            "summary": summary, "warning": None}}}


def make_experiment(root, seeds, *, written=None, context_order=(), songs_of=None, **extra):
    """A finished experiment folder: YAML in ``root``, runs in ``root/results/fake/runs``.

    written: the seeds whose runs exist (default: all); songs_of(pe, context): window songs;
    extra: more experiment YAML keys. Returns (yaml path, results root).
    """
    cfg = {"name": "fake", "grid": {"pe": ["rope_pool", "rope"], "context": ["bin", "key",
                                                                            "time"]},
           "seeds": list(seeds), "context_order": list(context_order), **extra}
    path = root / "fake.yaml"
    path.write_text(yaml.safe_dump(cfg))
    base = np.random.default_rng(0).normal(60.0, 8.0, len(SONGS))  # window difficulty
    for (pe, context), gain in GAIN.items():
        for seed in seeds if written is None else written:
            rng = np.random.default_rng([seed, len(pe), len(context)])
            windows = {m: base + gain + rng.normal(0.0, 1.0, len(SONGS)) for m in METRICS}
            songs = songs_of(pe, context) if songs_of else SONGS
            run = root / "results" / "fake" / "runs" / f"{pe}-{context}" / f"seed{seed}"
            run.mkdir(parents=True)
            (run / "evaluation.json").write_text(json.dumps(fake_evaluation(windows, songs)))
    return path, root / "results"


def seed_means(results, label, seeds, metric="CS"):
    return [json.loads((results / "fake" / "runs" / label / f"seed{s}" / "evaluation.json")
                       .read_text())["test"]["16"]["summary"][metric]["mean"] for s in seeds]


def window_scores(results, label, seed=0, metric="CS"):
    doc = json.loads((results / "fake" / "runs" / label / f"seed{seed}" / "evaluation.json")
                     .read_text())
    return [w["all"][metric] for w in doc["test"]["16"]["per_window"]]


def statistics(results) -> list[dict]:
    return json.loads((results / "fake" / "table_16bars.json").read_text())["statistics"]["rows"]


def row(rows, scope, metric):
    (found,) = [r for r in rows if r["scope"] == scope and r["metric"] == metric]
    return found


def test_three_seeds_test_best_against_next_best_over_seeds(tmp_path):
    path, results = make_experiment(tmp_path, [0, 1, 2])
    write_experiment_tables(path, results)
    rows = statistics(results)
    assert {r["scope"] for r in rows} == {"bin", "key", "time", ALL_CONTEXTS}
    assert len(rows) == 4 * len(METRICS)
    cs = row(rows, "bin", "CS")
    assert (cs["best"], cs["next"], cs["kind"]) == ("rope_pool-bin", "rope-bin", "seeds")
    a, b = seed_means(results, "rope_pool-bin", [0, 1, 2]), seed_means(results, "rope-bin",
                                                                        [0, 1, 2])
    equal_var = stats.levene(a, b).pvalue >= 0.05
    assert cs["test"] == ("student" if equal_var else "welch")
    assert cs["p_value"] == pytest.approx(stats.ttest_ind(a, b, equal_var=equal_var).pvalue)
    assert cs["best_mean"] == pytest.approx(np.mean(a)) and cs["n"] == [3, 3]
    # lower is better for NDD: the smallest mean in key is rope-key (its gain is -1)
    assert row(rows, "key", "NDD")["best"] == "rope-key"
    # the table's best CS pair is bin's pair: one test, counted once in Holm's family
    overall = row(rows, ALL_CONTEXTS, "CS")
    assert (overall["best"], overall["next"]) == ("rope_pool-bin", "rope-bin")
    assert overall["p_holm"] == cs["p_holm"]
    distinct = {(r["metric"], r["best"], r["next"]): r["p_value"] for r in rows}
    assert len(distinct) < len(rows)
    expected = dict(zip(distinct, holm(list(distinct.values())), strict=True))
    for r in rows:
        assert r["p_holm"] == pytest.approx(expected[(r["metric"], r["best"], r["next"])])
        assert r["p_holm"] >= r["p_value"]
    table = (results / "fake" / "table_16bars.md").read_text()
    assert "### Statistics: best vs next best" in table
    assert f"seeds: Levene→{cs['test'].title()}, n=3" in table
    assert f"Holm over the {len(distinct)} distinct tests" in table
    assert "windows: paired" not in table
    assert "### Statistics" in (results / "fake" / "summary.md").read_text()


def test_one_seed_falls_back_to_a_paired_test_over_the_shared_windows(tmp_path):
    path, results = make_experiment(tmp_path, [0])
    write_experiment_tables(path, results)
    cs = row(statistics(results), "bin", "CS")
    assert (cs["kind"], cs["test"], cs["seed"], cs["n"]) == ("windows", "paired t", 0, [8, 8])
    a, b = window_scores(results, "rope_pool-bin"), window_scores(results, "rope-bin")
    assert cs["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert cs["p_value"] < stats.ttest_ind(a, b).pvalue  # pairing removes the window spread
    table = (results / "fake" / "table_16bars.md").read_text()
    assert "windows: paired t, n=8, one seed (seed 0)" in table
    assert "seeds: Levene" not in table


def test_a_partial_seed_list_pairs_windows_at_the_shared_seed_and_lists_missing_runs(tmp_path):
    path, results = make_experiment(tmp_path, [0, 1, 2], reference={"pe": "rope",
                                                                    "context": "time"})
    for seed in (1, 2):  # rope-bin only finished seed 0
        (results / "fake" / "runs" / "rope-bin" / f"seed{seed}" / "evaluation.json").unlink()
    write_experiment_tables(path, results)
    rows = statistics(results)
    assert row(rows, "bin", "CS")["kind"] == "windows"  # 3 seeds against 1: no seed-level test
    assert row(rows, "key", "CS")["kind"] == "seeds"
    # the cells against the reference: a one-seed method stays unmarked instead of raising
    cells = {r["method"][0]: r["metrics"]["CS"] for r in json.loads(
        (results / "fake" / "table_16bars.json").read_text())["rows"]}
    assert cells["rope-bin"]["p_value"] is None and cells["rope-bin"]["n"] == 1
    assert cells["rope_pool-bin"]["p_value"] is not None
    summary = (results / "fake" / "summary.md").read_text()
    assert "PARTIAL: 2 of 18 runs missing" in summary
    assert "rope-bin seed 1, rope-bin seed 2" in summary


def test_windows_that_do_not_pair_give_no_test_and_stay_out_of_holm(tmp_path):
    def songs_of(pe, context):
        return SONGS[::-1] if (pe, context) == ("rope", "bin") else SONGS

    path, results = make_experiment(tmp_path, [0], songs_of=songs_of)
    write_experiment_tables(path, results)
    rows = statistics(results)
    cs = row(rows, "bin", "CS")
    assert cs["next"] == "rope-bin" and cs["kind"] is None
    assert cs["p_value"] is None and cs["p_holm"] is None
    tested = {(r["metric"], r["best"], r["next"]): r["p_value"] for r in rows
              if r["p_value"] is not None}
    expected = dict(zip(tested, holm(list(tested.values())), strict=True))
    for r in rows:
        if r["p_value"] is not None:
            assert r["p_holm"] == pytest.approx(expected[(r["metric"], r["best"], r["next"])])
    assert "no test: under two seeds and no shared per-window scores" in \
        (results / "fake" / "table_16bars.md").read_text()


def test_context_order_checks_adjacent_contexts_of_each_pe(tmp_path):
    path, results = make_experiment(tmp_path, [0, 1, 2], context_order=["bin", "key", "rep",
                                                                        "time"])
    write_experiment_tables(path, results)
    doc = json.loads((results / "fake" / "context_order.json").read_text())
    pairs = [(r["pe"], r["first"], r["second"], r["higher"]) for r in doc["rows"]]
    # no run has rep: key is compared with time, the next context present
    assert pairs == [("rope_pool", "bin", "key", True), ("rope_pool", "key", "time", True),
                     ("rope", "bin", "key", True), ("rope", "key", "time", False)]
    first = doc["rows"][0]
    a, b = seed_means(results, "rope_pool-bin", [0, 1, 2]), seed_means(results, "rope_pool-key",
                                                                        [0, 1, 2])
    assert first["kind"] == "seeds" and first["first_mean"] == pytest.approx(np.mean(a))
    equal_var = stats.levene(a, b).pvalue >= 0.05
    assert first["p_value"] == pytest.approx(stats.ttest_ind(a, b, equal_var=equal_var).pvalue)
    np.testing.assert_allclose([r["p_holm"] for r in doc["rows"]],
                               holm([r["p_value"] for r in doc["rows"]]))
    summary = (results / "fake" / "summary.md").read_text()
    assert "## Context order (CS): bin > key > rep > time" in summary
    assert "| 16 | rope | key > time |" in summary and "Holm over the 4 tests" in summary
    assert [line.split(" | ")[4] for line in summary.splitlines()
            if line.startswith("| 16 | rope |")] == ["yes", "no"]


def test_several_context_chains_test_each_adjacent_pair_once(tmp_path):
    path, results = make_experiment(tmp_path, [0, 1, 2], context_order=[["bin", "key", "time"],
                                                                        ["bin", "time"],
                                                                        ["key", "time"]])
    write_experiment_tables(path, results)
    doc = json.loads((results / "fake" / "context_order.json").read_text())
    pairs = [(r["pe"], r["first"], r["second"]) for r in doc["rows"]]
    # key > time is in two chains and tested once; bin > time comes from the second chain
    assert pairs == [("rope_pool", "bin", "key"), ("rope_pool", "key", "time"),
                     ("rope_pool", "bin", "time"), ("rope", "bin", "key"),
                     ("rope", "key", "time"), ("rope", "bin", "time")]
    assert doc["order"] == [["bin", "key", "time"], ["bin", "time"], ["key", "time"]]
    summary = (results / "fake" / "summary.md").read_text()
    assert "## Context order (CS): bin > key > time; bin > time; key > time" in summary
    assert "Holm over the 6 tests" in summary


def test_context_order_with_one_seed_uses_the_windows_and_is_skipped_when_unset(tmp_path):
    (tmp_path / "a").mkdir()
    path, results = make_experiment(tmp_path / "a", [0], context_order=["bin", "time"])
    write_experiment_tables(path, results)
    rows = json.loads((results / "fake" / "context_order.json").read_text())["rows"]
    assert [(r["pe"], r["first"], r["second"], r["kind"]) for r in rows] == [
        ("rope_pool", "bin", "time", "windows"), ("rope", "bin", "time", "windows")]
    a, b = window_scores(results, "rope-bin"), window_scores(results, "rope-time")
    assert rows[1]["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    (tmp_path / "b").mkdir()
    path, results = make_experiment(tmp_path / "b", [0])
    paths = write_experiment_tables(path, results)
    assert "context_order" not in paths and not (results / "fake" / "context_order.json").exists()
    assert "Context order" not in paths["summary"].read_text()


def test_context_order_refuses_a_repeated_context():
    with pytest.raises(ConfigError, match="context_order repeats"):
        ExperimentConfig(name="x", grid={"pe": ["rope"]}, context_order=["bin", "bin"])


def test_run_scores_reads_old_evaluations_with_metrics_at_the_window_level():
    test = {"per_window": [{"song": 1, "CS": 2.0}, {"song": 4, "CS": 6.0}],
            "summary": {"CS": {"mean": 4.0, "std": 2.0, "n": 2}}}
    scores = run_scores(test)
    assert scores.songs == (1, 4) and scores.means == {"CS": 4.0}
    np.testing.assert_array_equal(scores.windows["CS"], [2.0, 6.0])
    assert run_scores({"summary": test["summary"]}).windows == {}


def test_write_report_appends_the_appendix_and_the_extra_json(tmp_path):
    paths = write_report({"a": {"CS": [1.0, 2.0]}}, tmp_path / "t", higher_is_better={"CS": True},
                         appendix="### Extra\n", extra={"statistics": {"rows": [1]}})
    assert paths["markdown"].read_text().endswith("\n### Extra\n")
    doc = json.loads(paths["json"].read_text())
    assert doc["statistics"] == {"rows": [1]} and len(doc["rows"]) == 1


def test_cli_tables_rewrites_from_finished_runs_and_lists_missing_ones(tmp_path, capsys):
    path, results = make_experiment(tmp_path, [0])
    runs = results / "fake" / "runs"
    (runs / "rope-key" / "seed0" / "evaluation.json").unlink()
    before = sorted(p.relative_to(runs) for p in runs.rglob("*"))
    argv = ["experiment", "tables", str(path), "--out", str(results), "--set", "seeds=[0,1]"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"16: {results / 'fake' / 'table_16bars.md'}" in out
    assert "PARTIAL: 7 of 12 runs missing" in out and "rope-key seed 0" in out
    assert "rope_pool-bin seed 1" in out
    assert sorted(p.relative_to(runs) for p in runs.rglob("*")) == before  # nothing trained
    summary = (results / "fake" / "summary.md").read_text()
    assert "PARTIAL: 7 of 12 runs missing" in summary and "### Statistics" in summary
    assert "stripes experiment run" in summary  # the command that produces the runs
    assert "rope-key" not in (results / "fake" / "table_16bars.md").read_text()


def test_cli_tables_without_runs_is_one_error_line(tmp_path, capsys):
    path = tmp_path / "fake.yaml"
    path.write_text("name: fake\ngrid: {pe: [rope]}\n")
    assert main(["experiment", "tables", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stripes: error: ") and "runs" in err[0]
    assert not (tmp_path / "r").exists()


def test_comparisons_test_each_pair_over_seeds_and_over_seed_averaged_windows(tmp_path):
    pairs = [["rope_pool-bin", "rope-bin"], ["rope-key", "rope-time"]]
    path, results = make_experiment(tmp_path, [0, 1, 2], comparisons=pairs)
    write_experiment_tables(path, results)
    rows = json.loads((results / "fake" / "comparisons.json").read_text())["rows"]
    assert len(rows) == 2 * len(METRICS) * 2  # pairs x metrics x kinds, one test length
    by = {(r["a"], r["metric"], r["kind"]): r for r in rows}
    seeds_row = by[("rope_pool-bin", "CS", "seeds")]
    a, b = (seed_means(results, m, [0, 1, 2]) for m in ("rope_pool-bin", "rope-bin"))
    equal_var = stats.levene(a, b).pvalue >= 0.05
    assert seeds_row["test"] == ("student" if equal_var else "welch")
    assert seeds_row["p_value"] == pytest.approx(stats.ttest_ind(a, b, equal_var=equal_var).pvalue)
    win = by[("rope_pool-bin", "CS", "windows")]
    wa, wb = (np.mean([window_scores(results, m, s) for s in (0, 1, 2)], axis=0)
              for m in ("rope_pool-bin", "rope-bin"))
    assert win["seeds"] == [0, 1, 2] and win["n"] == [len(SONGS)] * 2
    assert win["p_value"] == pytest.approx(stats.ttest_rel(wa, wb).pvalue)
    assert win["a_better"] and not by[("rope-key", "CS", "windows")]["a_better"]  # key < time
    # Holm per kind, over every pair and metric of the experiment
    for kind in ("seeds", "windows"):
        family = [r for r in rows if r["kind"] == kind]
        expected = holm([r["p_value"] for r in family])
        assert [r["p_holm"] for r in family] == pytest.approx(list(np.minimum(expected, 1)))
    summary = (results / "fake" / "summary.md").read_text()
    assert "## Comparisons" in summary and "rope-key vs rope-time" in summary


def test_comparisons_refuse_a_repeated_method_and_name_unknown_ones_in_the_summary(tmp_path):
    path, _ = make_experiment(tmp_path, [0], comparisons=[["rope-bin", "rope-bin"]])
    with pytest.raises(ConfigError, match="two different"):
        ExperimentConfig.from_yaml(path)
    typo = path.read_text().replace("- rope-bin\n  - rope-bin", "- rope-bin\n  - rope-bni")
    path.write_text(typo)
    write_experiment_tables(path, tmp_path / "results")
    summary = (tmp_path / "results" / "fake" / "summary.md").read_text()
    assert "Not tested, no such method in this experiment: rope-bni" in summary
