"""The Groove2Groove release (Cífka et al. 2020; Zenodo, doi:10.5281/zenodo.3958000), for users
who have it: [SPE]'s groove continuation data.

The archive ``groove2groove-data-v1.0.0.tar.gz`` holds Band-in-a-Box accompaniments as
``midi/{train,val,test}/fixed/**/<song>.<STYLE>_<a|b>.mid``: each file has tracks named ``BB
Bass``, ``BB Drums``, ``BB Guitar``, ``BB Piano``, ``BB Strings`` (some missing, some repeated;
tracks of one name are merged). As in the official SPE preparation, only the ``train`` part is
used and split again by *style* (the file name's sub-style ``STYLE_a`` without its suffix):
25 test styles, 25 validation styles, the rest for training; a sub-style must have exactly two
files (others are skipped); training keeps both, validation and test one drawn at random. The
first 2 bars of each file are dropped (the Band-in-a-Box count-in). Trio slots: bass, drums, and
a harmonic track among guitar, piano and strings (random in training, the busiest in evaluation).

The draw of styles uses numpy's seeded generator, not scikit-learn's ``train_test_split`` with
``np.random.seed(0)`` as the official notebook does, so the styles of each part differ from the
paper's; the sizes and the rules are the same.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from stripes.tasks.groove.pieces import (
    TrioPiece,
    bar_ticks,
    drop_before,
    first_tempo,
    grid_notes,
    read_score,
)

DOI = "10.5281/zenodo.3958000"
ARCHIVE = "groove2groove-data-v1.0.0"
SOURCES = ("BB Bass", "BB Drums", "BB Guitar", "BB Piano", "BB Strings")
SLOTS = ("bass", "drums", "harmony")
ROLES = ((0,), (1,), (2, 3, 4))
DRUM_SLOTS = (1,)
SKIP_BARS = 2


def groove2groove_folder(root: str | Path, part: str = "train") -> Path:
    """The folder of ``part``'s MIDI files under ``root``, which may be the folder that holds the
    extracted archive, the archive folder ``groove2groove-data-v1.0.0`` itself, or a folder with
    ``train/fixed`` (cifkao/groove2groove's ``download.sh`` layout).

    Raises FileNotFoundError, naming the DOI, when none holds a ``.mid`` file.
    """
    root = Path(root).expanduser()
    tried = [root / ARCHIVE / "midi" / part / "fixed", root / "midi" / part / "fixed",
             root / part / "fixed"]
    for folder in tried:
        if folder.is_dir() and next(folder.rglob("*.mid"), None) is not None:
            return folder
    raise FileNotFoundError(
        f"no Groove2Groove MIDI files at {root} (looked in {', '.join(str(t) for t in tried)}): "
        f"download {ARCHIVE}.tar.gz from https://doi.org/{DOI} and extract it there"
    )


def parse_name(path: Path) -> tuple[str, str, str]:
    """``(song, sub-style, style)`` of ``<song>.<STYLE>_<x>.mid``."""
    song, dot, substyle = path.stem.rpartition(".")
    style, underscore, _ = substyle.rpartition("_")
    if not dot or not underscore:
        raise ValueError(f"{path.name}: expected <song>.<STYLE>_<a|b>.mid")
    return song, substyle, style


def load_groove2groove_piece(path: str | Path, skip_bars: int = SKIP_BARS) -> TrioPiece:
    """One file as a :class:`TrioPiece` (slots bass, drums, harmony), its first ``skip_bars``
    bars dropped."""
    path = Path(path)
    _, substyle, style = parse_name(path)
    score = read_score(path)
    notes = drop_before(grid_notes(score, SOURCES), bar_ticks(skip_bars))
    return TrioPiece(name=path.stem, style=style, notes=notes, sources=SOURCES, roles=ROLES,
                     slot_names=SLOTS, drum_slots=DRUM_SLOTS, qpm=first_tempo(score))


def split_by_style(files: list[Path], n_val: int = 25, n_test: int = 25,
                   seed: int = 0) -> dict[str, list[Path]]:
    """The style-level split of [SPE]'s groove experiment: ``{"train", "val", "test"}`` -> files.

    Styles are drawn with ``numpy.random.default_rng(seed)``: the first ``n_test`` for test, the
    next ``n_val`` for validation, the others for training. Sub-styles without exactly two files
    are skipped; training takes both files, validation and test one of the two at random.
    """
    by_substyle: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        by_substyle[parse_name(f)[1]].append(f)
    by_substyle = {k: sorted(v) for k, v in sorted(by_substyle.items()) if len(v) == 2}
    styles = sorted({parse_name(v[0])[2] for v in by_substyle.values()})
    if n_val + n_test >= len(styles):
        raise ValueError(f"{len(styles)} styles cannot give {n_val} val and {n_test} test styles")
    rng = np.random.default_rng(seed)
    order = [styles[i] for i in rng.permutation(len(styles))]
    part_of = {s: "test" for s in order[:n_test]}
    part_of.update({s: "val" for s in order[n_test : n_test + n_val]})
    out: dict[str, list[Path]] = {"train": [], "val": [], "test": []}
    for pair in by_substyle.values():
        part = part_of.get(parse_name(pair[0])[2], "train")
        out[part].extend(pair if part == "train" else [pair[int(rng.integers(2))]])
    return {part: sorted(files) for part, files in out.items()}


def load_groove2groove_trios(root: str | Path, n_val: int = 25, n_test: int = 25,
                             seed: int = 0, limit: int | None = None) -> dict[str, list[TrioPiece]]:
    """The release's ``train`` part as pieces, split by style (:func:`split_by_style`).

    Args:
        root: where the release was extracted (see :func:`groove2groove_folder`).
        n_val, n_test, seed: the split. limit: keep the first ``limit`` files of each part.
    """
    files = sorted(groove2groove_folder(root, "train").rglob("*.mid"))
    split = split_by_style(files, n_val, n_test, seed)
    return {part: [load_groove2groove_piece(f) for f in paths[:limit]]
            for part, paths in split.items()}
