"""Bach chorales of the music21 corpus (Riemenschneider numbering) in the POP909 sample schema.

Tracks are the voices Soprano, Alto, Tenor, Bass (the harmonization input is the soprano in the
melody slot; see ``docs/data.md`` for the slot layout). Labels: melody = soprano pitch; chords
one per beat from a functional reading of the four voices, non-chord tones removed
(:mod:`stripes.music.harmony`; id of ``[root+1, chroma]``); phrases end at soprano fermatas and
take letters by content (equal soprano phrases share a letter); key from the score's first
``Key``. Only 4/4 chorales with the four named voices are kept; a file listed twice (or the same
notes under another name) is kept once, and the split keeps the settings of one tune (same title
or same soprano up to transposition, :mod:`stripes.music.tunes`) on one side.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from stripes.extras import needs
from stripes.music.chords import ChordVocabulary, chord_keys, tones_to_chroma
from stripes.music.errors import MissingTrackError
from stripes.music.harmony import functional_chords
from stripes.music.midi_io import STEPS_PER_QUARTER, check_meter
from stripes.music.structure import PHRASE_LETTERS, Song, map_pieces, segment_labels, tempo_bucket
from stripes.music.tunes import TUNE_THRESHOLD, duplicate_of, link_tunes, melody_skeleton

log = logging.getLogger(__name__)
VOICES = ("Soprano", "Alto", "Tenor", "Bass")
CHORD_READINGS = ("functional", "vertical")
DEFAULT_BPM = 80  # no tempo marks in the corpus: bucket 1 (60-89 BPM)


def chorale_files() -> list[str]:
    """Corpus paths of the 371 chorales in Riemenschneider order (``bach/bwv269``, ...)."""
    with needs("music"):
        from music21 import corpus

    return list(corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="filename"))


def chorale_titles() -> dict[str, str]:
    """BWV number (``'269'``) -> hymn title, from music21's chorale list."""
    with needs("music"):
        from music21 import corpus

    table = corpus.chorales.ChoraleListRKBWV().byRiemenschneider
    return {str(row["bwv"]): row["title"] for row in table.values()}


def _steps(quarters) -> int:
    return int(round(float(quarters) * STEPS_PER_QUARTER))


def _voices(score, source: str) -> list:
    """The four SATB parts; :class:`MissingTrackError` if a name is missing."""
    by_name = {(p.partName or "").strip().lower(): p for p in score.parts}
    missing = [v for v in VOICES if v.lower() not in by_name]
    if missing:
        names = [p.partName for p in score.parts]
        raise MissingTrackError(f"{source}: no part named {missing} (parts: {names})")
    return [by_name[v.lower()] for v in VOICES]


def _voice_notes(part) -> np.ndarray:
    """Notes ``[N, 3]`` (start, duration, pitch) of a part, ties merged, grace notes dropped."""
    rows: list[tuple[int, int, int]] = []
    for n in part.stripTies().flatten().notes:
        start, dur = _steps(n.offset), _steps(n.quarterLength)
        rows.extend((start, dur, p.midi) for p in n.pitches if dur > 0)
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _chord_labels(voices, n_steps: int) -> dict[str, np.ndarray]:
    """Per-step chord keys (``bass1 * 4096 + chroma``, ids come later) and roots ``[T]``."""
    with needs("music"):
        from music21 import stream

    key = np.zeros(n_steps, dtype=np.int64)
    root = np.zeros(n_steps, dtype=np.int64)
    for c in stream.Score(list(voices)).chordify().flatten().notes:
        lo, hi = _steps(c.offset), min(_steps(c.offset + c.quarterLength), n_steps)
        pcs = [p.pitchClass for p in c.pitches]
        if hi > lo and pcs:
            key[lo:hi] = chord_keys(c.bass().pitchClass + 1, tones_to_chroma(pcs))
            root[lo:hi] = c.root().pitchClass + 1
    return {"chord": key, "root": root}


