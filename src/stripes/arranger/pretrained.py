"""Shipped harmonizer weights: safetensors (no pickle) with everything needed to use them.

A weights folder holds ``model.safetensors`` (the model's tensors and the chord vocabulary's
table, so no corpus is needed to arrange a song), ``config.json`` (the resolved task and model
configs, the binarization chosen on validation, the test scores with floors, the data split by
song name, training steps and the commit that trained it) and ``log.csv`` (the training log).

``export_weights(run_dir, out_dir)`` writes one from a trained and evaluated run (``stripes
export``); ``load_pretrained("pop909")`` (or a folder) loads it back in one call. Folders that
ship with the package: :data:`PRETRAINED`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import torch

from stripes.config import load_config, migration_note
from stripes.extras import needs
from stripes.files import OutputSet, check_outputs
from stripes.models import StripesTransformer
from stripes.music.chords import ChordVocabulary
from stripes.tasks.harmonization.config import HarmonizationConfig
from stripes.tasks.harmonization.data import task_corpus
from stripes.tasks.harmonization.train import load_harmonizer
from stripes.training.config import RunConfig

WEIGHTS_ROOT = Path(__file__).resolve().parents[1] / "weights"
PRETRAINED = {"pop909": WEIGHTS_ROOT / "pop909", "chorales": WEIGHTS_ROOT / "chorales"}
VOCAB_KEY = "_chord_table"


def _commit() -> str:
    """The checkout's commit, ``+dirty`` when tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD") or "unknown"
        return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _scores(evaluation: dict) -> dict:
    """Test means, reference and paper flavours, model beside floors and rule, sanity, and the
    rhythm figures of model, original and rule."""
    out = {}
    for bars, res in evaluation["test"].items():
        out[bars] = {"n": res["n"], "sanity_pass_share": res["sanity"]["model"]["pass_share"],
                     "rhythm": {who: {k: round(v["mean"], 4) for k, v in figures.items()}
                                for who, figures in res["rhythm"].items() if who != "comparison"},
                     "rhythm_failed": res["rhythm"]["comparison"]["failed"]}
        for flavour, block in res["flavours"].items():
            rows = {"model": block["model"], **block["floors"]}
            out[bars][flavour] = {name: {group: {m: round(v["mean"], 4) for m, v in
                                                 summary[group].items()}
                                         for group in ("all", "accompaniment")}
                                  for name, summary in rows.items()}
    return out


def check_windows(model, config, corpus, binarization: dict, n: int = 4) -> list[dict]:
    """The first ``n`` test windows (song name, start, length) and the model's reference scores
    on them: a committed record that a test recomputes from the shipped weights."""
    from stripes.evaluation.harmonization.binarization import decode_window
    from stripes.evaluation.harmonization.scoring import evaluate_window
    from stripes.tasks.harmonization.data import build_dataset, task_layout
    from stripes.tasks.harmonization.predict import collect_windows

    bars = config.test_bars[0]
    test = build_dataset(corpus, config, "test", bars, cap=config.max_eval_windows)
    test.index = test.index[:n]
    layout = task_layout(corpus)
    rows = []
    for (song, start, length), w in zip(test.index, collect_windows(model, test), strict=True):
        pred = decode_window(w, binarization).frames
        score = evaluate_window(pred, w["targets"], layout=layout, per_track=False)
        rows.append({"song": str(corpus.arrays["names"][song]), "start": int(start),
                     "length": int(length), "all": score["all"],
                     "accompaniment": score["accompaniment"]})
    return rows


