"""The cache of prepared corpora.

``prepare_pop909`` / ``prepare_chorales`` parse once and write ``<cache>/<name>/corpus.npz``
(flat arrays of every piece), ``manifest.json`` (library versions, parameters, content hash,
counts, alignment and skipped pieces) and REMI tokens (``tokens.npz`` + ``tokenizer.json``).
``load_corpus`` reads that back in well under a second; ``music.windows.WindowDataset``
cuts windows and builds pianorolls, labels and structure positions on the fly. The cache lives in
``$STRIPES_CACHE`` or ``~/.cache/stripes``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from stripes.files import (
    atomic_write,
    atomic_write_text,
    check_file_records,
    file_record,
    remove_stale_tmp,
)
from stripes.music.chords import ChordVocabulary
from stripes.music.midi_io import BAR_STEPS
from stripes.music.structure import (
    STORED_LABELS,
    complete_labels,
)

log = logging.getLogger(__name__)
SCHEMA = 1
#: Version of each corpus's labels and split (absent: 1). ``prepare_*`` rebuilds a cache of
#: another version and ``load_corpus`` refuses it. Chorales 2: one functional chord per beat,
#: duplicates dropped, tune groups by title and soprano (``music.harmony``, ``music.tunes``).
CORPUS_VERSIONS = {"pop909": 1, "chorales": 2}
CACHE_ENV = "STRIPES_CACHE"
SPLIT_NAMES = ("train", "val", "test")
_LABEL_DTYPES = {"chord": np.int16, "root": np.int8, "melody": np.int8, "phrase": np.int8,
                 "phrase_index": np.int16, "phrase_pos": np.int16, "bar": np.int16, "beat": np.int8}

_SONG_FIELDS = {"names": "name", "numbers": "number", "groups": "group", "keys": "key",
                "tempos": "tempo", "downbeats": "downbeat"}  # array name -> Song attribute


def default_cache_dir() -> Path:
    """``$STRIPES_CACHE`` or ``~/.cache/stripes``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "stripes").expanduser()


@dataclass
class Corpus:
    """Every piece of one data set as flat arrays; piece i has steps ``step_offsets[i:i+2]`` of
    each label array and rows ``note_offsets[i:i+2]`` of ``notes [N, 4]`` (track, start,
    duration, pitch). ``slots`` maps the 2 input and 3 target pianoroll slots to track indices."""

    name: str
    tracks: list[str]
    slots: dict[str, list[list[int]]]
    arrays: dict[str, np.ndarray]
    vocab: ChordVocabulary
    manifest: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.arrays["names"])

    def songs_in(self, split: str | None) -> np.ndarray:
        """Indices of the pieces in a split (``'train'``, ``'val'``, ``'test'``; None = all)."""
        if split is None:
            return np.arange(len(self))
        if split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {SPLIT_NAMES} or None, not {split!r}")
        return np.flatnonzero(self.arrays["split"] == SPLIT_NAMES.index(split))

    def n_steps(self, i: int) -> int:
        """T of piece i."""
        return int(self.arrays["step_offsets"][i + 1] - self.arrays["step_offsets"][i])

    def notes(self, i: int) -> np.ndarray:
        """Notes ``[N_i, 4]`` of piece i."""
        lo, hi = self.arrays["note_offsets"][i : i + 2]
        return self.arrays["notes"][lo:hi]

    def labels(self, i: int, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """Every label of ``structure.LABELS`` as int64 ``[stop - start]`` for piece i."""
        base = self.arrays["step_offsets"][i]
        stop = self.n_steps(i) if stop is None else stop
        stored = {k: self.arrays[f"label_{k}"][base + start : base + stop] for k in STORED_LABELS}
        return complete_labels(
            stored, self.vocab, int(self.arrays["keys"][i]), int(self.arrays["tempos"][i])
        )

    def windows(
        self, split: str | None, bars: int | None, hop_bars: int | None = None
    ) -> np.ndarray:
        """Windows ``[W, 3]`` (piece, start, length) of a split.

        ``bars=None``: one window per piece. Otherwise windows of ``bars`` 4/4 bars start on the
        first bar line (``downbeat % 64``) and every ``hop_bars`` bars (default ``bars - bars //
        8``: the [S24] overlap of 1/8 window, 2 bars for 16, 8 bars for 64); a window must fit.
        """
        rows: list[tuple] = []  # (song, start, size): Python and numpy ints
        for i in self.songs_in(split):
            n = self.n_steps(i)
            if bars is None:
                rows.append((i, 0, n))
                continue
            size, hop = bars * BAR_STEPS, (hop_bars or bars - bars // 8) * BAR_STEPS
            starts = np.arange(int(self.arrays["downbeats"][i]) % BAR_STEPS, n - size + 1, hop)
            rows.extend((i, s, size) for s in starts)
        return np.array(rows, dtype=np.int64).reshape(-1, 3)


def corpus_from_songs(name, songs, vocab, tracks, slots, split, manifest) -> Corpus:
    """Pack :class:`Song` objects (and a split code per song, 0/1/2) into a :class:`Corpus`."""
    steps = np.cumsum([0] + [s.n_steps for s in songs])
    counts = np.cumsum([0] + [len(s.notes) for s in songs])
    arrays = {k: np.array([getattr(s, attr) for s in songs]) for k, attr in _SONG_FIELDS.items()}
    arrays.update(split=np.asarray(split, dtype=np.int8), step_offsets=steps, note_offsets=counts,
                  notes=np.concatenate([s.notes for s in songs]).astype(np.int32),
                  chord_table=vocab.table)
    for k in STORED_LABELS:
        arrays[f"label_{k}"] = np.concatenate([s.labels[k] for s in songs]).astype(_LABEL_DTYPES[k])
    for k in sorted({k for s in songs for k in s.info}):
        arrays[f"info_{k}"] = np.array([s.info.get(k, np.nan) for s in songs], dtype=np.float32)
    return Corpus(name, list(tracks), slots, arrays, vocab, manifest)


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the arrays' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the cache."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("stripes", "numpy", "torch", "symusic", "miditok", "music21"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


CACHE_FILES = ("corpus.npz", "tokens.npz", "tokenizer.json")


def save_corpus(corpus: Corpus, out_dir: str | Path) -> Path:
    """Write ``corpus.npz`` and ``manifest.json`` (with schema, versions, hash, and the size and
    SHA-256 of every cache file) into ``out_dir``, each atomically; the manifest goes last, so a
    cache whose manifest names its files is complete."""
    out_dir = Path(out_dir)
    remove_stale_tmp(out_dir)
    arrays: dict[str, Any] = corpus.arrays  # Any: savez_compressed's keywords include a bool
    atomic_write(out_dir / "corpus.npz", lambda f: np.savez_compressed(f, **arrays))
    files = {name: file_record(out_dir / name) for name in CACHE_FILES
             if (out_dir / name).is_file()}
    manifest = {**corpus.manifest, "corpus": corpus.name, "schema": SCHEMA,
                "version": CORPUS_VERSIONS.get(corpus.name, 1),
                "versions": library_versions(), "tracks": corpus.tracks, "slots": corpus.slots,
                "content_sha256": content_hash(corpus.arrays), "files": files}
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1, default=float))
    corpus.manifest = manifest
    return out_dir


