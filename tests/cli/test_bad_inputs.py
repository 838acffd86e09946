"""Malformed inputs against every command: each one a clear error, nothing on disk damaged.

Every case runs ``stripes.cli.main(argv)`` in-process (a handful also through a subprocess) and
checks that an error is one line on stderr starting ``stripes: error:`` with exit code 2 (or, for
documented behaviour, exit 0 and only documented warnings), that no traceback escaped, and that
the protected folders (a trained harmonizer run, a language-model run, the corpus cache, the
user's own songs and files of ``bad_inputs_sacred.py``) are byte for byte what they were. The
tally (``tests/cli/conftest.py``) is printed at the end.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from bad_inputs_sacred import make_user_files, user_cases

from stripes.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "ode_to_joy"
SHIPPED = Path(__file__).parents[2] / "src" / "stripes" / "weights" / "chorales"
TASK = {"data": "chorales", "context": "time", "train_bars": 4, "test_bars": [4],
        "max_train_windows": 8, "max_eval_windows": 4,
        "model": {"d_model": 16, "n_layers": 1, "n_heads": 2},
        "train": {"epochs": 1, "batch_size": 4},
        "run": {"max_steps": 2, "progress": False, "tensorboard": False}}
LM = {"name": "tiny", "data": {"train_length": 32, "eval_length": 64, "max_val_pieces": 2},
      "model": {"d_model": 16, "n_layers": 1, "n_heads": 2},
      "train": {"epochs": 1, "batch_size": 4},
      "run": {"max_steps": 2, "progress": False, "tensorboard": False},
      "eval": {"prompts": 0, "realizations": 1}}


class Evil:
    """Unpickling this would run code: ``weights_only`` loading must refuse it."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


# --- the world the cases run against -------------------------------------------------------------
def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def _copy_run(src: Path, dst: Path, checkpoint: bytes | Path) -> Path:
    shutil.copytree(src, dst)
    last = dst / "checkpoints" / "last.pt"
    last.write_bytes(checkpoint.read_bytes() if isinstance(checkpoint, Path) else checkpoint)
    return dst


@pytest.fixture(scope="session")
def world(tmp_path_factory, chorale_cache):
    """A tiny trained harmonizer run, a tiny language-model run and bad files made from them."""
    root = tmp_path_factory.mktemp("bad_inputs")
    w = SimpleNamespace(root=root, cache=chorale_cache, corpus=chorale_cache / "chorales")
    w.task = _write(root / "task.yaml", {**TASK, "run": {**TASK["run"],
                                                         "cache_dir": str(chorale_cache)}})
    w.run, w.lm = root / "run", root / "lm"
    assert main(["train", str(w.task), "--out", str(w.run)]) == 0
    w.lm_yaml = _write(root / "lm.yaml", {**LM, "data": {**LM["data"], "corpus": str(w.corpus)}})
    assert main(["lm", "train", str(w.lm_yaml), "--out", str(w.lm)]) == 0
    w.lm_ckpt, w.ckpt = w.lm / "checkpoints" / "last.pt", w.run / "checkpoints" / "last.pt"
    bad = root / "bad"
    bad.mkdir()
    w.random = bad / "random.pt"
    w.random.write_bytes(random.Random(0).randbytes(4096))
    w.truncated = bad / "truncated.pt"
    w.truncated.write_bytes(w.lm_ckpt.read_bytes()[:2000])
    w.evil = bad / "evil.pt"  # a raw pickle that would call os.system
    w.evil.write_bytes(pickle.dumps({"model": Evil()}))
    w.evil_zip = bad / "evil_zip.pt"  # torch's own format, holding an arbitrary object
    torch.save({"model": {}, "payload": Evil()}, w.evil_zip)
    w.text = _write(bad / "notes.mid", "this is not a MIDI file\n")
    w.cut_midi = bad / "cut.mid"
    w.cut_midi.write_bytes((EXAMPLE / "melody.mid").read_bytes()[:40])
    w.run_truncated = _copy_run(w.run, bad / "run_truncated", w.ckpt.read_bytes()[:3000])
    w.run_random = _copy_run(w.run, bad / "run_random", w.random)
    w.run_evil = _copy_run(w.run, bad / "run_evil", w.evil_zip)
    w.run_foreign = _copy_run(w.run, bad / "run_foreign", w.lm_ckpt)  # another model's weights
    w.run_bad_yaml = _copy_run(w.run, bad / "run_bad_yaml", w.ckpt)
    (w.run_bad_yaml / "task.yaml").write_text("train: {lr: 1e-3\n")
    w.cut_cache = bad / "cut_cache"
    shutil.copytree(w.corpus, w.cut_cache)
    (w.cut_cache / "corpus.npz").write_bytes((w.corpus / "corpus.npz").read_bytes()[:500])
    w.cut_tokens = bad / "cut_tokens"
    shutil.copytree(w.corpus, w.cut_tokens)
    (w.cut_tokens / "tokens.npz").write_bytes((w.corpus / "tokens.npz").read_bytes()[:500])
    w.bad_manifest = bad / "bad_manifest"
    shutil.copytree(w.corpus, w.bad_manifest)
    (w.bad_manifest / "manifest.json").write_text("{not json")
    w.weights_cut = bad / "weights_cut"
    shutil.copytree(SHIPPED, w.weights_cut)
    (w.weights_cut / "model.safetensors").write_bytes(b"\x10\x00" + bytes(300))
    w.short_chords = _write(bad / "short_chords.txt",
                            "".join((EXAMPLE / "chords.txt").read_text().splitlines(True)[:3]))
    w.bad_chords = _write(bad / "bad_chords.txt", "C:maj [0, 4, 7 0 4\n")
    w.empty = _write(bad / "empty.txt", "")
    w.foreign_folder = bad / "foreign"
    _write(w.foreign_folder / "thesis.tex", "keep me\n")
    w.user = make_user_files(root, w.run)  # the user's own songs, chords, picture and run
    return w


