"""How many of an onset harmonizer's accompaniment notes are very short, beside the original's,
on the test windows, decoded as the run's ``evaluation.json`` chose: the share of notes of one
step (a click), of two steps or less, and of those followed by a strike of the same pitch within
three steps (a quick repeat). Writes ``<out>/short_notes.json`` and ``short_notes.md``.

    python scripts/short_notes.py RUN_DIR --out results/onset_criteria/pop909
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _harmonizer_run import open_run

from stripes.evaluation.harmonization.binarization import (
    NoteRoll,
    decode_window,
    roll_notes,
    target_roll,
)
from stripes.evaluation.harmonization.rolls import select_slots
from stripes.tasks.harmonization.data import evaluation_sets
from stripes.tasks.harmonization.predict import collect_windows


def shares(rolls: list[NoteRoll], slots: tuple[int, ...]) -> dict[str, float]:
    """Shares of the notes of ``slots`` lasting 1 step, <= 2 steps, and <= 2 steps then struck
    again within 3 steps of their start."""
    lengths, repeats = [], []
    for roll in rolls:
        notes = roll_notes(NoteRoll(select_slots(roll.frames, slots),
                                    select_slots(roll.note_onsets(), slots)))
        starts = {(int(s), int(p)) for s, _, p in notes}
        lengths.append(notes[:, 1])
        repeats.append(np.array([d <= 2 and any((s + k, p) in starts for k in (1, 2, 3))
                                 for s, d, p in notes], dtype=bool))
    length, repeat = np.concatenate(lengths), np.concatenate(repeats)
    return {"notes": int(len(length)), "one_step": float((length <= 1).mean()),
            "two_steps_or_less": float((length <= 2).mean()), "quick_repeat": float(repeat.mean())}


def main() -> None:
    args, model, config = open_run(__doc__)
    choice = json.loads(Path(args.run, "evaluation.json").read_text())["binarization"]
    sets = evaluation_sets(config)
    rows = {}
    for bars, ds in sets.tests.items():
        windows = collect_windows(model, ds)
        rows[f"test {bars} bars"] = {
            "model": shares([decode_window(w, choice) for w in windows], sets.layout.accompaniment),
            "original": shares([target_roll(w) for w in windows], sets.layout.accompaniment)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "short_notes.json").write_text(json.dumps(rows, indent=1))
    lines = [f"# Short notes of the accompaniment, `{args.run}` ({config.data}), decoded as its "
             "evaluation.json chose", "", "| split | who | notes | 1 step | <= 2 steps | "
             "<= 2 steps, struck again within 3 |", "|---|---|---|---|---|---|"]
    for split, r in rows.items():
        for who, v in r.items():
            lines.append(f"| {split} | {who} | {v['notes']} | {v['one_step']:.3f} | "
                         f"{v['two_steps_or_less']:.3f} | {v['quick_repeat']:.3f} |")
    (out / "short_notes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
