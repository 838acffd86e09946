"""Run inside a fresh environment holding the core install and the ``music`` extra
(tests/packaging/test_wheel.py): the shipped weights load from the installed package with
``load_pretrained``, and the POP909 harmonizer arranges the example lead sheet.

Usage: ``python music_smoke.py LEAD_SHEET_FOLDER OUT_DIR``."""

import sys
from pathlib import Path

import stripes
from stripes.arranger.arrange import harmonize_song
from stripes.arranger.pretrained import PRETRAINED, load_pretrained

sheet, out = Path(sys.argv[1]), Path(sys.argv[2])
installed = Path(stripes.__file__).parent
for name, folder in PRETRAINED.items():
    assert folder.is_relative_to(installed), folder
    model, config, meta = load_pretrained(name)
    assert not model.training and meta["vocab"] is not None, name
    print(f"weights ok: {name} ({model.num_parameters()} parameters) from {folder}")
res = harmonize_song("pop909", sheet / "melody.mid", out / f"{sheet.name}.mid",
                     chords=sheet / "chords.txt", renderer="builtin")
notes = int((res["arrangement"] > 0).sum())
assert res["steps"] > 0 and notes > 0, res
for key in ("midi", "wav", "png"):
    assert Path(res[key]).stat().st_size > 0, key
print(f"arranged {sheet.name}: {res['steps']} steps, {notes} active cells, files "
      + ", ".join(Path(res[k]).name for k in ("midi", "wav", "png")))