def rebuild_command(folder: Path, name: str) -> str:
    """The command that rebuilds the cache at ``folder``."""
    out = "" if folder == default_cache_dir() / name else f" --out {folder}"
    return f"stripes data prepare {name} --force{out}"


def cache_problems(folder: Path, manifest: dict, hashes: bool = False) -> list[str]:
    """What is wrong with the files of a cache (empty: it can be trusted). A manifest written
    before file records existed is checked by reading ``corpus.npz`` back (with ``hashes``)."""
    if "files" in manifest:
        return check_file_records(folder, manifest["files"], hashes)
    if not hashes:
        return []
    try:
        return ([] if content_hash(read_npz(folder / "corpus.npz", manifest.get("corpus", "")))
                == manifest.get("content_sha256") else ["corpus.npz does not match its hash"])
    except ValueError as err:
        return [str(err)]


def read_npz(path: Path, name: str) -> dict[str, np.ndarray]:
    """Every array of a cache's ``.npz``; ValueError with the rebuild command when it is
    truncated or not an archive."""
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        if not path.exists():
            raise
        raise ValueError(f"{path}: damaged cache file ({err}); rebuild it: "
                         f"{rebuild_command(path.parent, name)}") from None


def resolve_corpus_dir(path: str | Path) -> Path:
    """A corpus folder: ``path`` itself, or ``<cache>/<path>`` for a name like ``'pop909'``."""
    path = Path(path).expanduser()
    return path if (path / "manifest.json").is_file() else default_cache_dir() / str(path)


