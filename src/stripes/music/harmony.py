"""Beat-level chord labels from a functional reading of a four-voice texture (the chorales).

Reading every vertical sonority as a chord (``chordify`` at each 16th step) labels passing tones
as harmony: the label then equals the pitch classes of the voices on every step and changes
exactly where a voice moves, so a decoder that only voices the labels copies the answer. This
module reads one chord per beat, as a harmony analysis would:

1. **Weights.** On a beat ``[lo, hi)`` every note that sounds adds its overlap with the beat, as
   a share of the beat, to the weight ``w[pc]`` of its pitch class; the bass note sounding at the
   beat's first step counts ``BASS_WEIGHT`` times (the bass on the beat carries the harmony; a
   bass passing tone after the beat weighs as any other short note).
2. **Templates.** Every root ``r`` (0..11) and every shape of :data:`SHAPES` (major, minor and
   diminished triads; dominant, minor, major, half-diminished and diminished sevenths) is scored
   ``sum(w in template) - sum(w outside) - MISSING_COST * (template tones with w = 0)
   - SEVENTH_COST * (shape has a seventh) + ROOT_BONUS * (the beat's heaviest bass pitch class is
   r)``. Taking a tone of weight ``w`` into the template gains ``2 w``, so with the seventh's
   extra cost a seventh chord is read only where its seventh lasts more than 5/8 of the beat (a
   quarter or a dotted eighth, or the bass on the beat): an eighth-note passing seventh stays a
   non-chord tone. Ties go to the first template in (root, shape) order.
3. **Label.** The beat's label is the best template's root and *all* of its tones (a fifth no
   voice sings is still in the chord): non-chord tones (passing and neighbour tones, suspensions,
   appoggiaturas, anticipations) are the pitch classes outside the template and are dropped. The
   label's bass is its root (a root-position key ``(root + 1) * 4096 + chroma``), so the label
   says which chord, not which inversion the bass sings. A beat where nothing sounds has no chord.

One label per beat; equal labels of consecutive beats form one chord lasting several beats.
Beats are the runs of the ``beat`` label (a pickup starts mid-bar on its own beat).
"""

from __future__ import annotations

import numpy as np

from stripes.music.chords import chord_keys

#: Chord shapes as intervals above the root; the first three are triads, the rest sevenths.
SHAPES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6),
    "7": (0, 4, 7, 10), "min7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11), "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
}
BASS_WEIGHT = 2.0
MISSING_COST = 0.25
SEVENTH_COST = 1.25
ROOT_BONUS = 0.5


def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(masks [R*S, 12] bool, roots [R*S], sevenths [R*S] bool)`` of every root and shape."""
    masks, roots, sevenths = [], [], []
    for root in range(12):
        for shape in SHAPES.values():
            mask = np.zeros(12, dtype=bool)
            mask[[(root + i) % 12 for i in shape]] = True
            masks.append(mask)
            roots.append(root)
            sevenths.append(len(shape) == 4)
    return np.array(masks), np.array(roots), np.array(sevenths)


MASKS, ROOTS, SEVENTHS = _templates()


def beat_weights(notes: np.ndarray, lo: int, hi: int, bass_track: int) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    """``(w [12], bass_w [12])``: duration weights of the pitch classes sounding in ``[lo, hi)``
    (shares of the beat; the bass note on the beat's first step counted ``BASS_WEIGHT`` times
    in ``w``) and of the bass voice alone. notes: ``[N, 4]`` (track, start, duration, pitch)."""
    start, end = notes[:, 1], notes[:, 1] + notes[:, 2]
    overlap = (np.minimum(end, hi) - np.maximum(start, lo)).clip(min=0) / (hi - lo)
    is_bass = notes[:, 0] == bass_track
    on_beat = is_bass & (start <= lo) & (end > lo)
    pcs = notes[:, 3] % 12
    w = np.bincount(pcs, overlap * np.where(on_beat, BASS_WEIGHT, 1.0), minlength=12)
    bass_w = np.bincount(pcs, overlap * is_bass, minlength=12)
    return w, bass_w


def best_chord(w: np.ndarray, bass_w: np.ndarray) -> tuple[int, int]:
    """``(root pc, chroma)`` of the best template for weights ``w [12]`` and bass weights
    ``bass_w [12]`` (the score of the module docstring); ``(-1, 0)`` when nothing sounds."""
    if not w.any():
        return -1, 0
    inside = MASKS @ w
    score = inside - (w.sum() - inside) - MISSING_COST * (MASKS & (w == 0)).sum(axis=1)
    score = score - SEVENTH_COST * SEVENTHS
    if bass_w.any():
        score = score + ROOT_BONUS * (ROOTS == int(np.argmax(bass_w)))
    k = int(np.argmax(score))  # the first maximum: ties go to (root, shape) order
    return int(ROOTS[k]), int((1 << np.flatnonzero(MASKS[k])).sum())


def beat_bounds(beat: np.ndarray) -> np.ndarray:
    """Beat starts and the end ``[K+1]`` of a per-step beat label ``[T]`` (its runs)."""
    beat = np.asarray(beat)
    change = np.flatnonzero(beat[1:] != beat[:-1]) + 1
    return np.concatenate([[0], change, [len(beat)]]).astype(np.int64)


def functional_chords(notes: np.ndarray, beat: np.ndarray, bass_track: int = 3
                      ) -> dict[str, np.ndarray]:
    """Per-step chord keys (``(root + 1) * 4096 + chroma``; 0 = no chord) and roots (pc + 1)
    ``[T]``, one chord per beat read as the module docstring says.

    notes: ``[N, 4]`` int (track, start step, duration, MIDI pitch); beat: ``[T]`` the beat of
    each step (its runs are the beats); bass_track: the track of the bass voice.
    """
    n_steps = len(beat)
    key = np.zeros(n_steps, dtype=np.int64)
    root = np.zeros(n_steps, dtype=np.int64)
    bounds = beat_bounds(beat)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        r, chroma = best_chord(*beat_weights(notes, int(lo), int(hi), bass_track))
        if r >= 0:
            key[lo:hi] = chord_keys(r + 1, chroma)
            root[lo:hi] = r + 1
    return {"chord": key, "root": root}
