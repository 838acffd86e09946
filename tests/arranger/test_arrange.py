"""``stripes harmonize``: a user's melody + chords in, an arrangement MIDI out; clear errors."""

from dataclasses import replace

import pytest
import symusic

from stripes.arranger.demo import fast_config
from stripes.cli import main
from stripes.tasks.harmonization.train import train_harmonizer


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, chorale_cache):
    out = tmp_path_factory.mktemp("harmonizer")
    cfg = replace(fast_config(), run=replace(fast_config().run, cache_dir=str(chorale_cache)))
    train_harmonizer(cfg, out, progress=False)
    return out


@pytest.fixture(autouse=True)
def _cache(chorale_cache, monkeypatch):
    """A run folder's chord vocabulary comes from the corpus in the caller's cache (the run
    folder never names one)."""
    monkeypatch.setenv("STRIPES_CACHE", str(chorale_cache))


def _song(path, meter=(4, 4), with_chords=True):
    score = symusic.Score(16)
    score.time_signatures.append(symusic.TimeSignature(0, *meter))
    score.tempos.append(symusic.Tempo(0, 96.0))
    mel = symusic.Track(name="MELODY")
    for i, pitch in enumerate([72, 74, 76, 77, 79, 77, 76, 74]):
        mel.notes.append(symusic.Note(i * 16, 16, pitch, 80))
    score.tracks.append(mel)
    if with_chords:
        ch = symusic.Track(name="CHORDS")
        for beat, triad in enumerate([(48, 52, 55)] * 4 + [(43, 47, 50)] * 4):
            for p in triad:
                ch.notes.append(symusic.Note(beat * 16, 16, p, 60))
        score.tracks.append(ch)
    score.dump_midi(str(path))
    return path


def test_harmonize_with_a_chord_track_writes_an_arrangement(run_dir, tmp_path):
    out = tmp_path / "out.mid"
    rc = main(
        [
            "harmonize",
            str(_song(tmp_path / "song.mid")),
            "--checkpoint",
            str(run_dir),
            "--chord-track",
            "CHORDS",
            "--out",
            str(out),
        ]
    )
    assert rc == 0 and out.exists() and out.with_suffix(".png").stat().st_size > 1000
    assert out.with_suffix(".wav").stat().st_size > 1000
    back = symusic.Score(str(out))
    names = [t.name for t in back.tracks]  # a chorale harmonizer: its voices, silent ones left out
    assert names[0] == "Soprano" and set(names) <= {"Soprano", "Alto+Tenor", "Bass"}
    assert back.tempos[0].qpm == pytest.approx(96.0)  # the input's tempo is kept
    pitches = sorted(n.pitch for n in back.tracks[0].notes)
    assert pitches == sorted([72, 74, 76, 77, 79, 77, 76, 74])  # the melody is kept


def test_harmonize_with_a_chords_file(run_dir, tmp_path):
    chords = tmp_path / "chords.txt"
    chords.write_text("C:maj [0, 4, 7] 0 4\nG:maj [2, 7, 11] 7 4\n")
    out = tmp_path / "file.mid"
    assert (
        main(
            [
                "harmonize",
                str(_song(tmp_path / "s.mid", with_chords=False)),
                "--checkpoint",
                str(run_dir),
                "--chords",
                str(chords),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.exists()


@pytest.mark.parametrize(
    "case,message",
    [
        ("meter", "meter 3/4"),
        ("no_melody", "no track named 'VOCALS'"),
        ("bad_chords", "chord line"),
    ],
)
def test_bad_inputs_get_clear_errors(run_dir, tmp_path, capsys, case, message):
    song = _song(tmp_path / "x.mid", meter=(3, 4) if case == "meter" else (4, 4))
    args = ["harmonize", str(song), "--checkpoint", str(run_dir), "--out", str(tmp_path / "o.mid")]
    if case == "no_melody":
        args += ["--chord-track", "CHORDS", "--melody-track", "VOCALS"]
    elif case == "bad_chords":
        bad = tmp_path / "bad.txt"
        bad.write_text("C:maj 0 4 7\n")
        args += ["--chords", str(bad)]
    else:
        args += ["--chord-track", "CHORDS"]
    assert main(args) == 2
    assert message in capsys.readouterr().err
