"""Structure labels as input features: chord bits, root one-hot, beat and sixteenth one-hots."""

import numpy as np
import pytest

from stripes.music.structure import FEATURE_DIMS, check_features, structure_features


def labels(n=40, start_in_beat=0):
    steps = np.arange(n) + start_in_beat
    return {"chord": np.zeros(n, np.int64), "root": np.where(steps < 16, 1, 8),
            "chroma": np.where(steps < 16, 0b10010001, 0), "beat": (steps // 16) % 4}


def test_chroma_root_and_meter_columns_are_the_labels_one_hot():
    f = structure_features(labels(), ("chroma", "root", "meter"))
    assert f.shape == (40, sum(FEATURE_DIMS.values())) and f.dtype == np.float32
    assert list(np.flatnonzero(f[0, :12])) == [0, 4, 7]          # C major: C, E, G
    assert list(np.flatnonzero(f[0, 12:24])) == [0] and list(np.flatnonzero(f[20, 12:24])) == [7]
    assert f[20, :12].sum() == 0                                 # no chord bits, root G kept
    beat, sixteenth = f[:, 24:28].argmax(1), f[:, 28:].argmax(1)
    assert list(beat[[0, 15, 16, 39]]) == [0, 0, 1, 2]
    assert list(sixteenth[[0, 3, 4, 15, 16, 20]]) == [0, 0, 1, 3, 0, 1]


def test_a_window_starting_mid_beat_gets_its_phase_from_the_first_beat_change():
    f = structure_features(labels(40, start_in_beat=6), ("meter",))
    sixteenth = f[:, 4:].argmax(1)
    assert list(sixteenth[[0, 1, 2, 10]]) == [1, 1, 2, 0]        # steps 6, 7, 8, 16 of the beat


def test_unknown_feature_names_are_refused_with_the_valid_ones():
    assert check_features(("chroma", "meter")) == 20
    with pytest.raises(ValueError, match="choose from"):
        structure_features(labels(), ("chords",))