def load_corpus(path: str | Path, verify: bool = False) -> Corpus:
    """Read a prepared corpus (a folder or a name such as ``'pop909'`` or ``'chorales'``).

    ``verify=True`` recomputes the content hash. FileNotFoundError says how to prepare it.
    """
    folder = resolve_corpus_dir(path)
    if not (folder / "manifest.json").is_file():
        raise FileNotFoundError(
            f"no prepared corpus at {folder}: run `stripes data prepare {Path(path).name}` first"
        )
    manifest = read_manifest(folder)
    name = str(manifest.get("corpus", Path(path).name))
    if manifest.get("schema") != SCHEMA:
        raise ValueError(f"{folder}: cache schema {manifest.get('schema')} != {SCHEMA}; rebuild "
                         f"it: {rebuild_command(folder, name)}")
    if manifest.get("version", 1) != CORPUS_VERSIONS.get(name, 1):
        raise ValueError(f"{folder}: {name} cache version {manifest.get('version', 1)} != "
                         f"{CORPUS_VERSIONS.get(name, 1)} (its labels or split changed); "
                         f"rebuild it: {rebuild_command(folder, name)}")
    problems = cache_problems(folder, manifest, hashes=verify)
    if problems:
        raise ValueError(f"{folder}: damaged cache ({'; '.join(problems)}); rebuild it: "
                         f"{rebuild_command(folder, name)}")
    arrays = read_npz(folder / "corpus.npz", name)
    if verify and content_hash(arrays) != manifest["content_sha256"]:
        raise ValueError(f"{folder}: content hash mismatch, the cache is corrupt; prepare again")
    vocab = ChordVocabulary(arrays["chord_table"])
    return Corpus(manifest["corpus"], manifest["tracks"], manifest["slots"], arrays, vocab,
                  manifest)


# --- preparing and describing ------------------------------------------------------------------
POP909_SLOTS = {"inputs": [[0], [1]], "targets": [[0], [1], [2]]}
CHORALE_SLOTS = {"inputs": [[0], []], "targets": [[0], [1, 2], [3]]}


def read_manifest(folder: Path) -> dict:
    """The manifest of a cache folder; ValueError (with the rebuild command) when unreadable."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{folder}/manifest.json: damaged ({err}); rebuild it: "
                         f"{rebuild_command(folder, folder.name)}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{folder}/manifest.json: not a cache manifest; rebuild it: "
                         f"{rebuild_command(folder, folder.name)}")
    return manifest


def _is_fresh(out_dir: Path, params: dict) -> bool:
    """True when ``out_dir`` holds a complete, intact cache of this schema built with ``params``
    (every file checked against the size and SHA-256 in its manifest)."""
    if not (out_dir / "manifest.json").is_file():
        return False
    try:
        manifest = read_manifest(out_dir)
    except ValueError as err:
        log.warning("%s; rebuilding it", err)
        return False
    version = CORPUS_VERSIONS.get(str(manifest.get("corpus")), 1)
    if (manifest.get("schema") != SCHEMA or manifest.get("parameters") != params
            or manifest.get("version", 1) != version):
        return False
    problems = cache_problems(out_dir, manifest, hashes=True)
    if problems:
        log.warning("%s is damaged (%s): rebuilding it", out_dir, "; ".join(problems))
    return not problems


def _prepare(corpus: Corpus, out_dir: Path, token_tracks: list[int], progress: bool) -> Path:
    """Add counts (and REMI tokens of ``token_tracks``) to the manifest and save the corpus."""
    from stripes.music.tokenizer import write_tokens

    a, split = corpus.arrays, corpus.arrays["split"]
    corpus.manifest["counts"] = {
        "songs": len(corpus), **{s: int((split == k).sum()) for k, s in enumerate(SPLIT_NAMES)},
        "steps": int(a["step_offsets"][-1]), "notes": len(a["notes"]),
        "chord_vocabulary": len(corpus.vocab)}
    if token_tracks:
        pieces = [corpus.notes(i) for i in range(len(corpus))]
        corpus.manifest["tokens"] = write_tokens(pieces, a["downbeats"], split, token_tracks,
                                                 out_dir, progress)
        corpus.manifest["tokens"]["tracks"] = [corpus.tracks[k] for k in token_tracks]
    return save_corpus(corpus, out_dir)


def check_workers(workers: int) -> None:
    """ValueError unless ``workers`` is a process count >= 1."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")


def prepare_pop909(root: str | Path | None = None, out_dir: str | Path | None = None, *,
                   exclude_misaligned: bool = False, threshold: float = 0.8, annotator: int = 1,
                   tokens: bool = True, workers: int = 1, progress: bool = False,
                   force: bool = False) -> Path:
    """Build (or reuse, if built with the same parameters) the POP909 cache; returns its folder
    (default ``<cache>/pop909``). Tokens: REMI of MELODY + PIANO."""
    from stripes.music.pop909 import TRACKS, load_pop909

    if not 0 <= threshold <= 1:  # also refuses NaN
        raise ValueError(f"threshold must be an onset agreement in [0, 1], got {threshold}")
    check_workers(workers)
    params = {"exclude_misaligned": exclude_misaligned, "threshold": threshold,
              "annotator": annotator, "tokens": tokens}
    out_dir = Path(out_dir) if out_dir else default_cache_dir() / "pop909"
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(out_dir))
    if not force and _is_fresh(out_dir, params):
        log.info("%s is up to date", out_dir)
        return out_dir
    songs, split, vocab, report = load_pop909(
        root, annotator=annotator, exclude_misaligned=exclude_misaligned, threshold=threshold,
        workers=workers, progress=progress)
    manifest = {"parameters": params, "alignment": report, "windows": {"bars": 16, "hop_bars": 14}}
    corpus = corpus_from_songs("pop909", songs, vocab, TRACKS, POP909_SLOTS, split, manifest)
    return _prepare(corpus, out_dir, [0, 2] if tokens else [], progress)


