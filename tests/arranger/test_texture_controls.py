"""The texture controls of `stripes harmonize` on the shipped POP909 onset harmonizer: a higher
density strikes more notes, a variation strikes another figure, and every arrangement is checked."""

from pathlib import Path

import numpy as np
import pytest

from stripes.arranger.arrange import arrange_song

EXAMPLE = Path(__file__).parents[2] / "examples" / "ode_to_joy"


def piano_onsets(arrangement) -> int:
    """Notes begun in the piano slot (the frames of a decoded onset model show every strike)."""
    piano = arrangement.roll[:, 256:]
    before = np.zeros_like(piano)
    before[1:] = piano[:-1]
    return int((piano & ~before).sum())


@pytest.fixture(scope="module")
def arrangements():
    def arrange(**kw):
        return arrange_song("pop909", EXAMPLE / "melody.mid", chords=EXAMPLE / "chords.txt", **kw)

    return {"plain": arrange(), "dense": arrange(density=3.0), "sparse": arrange(density=0.3),
            "variation": arrange(seed=1)}


def test_density_moves_how_often_the_piano_strikes(arrangements):
    counts = {k: piano_onsets(a) for k, a in arrangements.items()}
    assert counts["sparse"] < counts["plain"] < counts["dense"], counts


def test_a_variation_is_another_arrangement_with_its_own_sanity_check(arrangements):
    plain, other = arrangements["plain"], arrangements["variation"]
    assert not np.array_equal(plain.roll[:, 256:], other.roll[:, 256:])
    assert np.array_equal(plain.roll[:, :128], other.roll[:, :128])   # the melody is the user's
    for name, a in arrangements.items():
        assert a.binarization["figure_share"] > 0       # the piano is decoded as a figure
        assert a.sanity["pass"], (name, a.sanity)


def test_bad_texture_values_are_refused():
    with pytest.raises(ValueError, match="density"):
        arrange_song("pop909", EXAMPLE / "melody.mid", chords=EXAMPLE / "chords.txt",
                     density=0.0)
