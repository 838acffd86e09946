"""The shared grid runner: seed-major order, run folders, partial tables after each run, the wall
clock kept across sessions, the runs still missing."""

import json

from stripes.experiments.grid import (
    add_wall_time,
    missing_lines,
    run_folder,
    run_grid,
    seed_major,
    wall_time,
)


def test_runs_go_seed_by_seed_so_a_cut_off_grid_leaves_whole_rows():
    assert seed_major(["a", "b"], [0, 1]) == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert seed_major(["a"], [None]) == [("a", None)]


def test_run_folders_have_a_seed_level_only_with_seeds(tmp_path):
    assert run_folder(tmp_path, "rope-bin", 2) == tmp_path / "runs" / "rope-bin" / "seed2"
    assert run_folder(tmp_path, "ape") == tmp_path / "runs" / "ape"


def test_run_grid_tables_after_every_run_and_adds_to_the_wall_clock(tmp_path):
    seen = []
    results = run_grid(seed_major(["a", "b"], [0, 1]), lambda m, s: f"{m}{s}",
                       lambda done: seen.append(list(done)), clock=tmp_path)
    assert results == ["a0", "b0", "a1", "b1"]
    assert seen == [results[:1], results[:2], results[:3], results]
    first = wall_time(tmp_path)
    assert first > 0 and json.loads((tmp_path / "wall_time.json").read_text())["seconds"] == first
    assert add_wall_time(tmp_path, 60.0) == first + 60.0 == wall_time(tmp_path)


def test_run_grid_without_a_clock_writes_nothing(tmp_path):
    run_grid([("a", 0)], lambda m, s: None, lambda done: None)
    assert wall_time(tmp_path) == 0.0 and not (tmp_path / "wall_time.json").exists()


def test_missing_runs_are_named_and_nothing_is_said_when_all_are_done():
    assert missing_lines([], 4) == []
    assert missing_lines(["a seed 1"], 4) == [
        "- PARTIAL: 1 of 4 runs missing (rerun the command to resume): a seed 1"]