def _snapshot(*folders: Path) -> dict[str, str]:
    """SHA-256 of every file under the folders, by path."""
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _task(tmp: Path, w, train=None, model=None, run=None, **top) -> str:
    """The tiny task config with some entries changed (``train``/``model``/``run`` merged)."""
    data = {**TASK, **top,
            "train": {**TASK["train"], **(train or {})},
            "model": {**TASK["model"], **(model or {})},
            "run": {**TASK["run"], "cache_dir": str(w.cache), **(run or {})}}
    return str(_write(tmp / "task.yaml", data))


def _lm(tmp: Path, w, section: str, **entries) -> str:
    data = {**LM, "data": {**LM["data"], "corpus": str(w.corpus)}}
    data[section] = {**data.get(section, {}), **entries}
    return str(_write(tmp / "lm.yaml", data))


def _grid(tmp: Path, text: str) -> str:
    return str(_write(tmp / "exp.yaml", text))


@dataclass
class Case:
    """One bad input: ``argv(world, tmp)``, the text its error must hold, and what it is.

    kind ``error``: exit 2, one line ``stripes: error: ...`` holding ``expect``. kind ``ok``:
    documented behaviour, exit 0, stderr lines only the documented ``warning:`` lines, one of
    them holding ``expect`` (when given). ``fresh``: a path (relative to tmp) that must not exist
    afterwards (validation before creation).
    """

    name: str
    argv: object
    expect: str
    kind: str = "error"
    fresh: str | None = None
    env: dict | None = None


def T(name, expect, train=None, model=None, run=None, fresh="new", extra=(), **top):
    """A ``stripes train`` case with a changed tiny config, into a fresh run folder."""
    return Case(f"train: {name}", lambda w, t: ["train", _task(t, w, train, model, run, **top),
                                                "--out", str(t / "new"), *extra], expect,
                fresh=fresh)


def G(name, flags, expect, kind="error"):
    """A ``stripes generate`` case on the tiny language model."""
    return Case(f"generate: {name}", lambda w, t: ["generate", "--checkpoint", str(w.lm_ckpt),
                                                   "--out", str(t / "g.mid"), *flags], expect,
                kind=kind)


def H(name, argv, expect, kind="error"):
    """A ``stripes harmonize`` case (``argv(w, t)`` after the command)."""
    return Case(f"harmonize: {name}", lambda w, t: ["harmonize", *argv(w, t)], expect, kind=kind)


MEL, CH = str(EXAMPLE / "melody.mid"), str(EXAMPLE / "chords.txt")