def _phrase_labels(soprano_part, melody: np.ndarray, n_steps: int) -> dict[str, np.ndarray]:
    """Segments ending at soprano fermatas, lettered by their soprano content (A, B, ...)."""
    with needs("music"):
        from music21 import expressions

    ends = sorted(
        {
            _steps(n.offset + n.quarterLength)
            for n in soprano_part.flatten().notes
            if any(isinstance(e, expressions.Fermata) for e in n.expressions)
        }
    )
    bounds = np.unique(np.clip([0, *ends, n_steps], 0, n_steps))
    seen: dict[tuple, int] = {}
    letters = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        content = tuple(melody[lo:hi].tolist())
        letter = seen.setdefault(content, len(seen))
        letters.append(PHRASE_LETTERS.index(chr(65 + letter) if letter < 26 else "X"))
    return segment_labels(bounds, np.array(letters), n_steps)


def _bar_labels(soprano_part, n_steps: int) -> dict[str, np.ndarray]:
    """``bar``, ``beat`` ``[T]`` from the measures (a pickup measure is bar 0)."""
    measures = list(soprano_part.getElementsByClass("Measure"))
    starts = np.array([_steps(m.offset) for m in measures])
    pad = np.array([_steps(m.paddingLeft) for m in measures])
    t = np.arange(n_steps)
    bar = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
    return {"bar": bar, "beat": ((t - starts[bar] + pad[bar]) // STEPS_PER_QUARTER) % 4}


def _score_key(score) -> int:
    """Key id ``tonic + 12 * minor`` of the first ``Key`` in the score (else music21's analysis)."""
    keys = list(score.recurse().getElementsByClass("Key"))
    k = keys[0] if keys else score.analyze("key")
    return k.tonic.pitchClass + 12 * (k.mode == "minor")


def read_chorale(path: str, number: int = 0, chords: str = "functional") -> Song:
    """Parse one corpus chorale into a :class:`Song` whose ``labels['chord']`` holds chord *keys*
    (``bass1 * 4096 + chroma``) until :func:`index_chords` replaces them by ids.

    chords: ``"functional"`` (one chord per beat, non-chord tones removed:
    :mod:`stripes.music.harmony`) or ``"vertical"`` (the pitch classes of all four voices at every
    step, passing tones included: the labels the shipped weights of cache version 1 were trained
    on, kept to reproduce them). Raises ValueError for another ``chords``,
    :class:`MissingTrackError` without the four voices and :class:`UnsupportedMeterError` for a
    time signature other than 4/4.
    """
    with needs("music"):
        from music21 import corpus

    if chords not in CHORD_READINGS:
        raise ValueError(f"chords must be one of {CHORD_READINGS}, not {chords!r}")
    score = corpus.parse(path)
    voices = _voices(score, path)
    for ts in score.recurse().getElementsByClass("TimeSignature"):
        check_meter(ts.numerator, ts.denominator, path)
    parts = [_voice_notes(v) for v in voices]
    notes = np.concatenate(
        [np.concatenate([np.full((len(n), 1), k), n], axis=1) for k, n in enumerate(parts)]
    ).astype(np.int32)
    n_steps = int((notes[:, 1] + notes[:, 2]).max())
    melody = np.zeros(n_steps, dtype=np.int64)
    for start, dur, pitch in parts[0]:
        melody[start : start + dur] = pitch
    labels = {"melody": melody, **_bar_labels(voices[0], n_steps)}
    labels.update(_phrase_labels(voices[0], melody, n_steps))
    if chords == "functional":
        labels.update(functional_chords(notes, labels["beat"], bass_track=VOICES.index("Bass")))
    else:
        labels.update(_chord_labels(voices, n_steps))
    marks = list(score.recurse().getElementsByClass("MetronomeMark"))
    bpm = marks[0].number if marks and marks[0].number else DEFAULT_BPM
    downbeat = int(labels["bar"].searchsorted(1)) % 64 if labels["bar"].max() > 0 else 0
    name = path.rsplit("/", 1)[-1]
    return Song(name, number, notes, labels, _score_key(score), tempo_bucket(bpm), downbeat, 0)


def index_chords(songs: Iterable[Song]) -> ChordVocabulary:
    """Build the chord vocabulary of the chorales and replace chord keys by ids, in place."""
    songs = list(songs)
    keys = np.unique(np.concatenate([s.labels["chord"] for s in songs]))
    vocab = ChordVocabulary.from_chords(keys // 4096, keys % 4096)
    for song in songs:
        song.labels["chord"] = vocab.ids_of_keys(song.labels["chord"])
    return vocab


def group_tunes(songs: list[Song], titles: dict[str, str],
                threshold: float = TUNE_THRESHOLD) -> dict:
    """Set ``song.group`` so that chorales with the same hymn title or the same tune (soprano
    skeletons at least ``threshold`` similar, up to transposition: :mod:`stripes.music.tunes`)
    share a group; returns ``{"tune_groups", "melody_links"}`` (the groups' count and the pairs
    of names joined by their tune under different titles)."""
    names = [s.name for s in songs]
    hymns = [titles.get(name.removeprefix("bwv"), name) for name in names]
    skeletons = [melody_skeleton(s.labels["melody"], s.labels["beat"]) for s in songs]
    groups, links = link_tunes(hymns, skeletons, threshold)
    for song, group in zip(songs, groups.tolist(), strict=True):
        song.group = group
    return {"tune_groups": int(groups.max(initial=-1)) + 1,
            "melody_links": [[names[i], names[j]] for i, j in links]}


def drop_duplicates(songs: list[Song]) -> tuple[list[Song], list[str]]:
    """The songs without repeats (a file listed twice, or the same notes up to transposition
    under another name) and the names of the dropped ones."""
    first = duplicate_of([s.name for s in songs], [s.notes for s in songs])
    kept = [s for s, f in zip(songs, first, strict=True) if f < 0]
    dropped = [f"{s.name} (= {songs[f].name})" for s, f in zip(songs, first, strict=True) if f >= 0]
    return kept, dropped


def split_by_group(songs: list[Song], shares=(0.8, 0.1, 0.1), seed: int = 0) -> np.ndarray:
    """Split code per song ``[S]`` (0 train, 1 val, 2 test): whole tune groups, drawn in a seeded
    random order, fill train, then val, then test up to ``shares`` of the songs."""
    groups = np.array([s.group for s in songs])
    order = np.random.default_rng(seed).permutation(np.unique(groups))
    sizes = np.array([np.sum(groups == g) for g in order])
    cum = np.cumsum(sizes) / len(songs)
    code = np.searchsorted(np.cumsum(shares)[:-1], cum - sizes / len(songs) / 2)
    code_of = dict(zip(order.tolist(), code.tolist(), strict=True))
    return np.array([code_of[g] for g in groups.tolist()], dtype=np.int8)


def _try_read(args: tuple[str, int]) -> Song | str:
    """``read_chorale`` for a worker process: the chorale, or ``'path: reason'``."""
    try:
        return read_chorale(*args)
    except ValueError as err:
        return str(err)


def load_chorales(
    *,
    workers: int = 2,
    progress: bool = False,
    shares=(0.8, 0.1, 0.1),
    seed: int = 0,
    limit: int | None = None,
) -> tuple[list[Song], np.ndarray, ChordVocabulary, dict]:
    """Parse the corpus: ``(songs, split [S] (0 train, 1 val, 2 test), vocab, report)``.

    ``report`` lists the skipped files with their reason (meter, missing voices), the dropped
    duplicates, counts tune groups and lists the pairs joined by their tune under other titles;
    ``limit`` parses only the first chorales (for tests).
    """
    files = chorale_files()[:limit]
    parsed = map_pieces(
        _try_read, [(f, n) for n, f in enumerate(files, 1)], workers, progress, "chorales"
    )
    songs, duplicates = drop_duplicates([s for s in parsed if isinstance(s, Song)])
    skipped = [s for s in parsed if isinstance(s, str)]
    vocab = index_chords(songs)
    tunes = group_tunes(songs, chorale_titles())
    split = split_by_group(songs, shares, seed)
    report = {"files": len(files), "kept": len(songs), "duplicates": duplicates, **tunes,
              "skipped": skipped, "chords": "functional"}
    return songs, split, vocab, report
