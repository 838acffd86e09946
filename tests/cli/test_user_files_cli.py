"""What the commands promise about the user's files (docs/cli.md, "Your files"), where a case
needs more than one command line: concurrent trainings, exports over a weights folder, a full
disk, a read-only folder, Ctrl-C, and the prompt's tempo kept by ``generate``."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import symusic
import yaml

from stripes.cli import main

TASK = {"data": "chorales", "context": "time", "train_bars": 4, "test_bars": [4],
        "max_train_windows": 8, "max_eval_windows": 4,
        "model": {"d_model": 16, "n_layers": 1, "n_heads": 2},
        "train": {"epochs": 1, "batch_size": 4},
        "run": {"max_steps": 2, "progress": False, "tensorboard": False}}
CHORDS = "D:min [2, 5, 9] 2 4\nA:maj [9, 1, 4] 9 4\n"


@pytest.fixture(scope="module")
def task(tmp_path_factory, chorale_cache) -> Path:
    path = tmp_path_factory.mktemp("task") / "task.yaml"
    path.write_text(yaml.safe_dump({**TASK, "run": {**TASK["run"],
                                                    "cache_dir": str(chorale_cache)}}))
    return path


def _song(path: Path, qpm: float = 72.0) -> Path:
    score = symusic.Score(96)
    score.tempos.append(symusic.Tempo(0, qpm))
    lead = symusic.Track(name="Lead")
    for k, pitch in enumerate([62, 62, 65, 69, 67, 65, 64, 62]):
        lead.notes.append(symusic.Note(k * 96, 90, pitch, 64 + k))
    score.tracks.append(lead)
    score.dump_midi(str(path))
    return path


def _harmonize(tmp: Path, out: Path) -> list[str]:
    (tmp / "chords.txt").write_text(CHORDS)
    return ["harmonize", str(_song(tmp / "lead.mid")), "--chords", str(tmp / "chords.txt"),
            "--checkpoint", "chorales", "--out", str(out)]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def test_two_trainings_into_one_folder_cannot_both_succeed(task, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "stripes.cli", "train", str(task), "--out", str(out)]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=_env())
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results
    loser = next(err for rc, err in results if rc == 2).strip().splitlines()
    assert len(loser) == 1 and loser[0].startswith("stripes: error: ")
    assert "another" in loser[0] or "not empty" in loser[0]


def test_a_held_run_folder_refuses_a_second_training(task, tmp_path, capsys):
    from stripes.training.run_dir import hold_run_dir

    out = tmp_path / "run"
    with hold_run_dir(out, fresh=True):  # another command writing it now
        assert main(["train", str(task), "--out", str(out), "--overwrite"]) == 2
    assert "another stripes command is writing this run folder" in capsys.readouterr().err
    (out / "task.yaml").write_text("written by the winner\n")
    with pytest.raises(ValueError, match="another command started a run in this folder first"):
        with hold_run_dir(out, fresh=True):  # claimed while empty, populated since
            pass


def test_export_needs_overwrite_to_replace_a_weights_folder(task, tmp_path, capsys, monkeypatch,
                                                            chorale_cache):
    monkeypatch.setenv("STRIPES_CACHE", str(chorale_cache))  # the run folder names no cache
    run, weights = tmp_path / "run", tmp_path / "weights"
    assert main(["train", str(task), "--out", str(run)]) == 0
    assert main(["evaluate", str(run)]) == 0
    assert main(["export", str(run), "--out", str(weights)]) == 0
    (weights / "config.json").write_text('{"notes": "the user edited this"}\n')
    before = {p.name: p.read_bytes() for p in weights.iterdir()}
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(weights)]) == 2
    assert "exists: pass --overwrite" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in weights.iterdir()} == before
    assert main(["export", str(run), "--out", str(run)]) == 2
    assert main(["export", str(run), "--out", str(weights), "--overwrite"]) == 0
    assert b"the user edited this" not in (weights / "config.json").read_bytes()


def test_a_full_disk_is_one_line_naming_the_folder_and_leaves_nothing(tmp_path):
    def small_files():  # a disk that takes files of 20 kB at most
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "out" / "song.mid"
    out.parent.mkdir()
    proc = subprocess.run([sys.executable, "-m", "stripes.cli", *_harmonize(tmp_path, out)],
                          capture_output=True, text=True, timeout=300, env=_env(),
                          preexec_fn=small_files)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"stripes: error: {out.parent}") and "too large" in lines[0]
    assert list(out.parent.iterdir()) == []  # no MIDI without its WAV, no 0-frame WAV


def test_a_read_only_folder_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    import tempfile

    def refused(*args, dir=None, **kwargs):  # what a read-only folder does (root ignores chmod)
        raise PermissionError(13, "Permission denied", os.path.join(dir, ".stripes-x"))

    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    out = tmp_path / "ro" / "song.mid"
    out.parent.mkdir()
    assert main(_harmonize(tmp_path, out)) == 2
    assert capsys.readouterr().err == f"stripes: error: {out.parent}: permission denied\n"


def test_ctrl_c_during_training_is_one_line_and_exit_130(task, tmp_path, capsys, monkeypatch):
    import stripes.tasks.harmonization.train as harmonizer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(harmonizer, "train", interrupted)
    assert main(["train", str(task), "--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert err == "stripes: interrupted: no file was left half-written\n"
    assert not list((tmp_path / "run").glob("**/*.tmp"))


def test_generate_continues_the_prompt_at_its_tempo(tmp_path, chorale_cache, capsys):
    lm_yaml = tmp_path / "lm.yaml"
    lm_yaml.write_text(yaml.safe_dump({
        "name": "tiny", "data": {"train_length": 32, "eval_length": 64, "max_val_pieces": 2,
                                 "corpus": str(chorale_cache / "chorales")},
        "model": {"d_model": 16, "n_layers": 1, "n_heads": 2},
        "train": {"epochs": 1, "batch_size": 4},
        "run": {"max_steps": 2, "progress": False, "tensorboard": False},
        "eval": {"prompts": 0, "realizations": 1}}))
    assert main(["lm", "train", str(lm_yaml), "--out", str(tmp_path / "lm")]) == 0
    prompt = _song(tmp_path / "prompt.mid", qpm=57.0)
    out = tmp_path / "more.mid"
    args = ["generate", "--checkpoint", str(tmp_path / "lm"), "--prompt", str(prompt),
            "--tokens", "16", "--out", str(out)]
    assert main(args) == 0
    assert symusic.Score(str(out)).tempos[0].qpm == pytest.approx(57.0)
    first = out.read_bytes()
    assert main(args) == 2 and out.read_bytes() == first  # an existing --out needs --overwrite
    assert main([*args, "--overwrite"]) == 0