CASES = [
    # --- train: types, syntax, keys ------------------------------------------------------------
    T("epochs as a word", "train.epochs: expected an integer, got 'six'", train={"epochs": "six"}),
    T("lr as a word", "train.lr: expected a number, got 'fast'", train={"lr": "fast"}),
    T("unknown key", "unknown key contxt (did you mean 'context'?)", contxt="bin"),
    T("unknown nested key", "unknown key model.n_head", model={"n_head": 2}),
    T("unknown context", "unknown context 'nowhere'", context="nowhere"),
    T("unknown PE", "unknown positional encoding 'rope_pol'", model={"pe": {"kind": "rope_pol"}}),
    T("unknown attention key", "unknown key model.attention.kindd (did you mean 'kind'?)",
      model={"attention": {"kindd": "softmax"}}),
    T("unknown input feature", "input_features", input_features=["tempo"]),
    T("unknown criterion", "binarization_criterion must be one of", binarization_criterion="x"),
    T("unknown eval tracks", "eval_tracks must be 'all' or 'accompaniment'", eval_tracks="some"),
    T("unknown data set", "data must be one of", data="maestro"),
    Case("train: YAML syntax error", lambda w, t: ["train", str(_write(
        t / "task.yaml", "train: {lr: 1e-3\n")), "--out", str(t / "new")], "YAML syntax error",
         fresh="new"),
    Case("train: not a mapping", lambda w, t: ["train", str(_write(t / "task.yaml", "- 1\n")),
                                               "--out", str(t / "new")], "expected a mapping",
         fresh="new"),
    # --- train: sizes and counts ---------------------------------------------------------------
    T("batch_size -4", "train.batch_size: must be >= 1, got -4", train={"batch_size": -4}),
    T("batch_size 0", "train.batch_size: must be >= 1, got 0", train={"batch_size": 0}),
    T("max_train_windows 0", "max_train_windows: must be >= 1, got 0", max_train_windows=0),
    T("max_eval_windows -1", "max_eval_windows: must be >= 1", max_eval_windows=-1),
    T("train_bars 0", "train_bars: must be >= 1, got 0", train_bars=0),
    T("train_bars -8", "train_bars: must be >= 1, got -8", train_bars=-8),
    T("train_bars longer than every piece", "no train window of train_bars=100000 bars",
      train_bars=100000),
    T("test_bars 0", "test_bars[0]: must be >= 1 or null", test_bars=[0]),
    T("epochs 0", "train.epochs: must be >= 1, got 0", train={"epochs": 0}),
    T("epochs -1", "train.epochs: must be >= 1, got -1", train={"epochs": -1}),
    T("max_steps 0", "run.max_steps: must be >= 1", run={"max_steps": 0}),
    T("lr 1e6", "train.lr: must be in (0, 1], got 1e+06", train={"lr": 1e6}),
    T("lr 0", "train.lr: must be in (0, 1]", train={"lr": 0}),
    T("lr negative", "train.lr: must be", train={"lr": -1e-3}),
    T("lr NaN", "train.lr: must be a finite number", train={"lr": float("nan")}),
    T("warmup negative", "train.warmup_steps: must be >= 0", train={"warmup_steps": -5}),
    T("grad_clip negative", "train.grad_clip: must be >= 0", train={"grad_clip": -1}),
    T("weight_decay negative", "train.weight_decay: must be >= 0", train={"weight_decay": -0.1}),
    T("num_workers negative", "run.num_workers: must be >= 0", run={"num_workers": -2}),
    T("unknown optimizer", "train.optimizer: must be one of ['adam', 'adamw']",
      train={"optimizer": "sgd"}),
    T("unknown precision", "train.precision: must be one of", train={"precision": "fp8"}),
    T("transpose reversed", "transpose: expected [low, high]", transpose=[6, -6]),
    T("threshold above 1", "thresholds: expected probabilities in (0, 1)", thresholds=[1.5]),
    T("negative merge gap", "merge_gaps: expected steps >= 0", merge_gaps=[-1]),
    T("d_model not divisible", "d_model=31 is not divisible by n_heads=2", model={"d_model": 31}),
    T("pop909 not prepared", "run `stripes data prepare pop909 --out", data="pop909",
      run={"data_root": "/nonexistent/pop"}),
    # --- train: devices ------------------------------------------------------------------------
    T("device gpu0 in the config", "run.device: 'gpu0' is not a device; use cpu, cuda, cuda:N or "
      "auto", run={"device": "gpu0"}),
    T("--device gpu0", "'gpu0' is not a device", extra=("--device", "gpu0")),
    T("--device cuda:7", "'cuda:7' is not available here", extra=("--device", "cuda:7")),
    # --- train: files and run folders ----------------------------------------------------------
    Case("train: missing config", lambda w, t: ["train", str(t / "nope.yaml"), "--out",
                                                str(t / "new")], "no such file or directory",
         fresh="new"),
    Case("train: config is a folder", lambda w, t: ["train", str(t), "--out", str(t / "new")],
         "is a directory", fresh="new"),
    Case("train: --out is a file", lambda w, t: ["train", str(w.task), "--out", str(w.text)],
         "not a directory"),
    Case("train: into an existing run", lambda w, t: ["train", str(w.task), "--out", str(w.run)],
         "the run folder exists and is not empty; pass --resume"),
    Case("train: failing config into an existing run", lambda w, t: [
        "train", _task(t, w, train={"epochs": "six"}), "--out", str(w.run)], "train.epochs"),
    Case("train: a bad config that passes types, into an existing run", lambda w, t: [
        "train", _task(t, w, train_bars=100000), "--out", str(w.run)], "not empty"),
    Case("train: --resume of an empty folder", lambda w, t: [
        "train", str(w.task), "--out", str(t / "empty_run"), "--resume"], "nothing to resume"),
    Case("train: --resume with another config", lambda w, t: [
        "train", _task(t, w, train={"lr": 5e-4}), "--out", str(w.run), "--resume"],
         "differs from the run's task.yaml in train"),
    Case("train: --resume of a truncated checkpoint", lambda w, t: [
        "train", str(w.task), "--out", str(w.run_truncated), "--resume"],
         "not a usable checkpoint"),
    Case("train: --overwrite of a folder that is not a run", lambda w, t: [
        "train", str(w.task), "--out", str(w.foreign_folder), "--overwrite"],
         "not a run folder (holds thesis.tex)"),
    Case("train: --resume with --overwrite", lambda w, t: [
        "train", str(w.task), "--out", str(w.run), "--resume", "--overwrite"],
         "not allowed with argument"),
    Case("train: --set without a value", lambda w, t: [
        "train", str(w.task), "--out", str(t / "new"), "--set", "train.lr"],
         "is not of the form section.key=value", fresh="new"),
    Case("train: --set to a wrong type", lambda w, t: [
        "train", str(w.task), "--out", str(t / "new"), "--set", "train.batch_size=-4"],
         "train.batch_size: must be >= 1", fresh="new"),
    Case("train: no --out", lambda w, t: ["train", str(w.task)],
         "the following arguments are required: --out"),
    # --- evaluate, curves, export --------------------------------------------------------------
    Case("evaluate: missing run", lambda w, t: ["evaluate", str(t / "nope")],
         "no such file or directory"),
    Case("evaluate: a file as run", lambda w, t: ["evaluate", str(w.random)], "not a directory"),
    Case("evaluate: empty folder", lambda w, t: ["evaluate", str(t)], "task.yaml: no such file"),
    Case("evaluate: truncated checkpoint", lambda w, t: ["evaluate", str(w.run_truncated)],
         "not a usable checkpoint"),
    Case("evaluate: random bytes as checkpoint", lambda w, t: ["evaluate", str(w.run_random)],
         "not a usable checkpoint"),
    Case("evaluate: malicious pickle", lambda w, t: ["evaluate", str(w.run_evil)],
         "refused by weights_only"),
    Case("evaluate: another model's weights", lambda w, t: ["evaluate", str(w.run_foreign)],
         "the weights do not fit the model of its config"),
    Case("evaluate: task.yaml syntax error", lambda w, t: ["evaluate", str(w.run_bad_yaml)],
         "YAML syntax error"),
    Case("curves: missing run", lambda w, t: ["curves", str(t / "nope"), "--out", str(t / "c")],
         "not a run folder (no task.yaml)", fresh="c"),
    Case("curves: run without kept steps", lambda w, t: ["curves", str(w.run), "--out",
                                                         str(t / "c")],
         "no checkpoints/step_*.pt (train with keep_every > 0)", fresh="c"),
    Case("curves: no --out", lambda w, t: ["curves", str(w.run)], "required: --out"),
    Case("export: run not evaluated", lambda w, t: ["export", str(w.run), "--out", str(t / "x")],
         "run `stripes evaluate", fresh="x"),
    Case("export: missing run", lambda w, t: ["export", str(t / "nope"), "--out", str(t / "x")],
         "not a run folder (no task.yaml)", fresh="x"),
    # --- harmonize -----------------------------------------------------------------------------
    H("missing melody", lambda w, t: [str(t / "nope.mid"), "--chords", CH, "--checkpoint",
                                      "chorales", "--out", str(t / "h.mid")], "no MIDI file"),
    H("non-MIDI melody", lambda w, t: [str(w.text), "--chords", CH, "--checkpoint", "chorales",
                                       "--out", str(t / "h.mid")], "unreadable MIDI"),
    H("truncated melody", lambda w, t: [str(w.cut_midi), "--chords", CH, "--checkpoint",
                                        "chorales", "--out", str(t / "h.mid")],
      "unreadable MIDI"),
    H("--out is a folder", lambda w, t: [MEL, "--chords", CH, "--out", str(t)], "is a directory"),
    H("--out is a WAV", lambda w, t: [MEL, "--chords", CH, "--out", str(t / "h.wav")],
      "expected a file ending in .mid or .midi"),
    H("unknown checkpoint name", lambda w, t: [MEL, "--chords", CH, "--checkpoint", "pop910",
                                               "--out", str(t / "h.mid")],
      "not a weights folder, a run folder or a checkpoint inside one"),
    H("random file as checkpoint", lambda w, t: [MEL, "--chords", CH, "--checkpoint",
                                                 str(w.random), "--out", str(t / "h.mid")],
      "not a weights folder"),
    H("truncated checkpoint in a run", lambda w, t: [
        MEL, "--chords", CH, "--checkpoint", str(w.run_truncated / "checkpoints" / "last.pt"),
        "--out", str(t / "h.mid")], "not a usable checkpoint"),
    H("malicious pickle in a run", lambda w, t: [MEL, "--chords", CH, "--checkpoint",
                                                 str(w.run_evil), "--out", str(t / "h.mid")],
      "refused by weights_only"),
    H("another model's weights", lambda w, t: [MEL, "--chords", CH, "--checkpoint",
                                               str(w.run_foreign), "--out", str(t / "h.mid")],
      "the weights do not fit"),
    H("damaged safetensors", lambda w, t: [MEL, "--chords", CH, "--checkpoint",
                                           str(w.weights_cut), "--out", str(t / "h.mid")],
      "model.safetensors: not readable"),
    H("missing chords file", lambda w, t: [MEL, "--chords", str(t / "nope.txt"), "--checkpoint",
                                           "chorales", "--out", str(t / "h.mid")],
      "no such file or directory"),
    H("malformed chord line", lambda w, t: [MEL, "--chords", str(w.bad_chords), "--checkpoint",
                                            "chorales", "--out", str(t / "h.mid")],
      "bad_chords.txt"),
    H("empty chords file", lambda w, t: [MEL, "--chords", str(w.empty), "--checkpoint",
                                         "chorales", "--out", str(t / "h.mid")],
      "no chord lines"),
    H("unknown key", lambda w, t: [MEL, "--chords", CH, "--checkpoint", "chorales", "--key",
                                   "H:maj", "--out", str(t / "h.mid")],
      "--key: not a key label (expected like 'Gb:maj'): 'H:maj'"),
    H("unknown melody track", lambda w, t: [MEL, "--chords", CH, "--checkpoint", "chorales",
                                            "--melody-track", "NOPE", "--out", str(t / "h.mid")],
      "no track named 'NOPE'"),
    H("unknown chord track", lambda w, t: [MEL, "--chord-track", "NOPE", "--checkpoint",
                                           "chorales", "--out", str(t / "h.mid")],
      "no track named 'NOPE'"),
    H("no chords at all", lambda w, t: [MEL, "--out", str(t / "h.mid")],
      "one of the arguments --chords --chord-track is required"),
    H("chords shorter than the melody (documented warning)", lambda w, t: [
        MEL, "--chords", str(w.short_chords), "--checkpoint", "chorales", "--out",
        str(t / "h.mid")], "warning: chords end at bar", kind="ok"),
    # --- experiment run ------------------------------------------------------------------------
    Case("experiment: no name", lambda w, t: ["experiment", "run", _grid(
        t, "grid: {pe: [none]}\n"), "--out", str(t / "r")], "missing required key name",
         fresh="r"),
    Case("experiment: unknown grid key", lambda w, t: ["experiment", "run", _grid(
        t, "name: x\ngrid: {pee: [none]}\n"), "--out", str(t / "r")],
         "unknown key grid.pee (did you mean 'pe'?)", fresh="r"),
    Case("experiment: negative batch size", lambda w, t: ["experiment", "run", _grid(
        t, "name: x\nbase: {train: {batch_size: -4}}\ngrid: {pe: [none]}\n"), "--out",
        str(t / "r")], "base.train.batch_size: must be >= 1", fresh="r"),
    Case("experiment: zero train bars", lambda w, t: ["experiment", "run", _grid(
        t, "name: x\nbase: {train_bars: 0}\ngrid: {pe: [none]}\n"), "--out", str(t / "r")],
         "train_bars: must be >= 1", fresh="r"),
    Case("experiment: unknown PE", lambda w, t: ["experiment", "run", _grid(
        t, "name: x\ngrid: {pe: [fstripes]}\n"), "--out", str(t / "r")],
         "unknown positional encoding 'fstripes'", fresh="r"),
    Case("experiment: --device gpu0", lambda w, t: ["experiment", "run", _grid(
        t, "name: x\ngrid: {pe: [none]}\n"), "--out", str(t / "r"), "--device", "gpu0"],
         "'gpu0' is not a device", fresh="r"),
    Case("experiment: missing file", lambda w, t: ["experiment", "run", str(t / "nope.yaml")],
         "no such file or directory"),
    Case("experiment: YAML syntax", lambda w, t: ["experiment", "run", _grid(t, "name: [x\n"),
                                                  "--out", str(t / "r")], "YAML syntax error",
         fresh="r"),
    # --- lm train ------------------------------------------------------------------------------
    Case("lm train: unknown model key", lambda w, t: [
        "lm", "train", _lm(t, w, "model", dropuot=0.1), "--out", str(t / "new")],
         "unknown key model.dropuot (did you mean 'dropout'?)", fresh="new"),
    Case("lm train: fractional epochs", lambda w, t: [
        "lm", "train", _lm(t, w, "train", epochs=1.5), "--out", str(t / "new")],
         "train.epochs: expected an integer, got 1.5", fresh="new"),
    Case("lm train: train_length 1", lambda w, t: [
        "lm", "train", _lm(t, w, "data", train_length=1), "--out", str(t / "new")],
         "data.train_length: must be >= 2", fresh="new"),
    Case("lm train: crops_per_piece 0", lambda w, t: [
        "lm", "train", _lm(t, w, "data", crops_per_piece=0), "--out", str(t / "new")],
         "data.crops_per_piece: must be >= 1", fresh="new"),
    Case("lm train: eval top_p 1.5", lambda w, t: [
        "lm", "train", _lm(t, w, "eval", top_p=1.5), "--out", str(t / "new")],
         "eval.top_p: must be in (0, 1]", fresh="new"),
    Case("lm train: batch_size -4", lambda w, t: [
        "lm", "train", _lm(t, w, "train", batch_size=-4), "--out", str(t / "new")],
         "train.batch_size: must be >= 1", fresh="new"),
    Case("lm train: lr 1e6", lambda w, t: [
        "lm", "train", _lm(t, w, "train", lr=1e6), "--out", str(t / "new")],
         "train.lr: must be in (0, 1]", fresh="new"),
    Case("lm train: device gpu0", lambda w, t: [
        "lm", "train", _lm(t, w, "run", device="gpu0"), "--out", str(t / "new")],
         "'gpu0' is not a device", fresh="new"),
    Case("lm train: missing corpus", lambda w, t: [
        "lm", "train", _lm(t, w, "data", corpus=str(t / "nowhere")), "--out", str(t / "new")],
         "no tokens.npz", fresh="new"),
    Case("lm train: truncated tokens", lambda w, t: [
        "lm", "train", _lm(t, w, "data", corpus=str(w.cut_tokens)), "--out", str(t / "new")],
         "damaged cache (tokens.npz has", fresh="new"),
    Case("lm train: into an existing run", lambda w, t: [
        "lm", "train", str(w.lm_yaml), "--out", str(w.lm)], "not empty; pass --resume"),
    Case("lm train: --resume without a checkpoint", lambda w, t: [
        "lm", "train", str(w.lm_yaml), "--out", str(t / "empty_run"), "--resume"],
         "nothing to resume"),
    Case("lm train: override syntax", lambda w, t: [
        "lm", "train", str(w.lm_yaml), "--set", "train.lr"], "is not of the form"),
    # --- lm evaluate, lm compare ---------------------------------------------------------------
    Case("lm evaluate: missing checkpoint", lambda w, t: [
        "lm", "evaluate", "--checkpoint", str(t / "nope.pt")], "no such file or directory"),
    Case("lm evaluate: random bytes", lambda w, t: [
        "lm", "evaluate", "--checkpoint", str(w.random)], "not a usable checkpoint"),
    Case("lm evaluate: malicious pickle", lambda w, t: [
        "lm", "evaluate", "--checkpoint", str(w.evil)], "refused by weights_only"),
    Case("lm evaluate: malicious object in torch's format", lambda w, t: [
        "lm", "evaluate", "--checkpoint", str(w.evil_zip)], "refused by weights_only"),
    Case("lm evaluate: a harmonizer checkpoint", lambda w, t: [
        "lm", "evaluate", "--checkpoint", str(w.ckpt), "--out", str(t / "e")],
         "not a language-model checkpoint of `stripes lm train`",
         fresh="e"),
    Case("lm evaluate: --device gpu0", lambda w, t: [
        "lm", "evaluate", "--checkpoint", str(w.lm_ckpt), "--device", "gpu0"],
         "'gpu0' is not a device"),
    Case("lm evaluate: a folder without checkpoints", lambda w, t: [
        "lm", "evaluate", "--checkpoint", str(t)], "not a run folder"),
    Case("lm compare: missing config", lambda w, t: [
        "lm", "compare", str(t / "nope.yaml"), "--out", str(t / "r")],
         "no such file or directory", fresh="r"),
    Case("lm compare: bad key", lambda w, t: [
        "lm", "compare", _lm(t, w, "data", corpuss="x"), "--out", str(t / "r")],
         "unknown key data.corpuss", fresh="r"),
    Case("lm compare: --device gpu0", lambda w, t: [
        "lm", "compare", str(w.lm_yaml), "--out", str(t / "r"), "--device", "gpu0"],
         "'gpu0' is not a device", fresh="r"),
    # --- generate ------------------------------------------------------------------------------
    G("--tokens 0", ["--tokens", "0"], "--tokens must be >= 1, got 0"),
    G("--tokens -5", ["--tokens", "-5"], "--tokens must be >= 1, got -5"),
    G("--tokens 1e8 as a number", ["--tokens", "100000000"], "past the bound of 65536"),
    G("--tokens 1e8 as text", ["--tokens", "1e8"], "invalid int value: '1e8'"),
    G("--top-k 0", ["--top-k", "0"], "--top-k must be >= 1, got 0"),
    G("--top-p 1.5", ["--top-p", "1.5"], "--top-p must be in (0, 1], got 1.5"),
    G("--top-p 0", ["--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
    G("--temperature -1", ["--temperature", "-1"], "--temperature must be >= 0 (0: greedy)"),
    G("--temperature nan", ["--temperature", "nan"], "--temperature must be >= 0"),
    G("--device gpu0", ["--device", "gpu0"], "'gpu0' is not a device; use cpu, cuda"),
    G("--temperature 0 is greedy (documented)", ["--tokens", "4", "--temperature", "0"], "",
      kind="ok"),
    Case("generate: --out is a folder", lambda w, t: [
        "generate", "--checkpoint", str(w.lm_ckpt), "--out", str(t)], "is a directory"),
    Case("generate: --out is not MIDI", lambda w, t: [
        "generate", "--checkpoint", str(w.lm_ckpt), "--out", str(t / "g.txt")],
         "expected a file ending in .mid"),
    Case("generate: non-MIDI prompt", lambda w, t: [
        "generate", "--checkpoint", str(w.lm_ckpt), "--prompt", str(w.text), "--out",
        str(t / "g.mid")], "unreadable MIDI"),
    Case("generate: missing prompt", lambda w, t: [
        "generate", "--checkpoint", str(w.lm_ckpt), "--prompt", str(t / "nope.mid"), "--out",
        str(t / "g.mid")], "no such file or directory"),
    Case("generate: missing checkpoint", lambda w, t: [
        "generate", "--checkpoint", str(t / "nope.pt"), "--out", str(t / "g.mid")],
         "no such file or directory"),
    Case("generate: random bytes", lambda w, t: [
        "generate", "--checkpoint", str(w.random), "--out", str(t / "g.mid")],
         "not a usable checkpoint"),
    Case("generate: truncated checkpoint", lambda w, t: [
        "generate", "--checkpoint", str(w.truncated), "--out", str(t / "g.mid")],
         "not a usable checkpoint"),
    Case("generate: malicious pickle", lambda w, t: [
        "generate", "--checkpoint", str(w.evil), "--out", str(t / "g.mid")],
         "refused by weights_only"),
    Case("generate: a harmonizer checkpoint", lambda w, t: [
        "generate", "--checkpoint", str(w.ckpt), "--out", str(t / "g.mid")],
         "not a language-model checkpoint"),
    Case("generate: a run folder (documented)", lambda w, t: [
        "generate", "--checkpoint", str(w.lm), "--tokens", "4", "--out", str(t / "g.mid")], "",
         kind="ok"),
    # --- data ----------------------------------------------------------------------------------
    Case("data prepare: --threshold nan", lambda w, t: [
        "data", "prepare", "pop909", "--threshold", "nan", "--out", str(t / "c")],
         "threshold must be an onset agreement in [0, 1], got nan", fresh="c"),
    Case("data prepare: --threshold 1.5", lambda w, t: [
        "data", "prepare", "pop909", "--threshold", "1.5", "--out", str(t / "c")],
         "got 1.5", fresh="c"),
    Case("data prepare: --threshold -0.1", lambda w, t: [
        "data", "prepare", "pop909", "--threshold", "-0.1", "--out", str(t / "c")],
         "got -0.1", fresh="c"),
    Case("data prepare: --workers 0", lambda w, t: [
        "data", "prepare", "pop909", "--workers", "0", "--out", str(t / "c")],
         "workers must be >= 1", fresh="c"),
    Case("data prepare: chorales --workers -1", lambda w, t: [
        "data", "prepare", "chorales", "--workers", "-1", "--out", str(t / "c")],
         "workers must be >= 1", fresh="c"),
    Case("data prepare: missing root", lambda w, t: [
        "data", "prepare", "pop909", "--root", str(t / "nope"), "--out", str(t / "c")],
         "lacks pop909", fresh="c"),
    Case("data prepare: empty STRIPES_DATA is unset", lambda w, t: [
        "data", "prepare", "pop909", "--out", str(t / "c")], "no POP909 root: pass --root or set "
         "STRIPES_DATA", fresh="c", env={"STRIPES_DATA": ""}),
    Case("data prepare: --out is a file", lambda w, t: [
        "data", "prepare", "chorales", "--out", str(w.text)], "not a directory"),
    Case("data prepare: unknown corpus", lambda w, t: ["data", "prepare", "maestro"],
         "invalid choice: 'maestro'"),
    Case("data info: missing corpus", lambda w, t: ["data", "info", str(t / "nope")],
         "no prepared corpus"),
    Case("data info: --bars -1", lambda w, t: ["data", "info", str(w.corpus), "--bars", "-1"],
         "bars must be >= 1, got -1"),
    Case("data info: --bars 0", lambda w, t: ["data", "info", str(w.corpus), "--bars", "0"],
         "bars must be >= 1, got 0"),
    Case("data info: truncated corpus.npz", lambda w, t: ["data", "info", str(w.cut_cache)],
         "damaged cache (corpus.npz has"),
    Case("data info: garbage manifest", lambda w, t: ["data", "info", str(w.bad_manifest)],
         "manifest.json: damaged"),
    Case("data mi: --bars -2", lambda w, t: ["data", "mi", str(w.corpus), "--bars", "-2"],
         "--bars must be >= 1 (0: whole pieces), got -2"),
    Case("data mi: unknown split", lambda w, t: ["data", "mi", str(w.corpus), "--split", "dev"],
         "invalid choice: 'dev'"),
    Case("data mi: truncated corpus.npz", lambda w, t: ["data", "mi", str(w.cut_cache)],
         "damaged cache"),
    # --- demo, bench, the command itself -------------------------------------------------------
    Case("demo: missing lead sheet", lambda w, t: [
        "demo", "--fast", "--lead-sheet", str(t / "nope"), "--out", str(t / "d")],
         "lead sheet: ", fresh="d"),
    Case("demo: --out is a file", lambda w, t: ["demo", "--fast", "--out", str(w.text)],
         "notes.mid: exists and is not a folder"),
    Case("bench: negative budget", lambda w, t: [
        "bench", "attention", "--budget", "-1", "--out", str(t / "b")], "--budget must be > 0",
         fresh="b"),
    Case("bench: zero length", lambda w, t: [
        "bench", "generation", "--length", "0", "--out", str(t / "b")], "--length must be >= 1",
         fresh="b"),
    Case("bench: unknown benchmark", lambda w, t: ["bench", "memory"], "invalid choice"),
    Case("stripes: unknown command", lambda w, t: ["trian"], "invalid choice: 'trian'"),
    Case("stripes: no command", lambda w, t: [], "the following arguments are required"),
]
CASES += user_cases(Case, _task, _lm, _grid)  # the user's music and files (bad_inputs_sacred)


def _protected(w) -> tuple[Path, ...]:
    return (w.run, w.lm, w.cache, w.root / "bad", w.task.parent / "task.yaml", w.user.folder)


def _check(case: Case, rc: int | None, err: str, crashed: str | None, before, after,
           tmp: Path, tally) -> None:
    """Classify and tally one outcome, then assert it is a clear one."""
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]
    lost = before != after or (case.fresh is not None and (tmp / case.fresh).exists())
    traced = crashed is not None or "Traceback" in err
    if case.kind == "error":
        silent = rc == 0
        clear = (rc == 2 and len(lines) == 1 and lines[0].startswith("stripes: error: ")
                 and case.expect in lines[0])
    else:
        silent = False
        clear = (rc == 0 and all(ln.startswith(("warning: ", "stripes: warning")) for ln in lines)
                 and (not case.expect or any(case.expect in ln for ln in lines)))
    tally["tried"] += 1
    tally["tracebacks"] += traced
    tally["silent"] += silent and not traced
    tally["data lost"] += lost
    tally["clear"] += clear and not (traced or lost)
    assert not traced, crashed or err
    assert not lost, "a protected folder changed, or a fresh output was created"
    assert clear, f"rc={rc}, stderr={err!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_clear_line_and_damages_nothing(case, world, tmp_path, capsys,
                                                        monkeypatch, tally):
    monkeypatch.setenv("STRIPES_CACHE", str(tmp_path / "no-cache"))
    monkeypatch.delenv("STRIPES_DATA", raising=False)
    monkeypatch.delenv("STRIPES_POP909_ROOT", raising=False)
    for key, value in (case.env or {}).items():
        monkeypatch.setenv(key, value)
    argv = [str(a) for a in case.argv(world, tmp_path)]
    capsys.readouterr()
    before = _snapshot(*_protected(world))
    crashed, rc = None, None
    try:
        rc = main(argv)
    except BaseException:  # noqa: BLE001 - a traceback is what this suite counts
        crashed = traceback.format_exc()
    err = capsys.readouterr().err
    _check(case, rc, err, crashed, before, _snapshot(*_protected(world)), tmp_path, tally)


