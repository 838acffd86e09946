"""The groove continuation runner: recipes, training on trio crops, sampling and scoring, the
ceiling and floor of hand-made pieces, the grid's resume, and the report (table, tests, figure)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stripes.config import ConfigError, load_config
from stripes.experiments.groove import GrooveGrid, run_config, run_one
from stripes.experiments.groove_report import last_chunk_tests, write_report
from stripes.music.trio_events import TrioVocabulary
from stripes.music.trio_grammar import first_violation
from stripes.tasks.groove.config import GrooveConfig, load_groove_config
from stripes.tasks.groove.continuation import continue_pieces, reference_scores
from stripes.tasks.groove.pieces import TrioPiece
from stripes.tasks.groove.train import finished, load_groove_model, train_groove

CONFIGS = Path(__file__).parents[3] / "configs" / "groove"


def piece(name: str, step: int, offset: int, bars: int = 10) -> TrioPiece:
    """A trio whose slots 0 and 2 repeat a note every ``step`` ticks from ``offset``, lasting
    to the next grid step (the last ends on the last bar line), slot 1 a bass note per bar: a
    known, constant style."""
    n = bars * 48 // step
    lead = [[0, offset + step * i, step - offset, 60 + 2 * (i % 3)] for i in range(n)]
    chords = [[2, offset + step * i, step - offset, 67] for i in range(n)]
    bass = [[1, 48 * b, 24, 40] for b in range(bars)]
    notes = np.array(sorted(lead + chords + bass, key=lambda r: (r[1], r[0], r[3])), np.int64)
    return TrioPiece(name=name, style=name, notes=notes, sources=("a", "b", "c"),
                     roles=((0,), (1,), (2,)), slot_names=("a", "b", "c"))


def pieces() -> dict[str, list[TrioPiece]]:
    train = [piece(f"t{i}", 12 if i % 2 else 6, 0) for i in range(6)]
    return {"train": train, "val": train[:2],
            "test": [piece("quarters", 12, 0), piece("offbeats", 12, 6)]}


def tiny(tmp_path: Path, **sampling) -> GrooveConfig:
    cfg = load_groove_config(CONFIGS / "continuation_cpu.yaml", [
        "model.d_model=16", "model.n_layers=1", "model.n_heads=2", "model.d_ff=16",
        "model.attention.n_features=8", "data.train_length=64", "train.epochs=1",
        "train.batch_size=3", "train.warmup_steps=1", "train.checkpoint_every=0",
        f"run.out_dir={tmp_path / 'run'}"])
    return replace(cfg, sampling=replace(cfg.sampling, prompts=2, samples=2, tokens=96,
                                         **sampling))


@pytest.mark.parametrize("name", ["continuation_cpu", "continuation"])
def test_groove_recipes_load_with_the_paper_protocol(name):
    cfg = load_groove_config(CONFIGS / f"{name}.yaml")
    assert cfg.sampling.temperature == 0.6 and cfg.sampling.chunks == 4
    assert cfg.sampling.prompt_bars == 2 and cfg.model.input_dim == 794
    assert cfg.sampling.tokens == 2 * cfg.data.train_length  # sampled to twice the crops


@pytest.mark.parametrize("name", ["grid_cpu", "grid"])
def test_every_groove_grid_row_resolves_with_its_seed(name):
    grid = load_config(GrooveGrid, CONFIGS / f"{name}.yaml")
    labels = [m.label for m in grid.methods]
    assert labels == ["APE", "sineSPE", "convSPE", "RoPE", "F-StrIPE"] and len(grid.seeds) >= 3
    for method in grid.methods:
        cfg = run_config(grid, method, 7, root=CONFIGS)
        assert cfg.train.seed == 7 and cfg.model.attention.feature_seed == 7
    spe = run_config(grid, grid.methods[1], 0, root=CONFIGS).model.pe
    assert spe.kind == "sine_spe" and spe.params["gated"] is True


def test_a_groove_recipe_that_cannot_hold_its_samples_is_refused():
    with pytest.raises(ConfigError, match="max_len"):
        load_groove_config(CONFIGS / "continuation_cpu.yaml", ["model.max_len=300"])
    with pytest.raises(ConfigError, match="794"):
        load_groove_config(CONFIGS / "continuation_cpu.yaml", ["model.input_dim=100"])


def test_the_ceiling_and_floor_of_hand_made_pieces_are_known():
    # 10 bars: after the 2-bar prompt, four chunks of 2 bars each, whole bars every one
    sampling = replace(GrooveConfig().sampling, prompts=2, tokens=4000)
    test = pieces()["test"]  # quarter notes on the beat / eighths on the off-beat
    ref = reference_scores(test, sampling)
    assert [r["floor_piece"] for r in ref] == ["offbeats", "quarters"]
    for r in ref:
        # each chunk has the rhythm of the whole piece: 1 on every slot
        np.testing.assert_allclose(r["ceiling"]["onset_duration"], 1.0)
        # the other piece: slots 0 and 2 share no (onset, duration) bin (0), the bass is the
        # same (1); the mean over the three slots is 1/3
        np.testing.assert_allclose(r["floor"]["onset_duration"], 1 / 3)


def test_a_trained_model_continues_every_prompt_within_the_grammar(tmp_path):
    cfg = tiny(tmp_path)
    split = pieces()
    run = train_groove(cfg, pieces=split)
    assert finished(run, cfg) and (run / "task.yaml").is_file()
    model = load_groove_model(run / "checkpoints" / "last.pt")
    out = continue_pieces(model, split["test"], cfg.sampling, tmp_path / "midi")
    assert [o["name"] for o in out] == ["quarters", "offbeats"]
    for o in out:
        assert o["start"] == 96 and len(o["notes"]) == 2  # the 2-bar prompt reaches tick 96
        assert all(len(v) == 4 for v in o["scores"].values())
    assert len(list((tmp_path / "midi").glob("*.mid"))) == 4
    from stripes.tasks.groove.continuation import sample_piece

    tokens, n_prompt = sample_piece(model, split["test"][0].trio(), TrioVocabulary(),
                                    cfg.sampling, seed=3)
    assert tokens.shape == (2, 96)
    assert all(first_violation(t, TrioVocabulary(), start=1) is None for t in tokens)
    with pytest.raises(ConfigError, match="another recipe"):
        train_groove(replace(cfg, train=replace(cfg.train, lr=0.5)), pieces=split)


def test_a_grid_run_is_read_back_once_done(tmp_path):
    cfg, split = tiny(tmp_path), pieces()
    first = run_one(cfg, "APE", 0, tmp_path, split)
    folder = tmp_path / "runs" / "APE" / "seed0"
    (folder / "checkpoints" / "last.pt").unlink()  # nothing left to train or sample from
    assert run_one(cfg, "APE", 0, tmp_path, split) == first
    assert first["label"] == "APE" and len(first["pieces"]) == 2


def fake_results(drift: dict[str, float], seeds=(0, 1, 2)) -> list[dict]:
    """Runs whose similarity falls by ``drift[label]`` per chunk from 0.8 (seed noise 0.01)."""
    out = []
    for s in seeds:
        for label, d in drift.items():
            curve = [0.8 - d * j + 0.01 * s for j in range(4)]
            out.append({"label": label, "seed": s, "pieces": [
                {"name": n, "scores": {"onset_duration": curve, "time_pitch": curve}}
                for n in ("p1", "p2")]})
    return out


REFERENCE = {"sampling": {"chunks": 4}, "pieces": [
    {"name": n, "ceiling": {m: [0.9] * 4 for m in ("onset_duration", "time_pitch")},
     "floor": {m: [0.3] * 4 for m in ("onset_duration", "time_pitch")}} for n in ("p1", "p2")]}


def grid(labels) -> GrooveGrid:
    from stripes.experiments.lra import LRAMethod

    return GrooveGrid(base="x.yaml", methods=[LRAMethod(label=x) for x in labels],
                      seeds=[0, 1, 2], reference="APE", title="t")


def test_the_report_finds_ape_drifting_and_spe_stable_in_made_up_runs(tmp_path):
    results = fake_results({"APE": 0.1, "sineSPE": 0.0, "convSPE": 0.0})
    write_report(grid(["APE", "sineSPE", "convSPE"]), results, REFERENCE, tmp_path, "cmd", "s")
    text = (tmp_path / "table.md").read_text()
    assert "| APE | 3 | 0.810 ± 0.010 | 0.710 ± 0.010 | 0.610 ± 0.010 | 0.510 ± 0.010 |" in text
    assert "| *ceiling* | – | 0.900 | 0.900 | 0.900 | 0.900 | +0.000 |" in text
    assert "drifts (last chunk below the first at every seed): **yes**" in text
    assert "sineSPE stable (change +0.000 ± 0.000): **yes**; above APE in the last chunk at " \
           "Holm p < 0.05: **yes**" in text
    assert "above the floor (0.300) in the first chunk: APE yes, sineSPE yes, convSPE yes" in text
    doc = json.loads((tmp_path / "table.json").read_text())
    assert len(doc["tests"]) == 4 and all(t["holm_p"] >= t["p"] for t in doc["tests"])
    assert doc["models"]["APE"]["time_pitch"]["2"] == pytest.approx([0.82, 0.72, 0.62, 0.52])
    assert (tmp_path / "fig5.png").stat().st_size > 10_000


def test_a_partial_grid_says_what_is_missing_and_tests_nothing(tmp_path):
    results = fake_results({"APE": 0.1, "sineSPE": 0.0}, seeds=(0,))
    for p in results[0]["pieces"]:  # no note in APE's last chunk: NaN, left out of every mean
        p["scores"]["time_pitch"] = [0.8, 0.7, 0.6, float("nan")]
    write_report(grid(["APE", "sineSPE"]), results, REFERENCE, tmp_path, "cmd", "s")
    text = (tmp_path / "table.md").read_text()
    assert "PARTIAL: 4 of 6 runs missing" in text and "No test yet" in text
    doc = json.loads((tmp_path / "table.json").read_text(), parse_constant=pytest.fail)
    assert doc["models"]["APE"]["time_pitch"]["0"] == [0.8, 0.7, 0.6, None]
    assert last_chunk_tests({}, "APE") == []


def test_the_groove_grid_command_names_a_missing_data_folder_in_one_line(tmp_path, capsys):
    from stripes.cli import main

    code = main(["groove", "grid", str(CONFIGS / "grid_cpu.yaml"), "--out", str(tmp_path),
                 "--set", f"run.data_root={tmp_path / 'nowhere'}"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("stripes: error:") and "nowhere" in err
    assert len(err.strip().splitlines()) == 1 and not list(tmp_path.glob("*.json"))


def test_committed_groove_runs_hold_the_recipe_their_grid_asks_for():
    """A resumed grid reads these runs back: each ``task.yaml`` must be its row's recipe."""
    import yaml

    from stripes.training.checkpoint import to_plain

    grid = load_config(GrooveGrid, CONFIGS / "grid_cpu.yaml")
    results = CONFIGS.parents[1] / "results" / "groove_continuation_cpu" / "runs"
    for method in grid.methods:
        for seed in grid.seeds:
            saved = results / method.label / f"seed{seed}" / "task.yaml"
            if saved.is_file():
                recipe = run_config(grid, method, seed, root=CONFIGS).recipe()
                assert yaml.safe_load(saved.read_text()) == to_plain(recipe), saved