def prepare_chorales(out_dir: str | Path | None = None, *, tokens: bool = True, workers: int = 2,
                     seed: int = 0, progress: bool = False, force: bool = False,
                     limit: int | None = None) -> Path:
    """Build (or reuse) the Bach chorale cache from music21's corpus (no POP909 needed);
    returns its folder (default ``<cache>/chorales``). Tokens: REMI of the four voices;
    ``limit`` keeps the first chorales only (tests)."""
    from stripes.music.chorales import VOICES, load_chorales

    check_workers(workers)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    params = {"seed": seed, "tokens": tokens, "limit": limit, "shares": [0.8, 0.1, 0.1]}
    out_dir = Path(out_dir) if out_dir else default_cache_dir() / "chorales"
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(out_dir))
    if not force and _is_fresh(out_dir, params):
        log.info("%s is up to date", out_dir)
        return out_dir
    songs, split, vocab, report = load_chorales(workers=workers, progress=progress, seed=seed,
                                                limit=limit)
    manifest = {"parameters": params, "parsing": report, "windows": {"bars": None}}
    corpus = corpus_from_songs("chorales", songs, vocab, VOICES, CHORALE_SLOTS, split, manifest)
    return _prepare(corpus, out_dir, [0, 1, 2, 3] if tokens else [], progress)


def _summary(values: np.ndarray) -> dict:
    return {"distinct": len(np.unique(values)), "min": int(values.min()), "max": int(values.max())}


def describe_corpus(corpus: Corpus | str | Path, bars: int | None | Literal["default"] = "default",
                    progress: bool = False) -> dict:
    """Counts, lengths, label vocabularies, alignment summary and context statistics (distinct
    REP, KEY and BIN values per window: mean and max) of a corpus (or its folder or name);
    ``bars`` as in :meth:`Corpus.windows` (default: the corpus's recommended windows)."""
    from tqdm.auto import tqdm

    if bars != "default" and bars is not None and bars < 1:
        raise ValueError(f"bars must be >= 1, got {bars}")
    corpus = corpus if isinstance(corpus, Corpus) else load_corpus(corpus)
    bars = corpus.manifest.get("windows", {}).get("bars") if bars == "default" else bars
    lengths = np.diff(corpus.arrays["step_offsets"])
    per_piece = [corpus.labels(i) for i in range(len(corpus))]
    info: dict[str, Any] = {
        "corpus": corpus.name, "songs_total": len(corpus),
        "songs": {s: len(corpus.songs_in(s)) for s in SPLIT_NAMES},
        "windows": {f"{b or 'whole'}": {s: len(corpus.windows(s, b)) for s in SPLIT_NAMES}
                    for b in dict.fromkeys([bars, 16, 64])},
        "steps": {"min": int(lengths.min()), "mean": float(lengths.mean()),
                  "max": int(lengths.max())},
        "chord_vocabulary": len(corpus.vocab),
        "labels": {k: _summary(np.concatenate([lab[k] for lab in per_piece])) for k in
                   ("chord", "key_chord", "chroma", "root", "melody", "phrase", "key", "tempo")},
    }
    counts: dict[str, list[int]] = {"rep": [], "key": [], "bin": []}
    for song, start, size in tqdm(corpus.windows(None, bars), desc="windows", disable=not progress):
        lab = per_piece[song]
        for ctx, k in (("rep", "chord"), ("key", "key_chord"), ("bin", "chroma")):
            counts[ctx].append(len(np.unique(lab[k][start : start + size])))
    info["contexts"] = {"window_bars": bars or "whole"}
    for k, v in counts.items():
        info["contexts"][k] = {"mean": float(np.mean(v)) if v else 0.0, "max": max(v, default=0)}
    if "alignment" in corpus.manifest:
        al = dict(corpus.manifest["alignment"])
        al["below_threshold"] = [d["song"] for d in al["below_threshold"]]
        info["alignment"] = al
    if "parsing" in corpus.manifest:
        info["parsing"] = corpus.manifest["parsing"]
    return info
