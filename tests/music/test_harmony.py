"""Beat-level functional chord labels on hand-made four-voice beats: non-chord tones are dropped,
the chord is read once per beat, and a label says which chord, not the voices' pitch classes."""

import numpy as np

from stripes.music.harmony import beat_bounds, functional_chords

Q = 16  # steps per quarter note = one beat
C, D, E, F, G, A, B = 0, 2, 4, 5, 7, 9, 11


def beats(n: int) -> np.ndarray:
    """The beat label ``[n * Q]`` of ``n`` beats from a downbeat."""
    return np.repeat(np.arange(n) % 4, Q)


def notes(*rows) -> np.ndarray:
    """``[N, 4]`` (track 0..3 = S, A, T, B; start; duration; MIDI pitch)."""
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def pcs(chroma: int) -> set[int]:
    return {k for k in range(12) if chroma >> k & 1}


def read(rows, n_beats=1) -> tuple[list[int], list[set[int]]]:
    """Root pitch class and chord pitch classes of every beat."""
    lab = functional_chords(notes(*rows), beats(n_beats))
    at = np.arange(n_beats) * Q
    return [int(r) - 1 for r in lab["root"][at]], [pcs(int(k) % 4096) for k in lab["chord"][at]]


def test_a_passing_tone_in_the_alto_is_not_in_the_c_major_label():
    # S G4, A E4 -> (D4 passing, second eighth) -> ..., T C4, B C3: one C major beat
    rows = [(0, 0, Q, 67), (1, 0, Q // 2, 64), (1, Q // 2, Q // 2, 62), (2, 0, Q, 60),
            (3, 0, Q, 48)]
    roots, chords = read(rows)
    assert roots == [C] and chords == [{C, E, G}]


def test_the_label_is_the_chord_not_the_voices():
    # C major with the fifth omitted (C C E C): the label still holds G; its key is root position
    rows = [(0, 0, Q, 72), (1, 0, Q, 64), (2, 0, Q, 60), (3, 0, Q, 48)]
    lab = functional_chords(notes(*rows), beats(1))
    assert pcs(int(lab["chord"][0]) % 4096) == {C, E, G}
    assert int(lab["chord"][0]) // 4096 == C + 1 and int(lab["root"][0]) == C + 1


def test_a_suspension_resolving_reads_the_chord_it_resolves_into():
    # beat 1: C major; beat 2: G in the bass, the soprano holds C (4-3 suspension) an eighth and
    # resolves to B: G major without the C
    rows = [(0, 0, Q + Q // 2, 72), (0, Q + Q // 2, Q // 2, 71), (1, 0, Q, 67), (1, Q, Q, 67),
            (2, 0, Q, 64), (2, Q, Q, 62), (3, 0, Q, 48), (3, Q, Q, 43)]
    roots, chords = read(rows, 2)
    assert roots == [C, G] and chords == [{C, E, G}, {G, B, D}]


def test_a_dominant_seventh_keeps_its_seventh():
    # G B D F over G: the seventh lasts the whole beat, so it is a chord tone
    rows = [(0, 0, Q, 77), (1, 0, Q, 71), (2, 0, Q, 62), (3, 0, Q, 43)]
    roots, chords = read(rows)
    assert roots == [G] and chords == [{G, B, D, F}]


def test_an_eighth_note_passing_seventh_is_not_a_chord_tone():
    rows = [(0, 0, Q // 2, 79), (0, Q // 2, Q // 2, 77), (1, 0, Q, 71), (2, 0, Q, 62),
            (3, 0, Q, 43)]
    roots, chords = read(rows)
    assert roots == [G] and chords == [{G, B, D}]


def test_a_bass_moving_on_the_off_beat_gives_one_label_for_the_beat():
    # the bass steps C3 -> B2 on the second eighth (a passing tone to A2 on the next beat):
    # the beat is one C major chord; the next beat, over A, is A minor
    rows = [(0, 0, 2 * Q, 72), (1, 0, Q, 67), (1, Q, Q, 64), (2, 0, Q, 64), (2, Q, Q, 60),
            (3, 0, Q // 2, 48), (3, Q // 2, Q // 2, 47), (3, Q, Q, 45)]
    lab = functional_chords(notes(*rows), beats(2))
    assert len(np.unique(lab["chord"][:Q])) == 1  # at most one label per beat
    roots, chords = read(rows, 2)
    assert roots == [C, A] and chords == [{C, E, G}, {A, C, E}]


def test_a_chord_held_over_beats_is_one_label_and_silence_has_none():
    rows = [(0, 0, 2 * Q, 67), (1, 0, 2 * Q, 64), (2, 0, 2 * Q, 60), (3, 0, 2 * Q, 48)]
    lab = functional_chords(notes(*rows), beats(3))
    assert len(np.unique(lab["chord"][: 2 * Q])) == 1 and lab["chord"][0] > 0
    assert not lab["chord"][2 * Q:].any() and not lab["root"][2 * Q:].any()


def test_beats_are_the_runs_of_the_beat_label_a_pickup_included():
    beat = np.concatenate([np.full(8, 3), np.repeat([0, 1], Q)])  # an eighth-note pickup
    np.testing.assert_array_equal(beat_bounds(beat), [0, 8, 8 + Q, 8 + 2 * Q])
