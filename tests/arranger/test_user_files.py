"""The user's music and files are sacred: the melody note for note, the tempo map, the exact
output path, no input replaced, nothing half-written (docs/cli.md, "Your files")."""

from pathlib import Path

import pytest
import symusic

from stripes.cli import main
from stripes.music.audio import wav_stats

TPQ = 480  # a sequencer's grid, finer than the model's 16 per quarter


def _notes(track) -> list[tuple[int, int, int, int]]:
    return sorted((n.time, n.duration, n.pitch, n.velocity) for n in track.notes)


def _song(path: Path, *, drums=False, chord_part=False, zero=False) -> Path:
    """Four 4/4 bars, 90 qpm slowing to 45 qpm at bar 3: repeated notes (E E F G), two
    overlapping notes of one pitch, a velocity per note, off-grid onsets."""
    score = symusic.Score(TPQ)
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    score.tempos.append(symusic.Tempo(0, 90.0))
    score.tempos.append(symusic.Tempo(2 * 4 * TPQ, 45.0))
    mel = symusic.Track(name="Voice", program=0)
    q = TPQ
    line = [(0, q, 64), (q, q, 64), (2 * q, q, 65), (3 * q, q, 67),  # E E F G, struck twice
            (4 * q + 7, 2 * q, 67), (5 * q, 2 * q, 67),  # one pitch overlapping itself
            (8 * q, q // 2, 69), (8 * q + q // 2, q // 2, 69), (9 * q, 3 * q, 72),
            (12 * q, 4 * q, 71)]
    for k, (t, d, p) in enumerate(line):
        mel.notes.append(symusic.Note(t, d, p, 30 + 7 * k))
    if zero:
        mel.notes.append(symusic.Note(13 * q, 0, 80, 50))
    if chord_part:  # a second voice under the melody, in the same track
        mel.notes.append(symusic.Note(12 * q, 4 * q, 62, 60))
    score.tracks.append(mel)
    if drums:
        kit = symusic.Track(name="Kit", program=0, is_drum=True)
        for b in range(16):
            kit.notes.append(symusic.Note(b * q, q // 4, 36, 100))
        score.tracks.append(kit)
    score.dump_midi(str(path))
    return path


def _chords(path: Path) -> Path:
    path.write_text("C:maj [0, 4, 7] 0 8\nG:maj [7, 11, 2] 7 8\n")
    return path


def _harmonize(tmp: Path, song: Path, out: Path, *extra: str) -> int:
    return main(["harmonize", str(song), "--checkpoint", "chorales", "--chords",
                 str(_chords(tmp / "chords.txt")), "--out", str(out), *extra])


def test_the_melody_is_the_users_notes_and_the_tempo_map_is_kept(tmp_path, capsys):
    song = _song(tmp_path / "song.mid", drums=True)
    out = tmp_path / "arranged.midi"
    assert _harmonize(tmp_path, song, out) == 0
    assert out.is_file() and not out.with_suffix(".mid").exists()  # .midi stays .midi
    before, after = symusic.Score(str(song)), symusic.Score(str(out))
    assert after.ticks_per_quarter == TPQ
    assert _notes(after.tracks[0]) == _notes(before.tracks[0])  # onsets, lengths, velocities
    assert [(t.time, t.qpm) for t in after.tempos] == [(t.time, t.qpm) for t in before.tempos]
    assert [(t.time, t.numerator, t.denominator) for t in after.time_signatures] == [(0, 4, 4)]
    assert "Kit" not in [t.name for t in after.tracks]
    assert "'Kit' is a drum track" in capsys.readouterr().err
    # two bars at 90 qpm (5.33 s) and two at 45 (10.67 s), not 16 beats at one tempo
    seconds = wav_stats(out.with_suffix(".wav"))["seconds"]
    assert seconds == pytest.approx(16.0 + 1.0, abs=0.3)


def test_outputs_never_replace_inputs_and_existing_files_need_overwrite(tmp_path, capsys):
    song = _song(tmp_path / "song.mid")
    original = song.read_bytes()
    assert _harmonize(tmp_path, song, song, "--overwrite") == 2  # the input itself
    assert "also an input" in capsys.readouterr().err
    out = tmp_path / "song.midi"
    assert _harmonize(tmp_path, song, out) == 0
    png = out.with_suffix(".png")
    mark = b"the user's own picture"
    png.write_bytes(mark)
    assert _harmonize(tmp_path, song, out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err
    assert png.read_bytes() == mark and song.read_bytes() == original
    assert _harmonize(tmp_path, song, out, "--overwrite") == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_an_interrupted_arrangement_leaves_no_partial_set(tmp_path, capsys, monkeypatch):
    import stripes.arranger.render as render

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "plot_arrangement", interrupted)  # after the MIDI and WAV
    song = _song(tmp_path / "song.mid")
    out = tmp_path / "out.mid"
    assert _harmonize(tmp_path, song, out) == 130
    err = capsys.readouterr().err
    assert err.strip() == "stripes: interrupted: no file was left half-written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chords.txt", "song.mid"]


def test_a_polyphonic_melody_is_reduced_to_its_top_line_with_a_warning(tmp_path, capsys):
    song = _song(tmp_path / "song.mid", chord_part=True, zero=True)
    out = tmp_path / "out.mid"
    assert _harmonize(tmp_path, song, out) == 0
    err = capsys.readouterr().err
    assert "'Voice' is polyphonic" in err and "top line" in err
    assert "1 zero-length notes" in err
    assert _notes(symusic.Score(str(out)).tracks[0]) == _notes(symusic.Score(str(song)).tracks[0])


def test_the_melody_track_is_chosen_by_name_and_a_drum_track_is_refused(tmp_path, capsys):
    song = _song(tmp_path / "song.mid", drums=True)
    assert _harmonize(tmp_path, song, tmp_path / "a.mid", "--melody-track", "kit") == 2
    assert "'Kit' is a drum track" in capsys.readouterr().err
    assert _harmonize(tmp_path, song, tmp_path / "b.mid", "--melody-track", "voice") == 0