SUBPROCESS_CASES = [c for c in CASES if c.name in (
    "train: --device gpu0", "generate: --tokens 0", "data prepare: --threshold nan",
    "generate: malicious pickle", "evaluate: malicious pickle", "train: into an existing run",
    "harmonize: --out is the input", "train: n_heads 0")]


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[c.name for c in SUBPROCESS_CASES])
def test_the_installed_command_gives_the_same_one_line(case, world, tmp_path, tally):
    env = {**{k: v for k, v in os.environ.items() if k != "STRIPES_POP909_ROOT"},
           "STRIPES_CACHE": str(tmp_path / "no-cache"),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    before = _snapshot(*_protected(world))
    proc = subprocess.run([sys.executable, "-m", "stripes.cli", *map(str, case.argv(
        world, tmp_path))], capture_output=True, text=True, timeout=120, env=env)
    _check(case, proc.returncode, proc.stderr, None, before, _snapshot(*_protected(world)),
           tmp_path, tally)


def test_a_resumed_run_continues_from_its_last_checkpoint(world, tmp_path, capsys):
    run, task = tmp_path / "run", str(world.task)
    assert main(["train", task, "--out", str(run), "--set", "run.max_steps=1"]) == 0
    assert main(["train", task, "--out", str(run), "--resume", "--set", "run.max_steps=2"]) == 0
    assert "trained: 2 steps" in capsys.readouterr().out.splitlines()[-1]
    assert (run / "log.csv").read_text().splitlines()[0] == "step,epoch,split,loss,lr"


def test_a_diverging_run_stops_with_one_line_and_saves_no_nan_checkpoint(world, tmp_path,
                                                                         capsys, monkeypatch):
    import stripes.tasks.harmonization.train as harmonization_train

    def nan_loss(model, batch):
        return harmonization_train.F.binary_cross_entropy_with_logits(
            model(harmonization_train.model_inputs(batch))[0], batch["targets"]) * float("nan")

    monkeypatch.setattr(harmonization_train, "harmonization_loss", nan_loss)
    run = tmp_path / "run"
    assert main(["train", str(world.task), "--out", str(run), "--set", "train.log_every=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stripes: error: training loss is nan at step 1")
    assert not (run / "checkpoints" / "best.pt").exists()


def test_overwrite_replaces_a_run_and_stale_temporary_files_are_removed(world, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    stale = run / "checkpoints" / ".last.pt.abc123.tmp"
    stale.write_bytes(b"x" * 100)
    assert main(["train", str(world.task), "--out", str(run), "--overwrite"]) == 0
    assert not stale.exists() and (run / "checkpoints" / "last.pt").is_file()


def test_a_damaged_cache_is_rebuilt_by_prepare_with_a_message(world, tmp_path, caplog):
    from stripes.music.datasets import load_corpus, prepare_chorales

    cache = tmp_path / "chorales"
    shutil.copytree(world.corpus, cache)
    (cache / "corpus.npz").write_bytes(b"PK\x03\x04" + b"0" * 64)
    prepare_chorales(cache, limit=24, workers=1, tokens=True)
    assert "is damaged" in caplog.text and "rebuilding it" in caplog.text
    assert len(load_corpus(cache, verify=True)) == len(load_corpus(world.corpus))


def test_training_asks_for_the_prepared_corpus_and_the_prepare_step_makes_it(world, tmp_path,
                                                                            monkeypatch):
    import stripes.tasks.harmonization.data as task_data
    from stripes.tasks.harmonization.config import HarmonizationConfig
    from stripes.training.config import RunConfig

    calls = []

    def fake_prepare(out, progress=False):  # the real one parses 371 chorales
        calls.append(progress)
        shutil.copytree(world.corpus, out)
        return out

    monkeypatch.setattr(task_data, "prepare_chorales", fake_prepare)
    config = HarmonizationConfig(data="chorales", run=RunConfig(cache_dir=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match="run `stripes data prepare chorales --out"):
        task_data.training_windows(config)  # training never prepares
    assert calls == []
    assert task_data.prepare_task_corpus(config) == tmp_path / "chorales" and calls == [True]
    assert task_data.prepare_task_corpus(config) == tmp_path / "chorales" and calls == [True]
    assert len(task_data.task_corpus(config)) == len(task_data.load_corpus(world.corpus))


def test_the_old_data_variable_still_works_with_a_note(tmp_path, monkeypatch, caplog):
    from stripes.music.pop909 import resolve_root

    monkeypatch.delenv("STRIPES_DATA", raising=False)
    monkeypatch.setenv("STRIPES_POP909_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="lacks pop909"):
        resolve_root()
    assert "STRIPES_POP909_ROOT is deprecated: set STRIPES_DATA" in caplog.text


def test_zz_the_tally_has_no_traceback_no_silent_case_and_no_data_lost(tally):
    """Runs last (file order): the counts that the terminal summary prints."""
    if not tally["tried"]:
        pytest.skip("no bad-input case ran in this session")
    assert tally["tried"] >= 100 or len(CASES) >= 100
    assert tally["tracebacks"] == tally["silent"] == tally["data lost"] == 0
    assert tally["clear"] == tally["tried"]
