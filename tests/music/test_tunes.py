"""Tune similarity without music21: a transposed, re-ornamented setting of a tune under another
title joins its group, a different tune does not, and exact repeats are found."""

import numpy as np

from stripes.music.tunes import (
    duplicate_of,
    edit_distances,
    link_tunes,
    melody_similarity,
    melody_skeleton,
)

Q = 16
TUNE = [67, 67, 69, 71, 71, 69, 67, 66, 64, 66, 67, 67, 74, 72, 71, 69, 67]


def melody_of(pitches, passing: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(melody [T], beat [T])``: one pitch per beat; ``passing`` adds an eighth-note passing
    tone between beats a third apart (an ornament, not a change of tune)."""
    melody = np.repeat(np.asarray(pitches), Q)
    if passing:
        for k in range(len(pitches) - 1):
            if abs(pitches[k + 1] - pitches[k]) in (3, 4):
                melody[k * Q + Q // 2:(k + 1) * Q] = (pitches[k] + pitches[k + 1]) // 2
    return melody, np.repeat(np.arange(len(pitches)) % 4, Q)


def test_edit_distances_match_a_hand_count():
    others = [np.array([1, 2, 3]), np.array([1, 3]), np.array([]), np.array([0, 1, 2, 3, 4])]
    np.testing.assert_array_equal(edit_distances(np.array([1, 2, 3]), others), [0, 1, 3, 2])


def test_the_skeleton_ignores_key_ornaments_and_repeated_notes():
    plain = melody_skeleton(*melody_of(TUNE))
    moved = melody_skeleton(*melody_of([p - 5 for p in TUNE], passing=True))
    np.testing.assert_array_equal(plain, moved)
    assert plain[0] == 2  # G G A: the repeated G is one note
    assert melody_similarity(plain, [moved])[0] == 1.0


def test_a_transposed_tune_under_another_title_shares_the_group():
    variant = TUNE[:8] + [65] + TUNE[9:]  # one note changed, a fourth lower
    other = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 60, 62]
    skeletons = [melody_skeleton(*melody_of(m)) for m in
                 (TUNE, [p - 5 for p in variant], other, other)]
    titles = ["Was Gott tut, das ist wohlgetan", "Es woll uns Gott genädig sein", "Other",
              "other"]  # the last: the same title in another case and punctuation
    groups, links = link_tunes(titles, skeletons)
    assert groups.tolist() == [0, 0, 1, 1]
    assert links == [(0, 1)]  # joined by the tune; 2-3 were joined by the title


def test_duplicates_are_a_name_listed_twice_or_the_same_notes_transposed():
    a = np.array([[0, 0, 16, 67], [3, 0, 16, 48]])
    b = np.array([[0, 0, 16, 60], [3, 0, 16, 41]])  # a, a fifth lower
    c = np.array([[0, 0, 16, 60], [3, 0, 16, 48]])
    assert duplicate_of(["x", "y", "x", "z"], [a, b, c, c]) == [-1, 0, 0, 2]
