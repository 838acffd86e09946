"""The main job: real arrangements from the shipped harmonizers, on a fresh machine, offline.

``run_demo`` loads the shipped chorale harmonizer (``stripes/weights/chorales``), scores it on the
held-out Bach chorales beside the floors, the rule baseline and the sanity checks, and writes the
first held-out chorale re-harmonized from its soprano line (MIDI, WAV, piano-roll PNG with Bach's
original below); then the shipped POP909 harmonizer arranges the example lead sheet
(``examples/ode_to_joy``: melody MIDI + chords file). ``train=True`` trains the chorale harmonizer
from scratch first (``configs/harmonization/chorales_shipped.yaml``, ~15 min here); ``fast``
trains a tiny one in seconds (tests).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from stripes.arranger.pretrained import PRETRAINED, load_any_harmonizer
from stripes.arranger.render import GM_PROGRAMS, TRACK_TITLES, write_arrangement
from stripes.config import from_dict
from stripes.evaluation.harmonization import score_harmonization
from stripes.evaluation.harmonization.binarization import decode_window
from stripes.evaluation.harmonization.sanity import sanity_check, sanity_warning
from stripes.files import atomic_write_text, check_outputs, strict_json
from stripes.tasks.harmonization.config import HarmonizationConfig
from stripes.tasks.harmonization.data import (
    build_dataset,
    prepare_task_corpus,
    task_corpus,
    task_layout,
)
from stripes.tasks.harmonization.predict import collect_windows

CHORALE_QPM = 80.0  # the corpus keeps no tempo for the chorales (a tempo bucket only)
RECIPE = Path(__file__).resolve().parents[3] / "configs" / "harmonization" / "chorales_shipped.yaml"
LEAD_SHEET = Path(__file__).resolve().parents[3] / "examples" / "ode_to_joy"


def fast_config() -> HarmonizationConfig:
    """A tiny chorale harmonizer that trains in seconds (tests of the pipeline, not music)."""
    return from_dict(HarmonizationConfig, dict(
        data="chorales", context="bin", train_bars=4, test_bars=[None], max_train_windows=16,
        max_eval_windows=4, input_features=["chroma", "root", "meter"],
        model={"d_model": 32, "n_layers": 1, "n_heads": 2, "pe": {"kind": "rope_pool"}},
        train={"epochs": 1, "batch_size": 8, "lr": 2e-3, "optimizer": "adamw"},
        run={"progress": False, "tensorboard": False}))


def chorale_harmonizer(out: Path, fast: bool, train: bool, overwrite: bool) -> str | Path:
    """The checkpoint the demo uses: shipped weights, or a run it trains now."""
    if not (fast or train):
        return "chorales"
    from stripes.tasks.harmonization.evaluate import evaluate_harmonizer
    from stripes.tasks.harmonization.train import train_harmonizer

    cfg = fast_config() if fast else HarmonizationConfig.from_yaml(RECIPE)
    if not fast:
        cfg = replace(cfg, run=replace(cfg.run, progress=True))
    prepare_task_corpus(cfg, progress=not fast)  # a fresh machine parses the chorales once
    train_harmonizer(cfg, out / "run", progress=not fast, overwrite=overwrite)
    evaluate_harmonizer(out / "run")
    return out / "run"


def harmonize_chorales(checkpoint, out: Path, overwrite: bool = False) -> dict:
    """Score the held-out chorales with floors, rule and sanity; arrange the first one."""
    model, cfg, choice, _ = load_any_harmonizer(checkpoint)
    prepare_task_corpus(cfg)  # a fresh machine parses the chorales once
    corpus = task_corpus(cfg)
    layout = task_layout(corpus)
    test = build_dataset(corpus, cfg, "test", None, cap=cfg.max_eval_windows)
    windows = collect_windows(model, test)
    scores = score_harmonization([("None", windows)], layout, binarization=choice)["test"]["None"]
    first = windows[0]
    pred, onsets = decode_window(first, choice)
    name = str(corpus.arrays["names"][first["song"]])
    tracks, programs = TRACK_TITLES["chorales"], GM_PROGRAMS["chorales"]
    files = write_arrangement(pred, tracks, out / "chorale", root=first["root"],
                              chroma=first["chroma"], qpm=CHORALE_QPM, programs=programs,
                              reference=first["targets"] > 0.5, title=f"{name} (held out)",
                              overwrite=overwrite, onsets=onsets)
    original = write_arrangement(first["targets"] > 0.5, tracks, out / "chorale_original",
                                 root=first["root"], chroma=first["chroma"], qpm=CHORALE_QPM,
                                 programs=programs, title=f"{name}: Bach", overwrite=overwrite,
                                 onsets=first["onsets"] > 0.5)
    example = sanity_check(pred, first["root"], first["chroma"], layout=layout)
    return {"chorale": name, "files": files, "original": original["midi"],
            "example_sanity": example, "test_set": scores, "binarization": choice}


def arrange_lead_sheet(folder: Path, out: Path, checkpoint: str | Path = "pop909",
                       overwrite: bool = False) -> dict:
    """The POP909 harmonizer's arrangement of a melody MIDI + chords file, with its sanity and
    warnings (the arrays left out of the report)."""
    from stripes.arranger.arrange import harmonize_song

    res = harmonize_song(checkpoint, folder / "melody.mid", out / f"{folder.name}.mid",
                         chords=folder / "chords.txt", overwrite=overwrite, title=folder.name)
    return {k: v for k, v in res.items() if k not in ("arrangement", "labels")}


def demo_outputs(out: Path, sheet: Path) -> list[Path]:
    """The files the demo writes under ``out`` (its run folder aside)."""
    names = ["chorale", "chorale_original", sheet.name]
    return [out / f"{n}{s}" for n in names for s in (".mid", ".wav", ".png")] + [
        out / "report.json"]


def run_demo(out_dir: str | Path = "outputs/demo", fast: bool = False, train: bool = False,
             lead_sheet: str | Path | None = None, overwrite: bool = False) -> dict:
    """Write the demo's files under ``out_dir``; returns the report (also ``report.json``).
    Files already there (and a run folder, with ``fast`` or ``train``) are replaced only with
    ``overwrite``: checked before anything is trained or written."""
    out = Path(out_dir)
    sheet = Path(lead_sheet) if lead_sheet else LEAD_SHEET
    missing = [p for p in (sheet / "melody.mid", sheet / "chords.txt",
                           PRETRAINED["pop909"] / "model.safetensors") if not p.exists()]
    if lead_sheet and missing:  # before anything is trained or written
        raise FileNotFoundError(f"lead sheet: {missing[0]} is missing")
    check_outputs(demo_outputs(out, sheet), [sheet / "melody.mid", sheet / "chords.txt"],
                  overwrite)
    if (fast or train) and (out / "run").exists() and not overwrite:
        raise ValueError(f"{out / 'run'} exists: pass --overwrite to train the demo's run again")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    checkpoint = chorale_harmonizer(out, fast, train, overwrite)
    chorales = harmonize_chorales(checkpoint, out, overwrite)
    report = {"chorale_harmonizer": str(checkpoint), **chorales}
    if not missing:
        report["lead_sheet"] = arrange_lead_sheet(sheet, out, overwrite=overwrite)
    report["warnings"] = [f"no lead sheet arranged: {missing[0]} is missing"] if missing else []
    report["warnings"] += [w for w in (
        chorales["test_set"]["warning"],
        sanity_warning(chorales["example_sanity"], "the example chorale")) if w]
    report["warnings"] += [f"WARNING: the lead sheet: {w}"
                           for w in report.get("lead_sheet", {}).get("warnings", [])]
    report["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_text(out / "report.json", strict_json(report))  # no NaN / Infinity in it
    report["report"] = str(out / "report.json")
    return report