def export_weights(run_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write a weights folder from an evaluated run (``evaluation.json`` must exist): its three
    files all or none, never into the run folder, replacing existing ones only with
    ``overwrite``."""
    with needs("music"):
        from safetensors.torch import save_file

    run, out = Path(run_dir), Path(out_dir)
    if not (run / "task.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run folder (no task.yaml)")
    evaluation_path = run / "evaluation.json"
    if not evaluation_path.exists():
        raise FileNotFoundError(f"{evaluation_path}: run `stripes evaluate {run}` first")
    if out.exists() and out.resolve() == run.resolve():
        raise ValueError(f"{out}: the weights folder cannot be the run folder it is exported from")
    check_outputs([out / n for n in ("model.safetensors", "config.json", "log.csv")], [],
                  overwrite)
    model, config = load_harmonizer(run)
    corpus = task_corpus(config)
    evaluation = json.loads(evaluation_path.read_text())
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    tensors[VOCAB_KEY] = torch.from_numpy(corpus.vocab.table.astype("int64"))
    names = corpus.arrays["names"]
    split = {s: [str(names[i]) for i in corpus.songs_in(s)] for s in ("train", "val", "test")}
    steps = 0
    log = run / "log.csv"
    if log.exists():
        rows = log.read_text().strip().splitlines()[1:]
        steps = int(rows[-1].split(",")[0]) if rows else 0
    meta = {"task": config.recipe(), "model": model.config.to_dict(), "check": check_windows(
                model, config, corpus, evaluation["binarization"]),
            "binarization": {k: v for k, v in evaluation["binarization"].items()
                             if k != "grid"},
            "scores": _scores(evaluation), "split": split, "steps": steps,
            "parameters": model.num_parameters(), "commit": _commit(), "run": str(run)}
    with OutputSet() as files:
        save_file(tensors, str(files.stage(out / "model.safetensors")))
        files.stage(out / "config.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
        if log.exists():
            shutil.copyfile(log, files.stage(out / "log.csv"))
    return out


def resolve_weights(name_or_path: str | Path) -> Path:
    """A shipped name (``pop909``, ``chorales``) or a weights folder -> the folder."""
    path = PRETRAINED.get(str(name_or_path), Path(name_or_path))
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path}: no model.safetensors (shipped: {sorted(PRETRAINED)})")
    return path


def load_pretrained(name_or_path: str | Path = "pop909",
                    device: str | torch.device = "cpu") -> tuple[StripesTransformer,
                                                                HarmonizationConfig, dict]:
    """``(model in eval mode, task config, metadata)`` of a weights folder; the metadata holds
    ``binarization``, ``scores``, ``split`` and the ``vocab`` (a ``ChordVocabulary``)."""
    with needs("music"):
        from safetensors.torch import load_file

    from stripes.training.checkpoint import CheckpointError, load_weights

    folder = resolve_weights(name_or_path)
    try:
        meta = json.loads((folder / "config.json").read_text())
        with migration_note(str(folder / "config.json")):  # an older shape: one note
            config = load_config(HarmonizationConfig, meta["task"])
        config = replace(config, run=RunConfig())  # the caller's data and cache, not the folder's
        tensors = load_file(str(folder / "model.safetensors"), device=str(device))
        table = tensors.pop(VOCAB_KEY)
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{folder}: config.json is not a weights folder's ({err})") from None
    except (OSError, ValueError):
        raise
    except Exception as err:  # safetensors reports a truncated or foreign file as its own error
        raise CheckpointError(f"{folder}/model.safetensors: not readable ({err})") from None
    meta["vocab"] = ChordVocabulary(table.cpu().numpy())
    model = StripesTransformer(config.model).to(device)
    load_weights(model, tensors, folder / "model.safetensors")
    return model.eval(), config, meta


def load_any_harmonizer(checkpoint: str | Path, device: str | torch.device = "cpu"):
    """One meaning of ``--checkpoint``: a shipped name, a weights folder, a run folder or a
    checkpoint file inside one. Returns ``(model, config, binarization, vocab or None)``."""
    path = Path(checkpoint)
    if str(checkpoint) in PRETRAINED or (path / "model.safetensors").is_file():
        model, config, meta = load_pretrained(checkpoint, device)
        return model, config, meta["binarization"], meta["vocab"]
    named = path.suffix == ".pt"  # a checkpoint file: that file is loaded, or refused
    if named and not path.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    run = path.parent.parent if named and path.parent.name == "checkpoints" else path
    if not (run / "task.yaml").is_file():
        raise FileNotFoundError(f"{checkpoint}: not a weights folder, a run folder or a "
                                f"checkpoint inside one (shipped: {sorted(PRETRAINED)})")
    model, config = load_harmonizer(run, checkpoint=path if named else None)
    evaluation = run / "evaluation.json"
    choice = (json.loads(evaluation.read_text())["binarization"] if evaluation.exists()
              else {"threshold": 0.5, "merge_gap": 0})
    return model.to(device), config, choice, None
