"""The bad-input suite's cases about the user's own music and files (issue "the user's music and
files are sacred"): outputs that would replace an input or an existing file, melodies that are
drums, chords or silence, checkpoints named by file, model sizes, experiment names.

``make_user_files`` writes the user's folder (made with symusic here, not the shipped example);
``test_bad_inputs.py`` protects it byte for byte like the other folders and runs ``USER_CASES``.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import symusic

Q = 384  # the user's sequencer grid (ticks per quarter)


def _score(tempos=((0, 132.0),)) -> symusic.Score:
    score = symusic.Score(Q)
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    for time, qpm in tempos:
        score.tempos.append(symusic.Tempo(time, qpm))
    return score


def _track(name: str, notes, drum: bool = False) -> symusic.Track:
    track = symusic.Track(name=name, program=0, is_drum=drum)
    for t, d, p, v in notes:
        track.notes.append(symusic.Note(t, d, p, v))
    return track


def make_user_files(root: Path, run: Path) -> SimpleNamespace:
    """The user's folder: songs, chords, a prompt, a PNG of their own, a run with a bad best.pt."""
    u = SimpleNamespace(folder=root / "user")
    u.folder.mkdir()
    riff = [(k * Q // 2, Q // 2 - 10, [60, 60, 62, 60, 65, 64][k % 6], 50 + k) for k in range(24)]
    beat = [(k * Q, Q // 8, 38 if k % 2 else 36, 100) for k in range(12)]
    song = _score(((0, 132.0), (8 * Q, 66.0)))
    song.tracks.append(_track("Riff", riff))
    song.tracks.append(_track("Beat", beat, drum=True))
    u.song = u.folder / "riff.mid"
    song.dump_midi(str(u.song))
    drums_only = _score()
    drums_only.tracks.append(_track("Beat", beat, drum=True))
    u.drums = u.folder / "drums.mid"
    drums_only.dump_midi(str(u.drums))
    clicks = _score()
    clicks.tracks.append(_track("Clicks", [(k * Q, 0, 72, 90) for k in range(6)]))
    u.clicks = u.folder / "clicks.mid"
    clicks.dump_midi(str(u.clicks))
    chords = _score()
    chords.tracks.append(_track("Pad", [(0, 8 * Q, p, 70) for p in (60, 64, 67, 72)]))
    u.pad = u.folder / "pad.mid"
    chords.dump_midi(str(u.pad))
    u.chords = u.folder / "changes.txt"
    u.chords.write_text("F:maj [5, 9, 0] 5 8\nC:maj [0, 4, 7] 0 8\n")
    u.picture = u.folder / "riff_arranged.png"
    u.picture.write_bytes(b"\x89PNG the user's own drawing")
    u.run = u.folder / "run"
    shutil.copytree(run, u.run)
    (u.run / "checkpoints" / "best.pt").write_bytes(random.Random(7).randbytes(3000))
    return u


def _h(w, t, *argv: object) -> list:
    """``stripes harmonize`` with the shipped chorale harmonizer (no corpus needed)."""
    return ["harmonize", *argv, "--checkpoint", "chorales"]


def user_cases(Case, _task, _lm, _grid) -> list:
    """The cases, built with the suite's ``Case`` and config writers."""
    def T(name, expect, model=None, extra=()):
        return Case(f"train: {name}", lambda w, t: ["train", _task(t, w, model=model),
                                                    "--out", str(t / "new"), *extra], expect,
                    fresh="new")

    def plain(name, text):
        return Case(f"experiment: name {name}", lambda w, t: [
            "experiment", "run", _grid(t, f"name: {text}\ngrid: {{pe: [none]}}\n"), "--out",
            str(t / "r")], "must be a plain name", fresh="r")

    return [
        # outputs: never an input, never an existing file without --overwrite
        Case("harmonize: --out is the input", lambda w, t: _h(
            w, t, w.user.song, "--chords", w.user.chords, "--out", w.user.song),
             "also an input"),
        Case("harmonize: --out is the input by another path", lambda w, t: _h(
            w, t, w.user.song, "--chords", w.user.chords, "--out",
            w.user.folder / "run" / ".." / "riff.mid"), "also an input"),
        Case("harmonize: a PNG of the user's beside --out", lambda w, t: _h(
            w, t, w.user.song, "--chords", w.user.chords, "--out",
            w.user.folder / "riff_arranged.midi"), "riff_arranged.png exists: pass --overwrite"),
        Case("generate: --out is the prompt", lambda w, t: [
            "generate", "--checkpoint", w.lm_ckpt, "--prompt", w.user.pad, "--tokens", "4",
            "--out", w.user.pad], "also an input"),
        Case("generate: --out exists", lambda w, t: [
            "generate", "--checkpoint", w.lm_ckpt, "--tokens", "4", "--out", w.user.clicks],
             "clicks.mid exists: pass --overwrite"),
        # melodies: drums, silence, chords
        Case("harmonize: only a drum track", lambda w, t: _h(
            w, t, w.user.drums, "--chords", w.user.chords, "--out", t / "a.mid"),
             "drum tracks skipped: ['Beat']", fresh="a.mid"),
        Case("harmonize: --melody-track names the drums", lambda w, t: _h(
            w, t, w.user.song, "--chords", w.user.chords, "--melody-track", "beat", "--out",
            t / "a.mid"), "'Beat' is a drum track", fresh="a.mid"),
        Case("harmonize: every melody note of zero length", lambda w, t: _h(
            w, t, w.user.clicks, "--chords", w.user.chords, "--out", t / "a.mid"),
             "all 6 notes have zero length", fresh="a.mid"),
        Case("harmonize: a chord part as the melody (documented)", lambda w, t: _h(
            w, t, w.user.pad, "--chords", w.user.chords, "--out", t / "a.mid"),
             "'Pad' is polyphonic", kind="ok"),
        Case("harmonize: drums beside the melody (documented)", lambda w, t: _h(
            w, t, w.user.song, "--chords", w.user.chords, "--out", t / "a.mid"),
             "'Beat' is a drum track", kind="ok"),
        # checkpoints: the named file or a reason
        Case("harmonize: --checkpoint a random best.pt", lambda w, t: [
            "harmonize", w.user.song, "--chords", w.user.chords, "--checkpoint",
            w.user.run / "checkpoints" / "best.pt", "--out", t / "a.mid"], "best.pt",
             fresh="a.mid"),
        Case("harmonize: --checkpoint a missing file", lambda w, t: [
            "harmonize", w.user.song, "--chords", w.user.chords, "--checkpoint",
            w.user.run / "checkpoints" / "epoch_9.pt", "--out", t / "a.mid"],
             "epoch_9.pt: no such file", fresh="a.mid"),
        # model sizes, before any folder is touched
        T("n_heads 0", "n_heads: must be >= 1, got 0", model={"n_heads": 0}),
        T("n_heads -2", "n_heads: must be >= 1, got -2", model={"n_heads": -2}),
        T("n_layers 0", "n_layers: must be >= 1, got 0", model={"n_layers": 0}),
        T("n_layers -3", "n_layers: must be >= 1, got -3", model={"n_layers": -3}),
        T("d_model -16", "d_model: must be >= 1, got -16", model={"d_model": -16}),
        T("d_ff 0", "d_ff: must be >= 1, got 0", model={"d_ff": 0}),
        T("dropout 1.5", "dropout: must be in [0, 1), got 1.5", model={"dropout": 1.5}),
        T("max_len 0", "max_len: must be >= 1, got 0", model={"max_len": 0}),
        T("rope with an odd head size", "even head_dim",
          model={"d_model": 18, "pe": {"kind": "rope"}}),
        T("sine_spe with -3 realizations", "pe.params.n_realizations: must be >= 1, got -3",
          model={"pe": {"kind": "sine_spe", "params": {"n_realizations": -3}}}),
        T("conv_spe with kernel size 0", "pe.params.kernel_size: must be >= 1, got 0",
          model={"pe": {"kind": "conv_spe", "params": {"kernel_size": 0}}}),
        T("--set model.n_heads=0", "n_heads: must be >= 1, got 0",
          extra=("--set", "model.n_heads=0")),
        T("--set model.n_layers=-1", "n_layers: must be >= 1, got -1",
          extra=("--set", "model.n_layers=-1")),
        Case("lm train: n_heads 0", lambda w, t: [
            "lm", "train", _lm(t, w, "model", n_heads=0), "--out", t / "new"],
             "n_heads: must be >= 1, got 0", fresh="new"),
        # names that would lead out of --out
        plain("'../x'", "'../x'"),
        plain("absolute", "/tmp/elsewhere"),
        plain("with a slash", "a/b"),
        Case("lm train: name '..'", lambda w, t: [
            "lm", "train", _lm_named(_lm, t, w, ".."), "--out", t / "new"],
             "must be a plain name", fresh="new"),
    ]


def _lm_named(_lm, t: Path, w, name: str) -> str:
    """The tiny LM config with its top-level ``name`` changed."""
    import yaml

    path = Path(_lm(t, w, "data"))
    data = yaml.safe_load(path.read_text())
    data["name"] = name
    path.write_text(yaml.safe_dump(data))
    return str(path)
