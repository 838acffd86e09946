"""POP909 with the structure labels of Dai et al. and the alignment and split of [S24].

``root`` holds ``pop909/`` (MIDI, ``index.csv``), ``pop909_structure/`` (labels) and
``pop909_alignment/`` (``startpos.csv``, ``split.npz``, ``chord_db.npz``); it comes from an
argument or the environment variable ``STRIPES_DATA``. A song becomes a
:class:`~stripes.music.structure.Song`: tracks MELODY, BRIDGE, PIANO on the 16-per-quarter grid,
starting at the earliest note of the three (as in [S24]), labels placed from ``startpos``.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import cast

import numpy as np

from stripes.music.chords import ChordVocabulary, parse_chord_line, parse_key
from stripes.music.errors import (
    AlignmentError,
    EmptyMidiError,
    LabelParseError,
    UnsupportedMeterError,
)
from stripes.music.midi_io import find_track, read_midi, track_to_notes
from stripes.music.structure import (
    Song,
    bar_labels,
    map_pieces,
    parse_melody,
    parse_phrases,
    phrase_labels,
    place_runs,
    tempo_bucket,
)

log = logging.getLogger(__name__)
ROOT_ENV = "STRIPES_DATA"
OLD_ROOT_ENV = "STRIPES_POP909_ROOT"  # deprecated name, still read
TRACKS = ("MELODY", "BRIDGE", "PIANO")
SPLITS = ("train", "val", "test")
FOLDERS = ("pop909", "pop909_structure", "pop909_alignment")
ALIGN_TOLERANCE = 2  # steps: half a 16th note, melody.txt is quantised to 16ths
SOURCES = {  # pinned archives used by `download` (see SOURCE.txt in each folder)
    "pop909": (
        "https://github.com/music-x-lab/POP909-Dataset/archive/"
        "d83e6edba6872a704f5d3b8b32f5cb540088dae6.zip",
        "POP909/",
    ),
    "pop909_structure": (
        "https://github.com/Dsqvival/hierarchical-structure-analysis/archive/"
        "3a8d0d096e8dd2f62e38e48500bf0b230eeca585.zip",
        "POP909/",
    ),
    "pop909_alignment": (
        "https://github.com/agarwalmanvi/structurePE/archive/"
        "23d9ca234f0fb7f8a97883e2e47947328a7759d2.zip",
        "data/pop909/data/",
    ),
}


def resolve_root(root: str | Path | None = None) -> Path:
    """The POP909 root: ``root``, else ``$STRIPES_DATA`` (the one data variable, read by the tests
    too), else the deprecated ``$STRIPES_POP909_ROOT``; an empty value counts as unset.
    FileNotFoundError if there is none or it is incomplete."""
    if root is None or str(root) == "":
        root = os.environ.get(ROOT_ENV) or None
    if root is None and os.environ.get(OLD_ROOT_ENV):
        log.warning("%s is deprecated: set %s instead", OLD_ROOT_ENV, ROOT_ENV)
        root = os.environ[OLD_ROOT_ENV]
    if root is None:
        raise FileNotFoundError(f"no POP909 root: pass --root or set {ROOT_ENV}")
    root = Path(root).expanduser()
    missing = [f for f in FOLDERS if not (root / f).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"{root} lacks {', '.join(missing)} (expected {', '.join(FOLDERS)})"
        )
    return root


def read_startpos(root: Path) -> dict[int, int]:
    """Song id -> step (16 per quarter) of structure bar 0 on the trimmed MIDI grid (866 songs)."""
    with open(root / "pop909_alignment" / "startpos.csv", newline="") as f:
        return {int(r["ID"]): int(r["Position"]) for r in csv.DictReader(f)}


def read_split(root: Path) -> dict[str, np.ndarray]:
    """The [S24] split as POP909 song ids: ``{'train': [692], 'val': [86], 'test': [88]}``.

    ``split.npz`` holds song ids themselves (1..909, as the [S24] loader formats them with
    ``{:03d}``), not positions in a list; checked here: disjoint, and together exactly the
    866 songs of ``startpos.csv``.
    """
    with np.load(root / "pop909_alignment" / "split.npz") as data:
        split = {name: np.sort(data[f"{name}_idx"]).astype(np.int64) for name in SPLITS}
    ids = np.concatenate(list(split.values()))
    if len(np.unique(ids)) != len(ids) or set(ids.tolist()) != set(read_startpos(root)):
        raise ValueError("split.npz does not partition the songs of startpos.csv")
    return split


def read_meters(root: Path) -> dict[int, tuple[int, int]]:
    """Song id -> (beats per measure, quavers per beat) from ``index.csv`` ({} if absent)."""
    path = root / "pop909" / "index.csv"
    if not path.is_file():
        log.warning("%s missing: meters not checked", path)
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {
            int(r["song_id"]): (int(r["num_beats_per_measure"]), int(r["num_quavers_per_beat"]))
            for r in csv.DictReader(f)
        }


def read_structure(folder: Path, annotator: int = 1) -> dict:
    """Parsed label files of one song: ``melody`` runs ``[N, 2]``, ``chords`` (ChordLabel list),
    ``phrases`` ``[(letter, bars)]``, ``key`` id (first line if the file lists several) and
    ``tempo`` (BPM). Raises FileNotFoundError or :class:`LabelParseError` naming the file."""

    def text(name: str) -> str:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"missing label file {path}")
        return path.read_text(encoding="utf-8")

    key_lines = [ln for ln in text("analyzed_key.txt").splitlines() if ln.strip()]
    tempo = text("tempo.txt").split()
    if not key_lines or len(tempo) != 1 or not tempo[0].isdigit():
        raise LabelParseError(f"{folder}: empty key file or bad tempo {tempo!r}")
    chord_file = folder / "finalized_chord.txt"
    return {
        "melody": parse_melody(text("melody.txt"), str(folder / "melody.txt")),
        "chords": [
            parse_chord_line(ln, str(chord_file))
            for ln in text("finalized_chord.txt").splitlines()
            if ln.strip()
        ],
        "phrases": parse_phrases(
            text(f"human_label{annotator}.txt"), f"{folder}/human_label{annotator}.txt"
        ),
        "key": parse_key(key_lines[0], str(folder / "analyzed_key.txt")),
        "tempo": int(tempo[0]),
    }


def read_song_notes(midi_path: Path) -> np.ndarray:
    """Notes ``[N, 4]`` (track, start, duration, pitch) of MELODY, BRIDGE, PIANO at 16 per quarter,
    unshifted. Raises for unreadable files, a missing track or an empty MELODY."""
    score = read_midi(midi_path)
    parts = []
    for k, name in enumerate(TRACKS):
        notes = track_to_notes(find_track(score, name, str(midi_path)))
        if k == 0 and len(notes) == 0:
            raise EmptyMidiError(f"{midi_path}: the MELODY track has no notes")
        parts.append(np.concatenate([np.full((len(notes), 1), k, np.int32), notes], axis=1))
    return np.concatenate(parts).astype(np.int32)


def load_song(
    root: Path,
    song_id: int,
    vocab: ChordVocabulary,
    startpos: dict[int, int],
    meters: dict[int, tuple[int, int]] | None = None,
    annotator: int = 1,
) -> Song:
    """One aligned song. The grid starts at the earliest note; structure bar 0 lies at step
    ``startpos`` (a negative start pads the notes on the left instead, as in [S24])."""
    meter = (meters or {}).get(song_id, (2, 2))
    if song_id not in startpos:
        if meter != (2, 2):
            raise UnsupportedMeterError(f"song {song_id:03d}: index.csv meter {meter} is not 4/4")
        raise AlignmentError(f"song {song_id:03d} has no start position in startpos.csv")
    name = f"{song_id:03d}"
    notes = read_song_notes(root / "pop909" / name / f"{name}.mid")
    pos = startpos[song_id]
    notes[:, 1] += max(0, -pos) - notes[:, 1].min()
    labels_start = max(pos, 0)
    n_steps = int((notes[:, 1] + notes[:, 2]).max())
    ann = read_structure(root / "pop909_structure" / name, annotator)
    labels = _place_labels(ann, vocab, labels_start, n_steps)
    info = melody_agreement(notes[notes[:, 0] == 0, 1:], ann["melody"], labels_start)
    info["meter_mismatch"] = float(meter != (2, 2))
    return Song(
        name,
        song_id,
        notes,
        labels,
        ann["key"],
        tempo_bucket(ann["tempo"]),
        labels_start,
        song_id,
        info,
    )


def _place_labels(ann: dict, vocab: ChordVocabulary, start: int, n_steps: int) -> dict:
    """Stored labels ``[T]`` of parsed annotations placed from step ``start``."""
    chords = ann["chords"]
    ids = vocab.ids([c.bass + 1 for c in chords], [c.chroma for c in chords])
    beats = [16 * c.beats for c in chords]
    no_chord = int(vocab.ids([0], [0])[0])
    mel = ann["melody"]
    labels = {
        "chord": place_runs(ids, beats, start, n_steps, no_chord),
        "root": place_runs([c.root + 1 for c in chords], beats, start, n_steps, 0),
        "melody": place_runs(mel[:, 0], 4 * mel[:, 1], start, n_steps, 0),
    }
    labels.update(phrase_labels(ann["phrases"], start, n_steps))
    labels.update(bar_labels(start, n_steps))
    return labels


def melody_agreement(
    melody: np.ndarray, runs: np.ndarray, start: int, max_shift: int = 64
) -> dict[str, float]:
    """How well ``melody.txt`` runs ``[M, 2]`` placed from ``start`` match the MIDI MELODY
    notes ``[N, 3]``: ``onset_agreement`` (share of label notes with a MIDI onset within
    ``ALIGN_TOLERANCE`` steps), ``pitch_agreement`` (... with the same pitch), and the global
    shift in steps (``best_shift``, within +-``max_shift``) that maximises onset agreement."""
    at = start + 4 * np.concatenate([[0], np.cumsum(runs[:-1, 1])])
    at, pitch = at[runs[:, 0] > 0], runs[runs[:, 0] > 0, 0]
    pad = max_shift + ALIGN_TOLERANCE
    size = int(max(melody[:, 0].max(), at.max())) + 2 * pad + 1
    hit = np.zeros((size, 128), dtype=bool)
    for d in range(-ALIGN_TOLERANCE, ALIGN_TOLERANCE + 1):
        hit[melody[:, 0] + d + pad, melody[:, 2]] = True
    any_hit = cast(np.ndarray, hit.any(axis=1))  # numpy's stub allows a scalar
    shifts = np.arange(-max_shift, max_shift + 1)
    per_shift = any_hit[at[None, :] + shifts[:, None] + pad].mean(axis=1)
    best = int(np.argmax(per_shift - 1e-6 * np.abs(shifts)))  # ties: the smallest shift
    return {
        "onset_agreement": float(any_hit[at + pad].mean()),
        "pitch_agreement": float(hit[at + pad, pitch].mean()),
        "best_shift": float(shifts[best]),
        "best_onset_agreement": float(per_shift[best]),
    }


def download(dest: str | Path) -> Path:
    """Download POP909, the structure labels and the [S24] alignment files into ``dest``
    (``dest/pop909``, ``dest/pop909_structure``, ``dest/pop909_alignment``); needs internet.

    ``index.csv`` (the meters) is not in the POP909 archive: without it meters go unchecked.
    """
    import io
    import urllib.request
    import zipfile

    dest = Path(dest)
    for folder, (url, prefix) in SOURCES.items():
        log.info("downloading %s", url)
        with urllib.request.urlopen(url) as response:  # noqa: S310 (fixed https URLs)
            archive = zipfile.ZipFile(io.BytesIO(response.read()))
        for member in archive.namelist():
            inner = member.split("/", 1)[1] if "/" in member else ""
            if inner.startswith(prefix) and not member.endswith("/"):
                target = dest / folder / inner[len(prefix) :]
                if folder == "pop909_alignment" and target.parent != dest / folder:
                    continue  # only the three files at the top of data/pop909/data/
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
    return resolve_root(dest)


def _try_load(args: tuple) -> Song | str:
    """``load_song`` for a worker process: the song, or the error message."""
    try:
        return load_song(*args)
    except (ValueError, FileNotFoundError) as err:
        return str(err)


def load_pop909(
    root: str | Path | None = None,
    *,
    annotator: int = 1,
    exclude_misaligned: bool = False,
    threshold: float = 0.8,
    workers: int = 1,
    progress: bool = False,
) -> tuple[list[Song], np.ndarray, ChordVocabulary, dict]:
    """The 866 aligned songs: ``(songs, split [S] (0 train, 1 val, 2 test), vocab, report)``.

    ``report`` summarises the melody agreement (:func:`melody_agreement`) and lists the songs
    below ``threshold`` onset agreement, which ``exclude_misaligned`` drops.
    """
    root = resolve_root(root)
    vocab = ChordVocabulary.from_chord_db(root / "pop909_alignment" / "chord_db.npz")
    startpos, meters, split = read_startpos(root), read_meters(root), read_split(root)
    jobs = [(root, i, vocab, startpos, meters, annotator) for i in sorted(startpos)]
    loaded = map_pieces(_try_load, jobs, workers, progress, "POP909")
    errors = [msg for msg in loaded if isinstance(msg, str)]
    if errors:
        raise ValueError(f"{len(errors)} songs failed, first: {errors[0]}")
    report = alignment_report(loaded, threshold)
    songs = [
        s for s in loaded if not (exclude_misaligned and s.info["onset_agreement"] < threshold)
    ]
    report["excluded"] = sorted({s.number for s in loaded} - {s.number for s in songs})
    code = {int(i): k for k, name in enumerate(SPLITS) for i in split[name]}
    return songs, np.array([code[s.number] for s in songs], dtype=np.int8), vocab, report


def alignment_report(songs: list[Song], threshold: float = 0.8) -> dict:
    """Summary of the per-song melody agreement: counts at several levels (at ``startpos`` and
    at each song's best global shift), songs below ``threshold``, songs whose index.csv meter
    is not 4/4."""
    onset = np.array([s.info["onset_agreement"] for s in songs])
    best = np.array([s.info["best_onset_agreement"] for s in songs])
    levels = (0.5, 0.8, 0.9, 0.95)
    below = [
        {
            "song": s.number,
            "onset": round(s.info["onset_agreement"], 3),
            "pitch": round(s.info["pitch_agreement"], 3),
            "best_shift": int(s.info["best_shift"]),
            "best_onset": round(s.info["best_onset_agreement"], 3),
        }
        for s in songs
        if s.info["onset_agreement"] < threshold
    ]
    return {
        "songs": len(songs),
        "threshold": threshold,
        "tolerance_steps": ALIGN_TOLERANCE,
        "median_onset": float(np.median(onset)),
        "mean_pitch": float(np.mean([s.info["pitch_agreement"] for s in songs])),
        "at_least": {str(x): int((onset >= x).sum()) for x in levels},
        "at_least_best_shift": {str(x): int((best >= x).sum()) for x in levels},
        "below_threshold": below,
        "meter_mismatch": [s.number for s in songs if s.info["meter_mismatch"]],
    }
