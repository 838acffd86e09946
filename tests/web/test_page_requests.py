"""The page's requests without a browser: typed chords, limits, errors and warnings in words, and
two requests at once each in its own folder."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import symusic

from stripes.music.chord_symbols import chord_file_text, parse_progression
from stripes.music.chords import parse_chord_line
from stripes.music.errors import LabelParseError
from stripes.web.inputs import ChordsInput, Limits, typed_chords
from stripes.web.messages import warning_message
from stripes.web.page import PageRequest, run_request


def _melody(path: Path, bars: int = 2, meter=(4, 4), pitch: int = 72) -> Path:
    score = symusic.Score(16)
    score.time_signatures.append(symusic.TimeSignature(0, *meter))
    score.tempos.append(symusic.Tempo(0, 100.0))
    track = symusic.Track(name="melody")
    for beat in range(bars * 4):
        track.notes.append(symusic.Note(beat * 16, 16, pitch + (beat % 3) * 2, 80))
    score.tracks.append(track)
    score.dump_midi(str(path))
    return path


def test_typed_symbols_become_chord_file_rows_the_arranger_reads():
    rows = chord_file_text(parse_progression("C G7/B | Am*3 F | N")).splitlines()
    parsed = [parse_chord_line(r) for r in rows]
    assert [(c.root, c.bass, c.beats) for c in parsed] == [
        (0, 0, 2), (7, 11, 2), (9, 9, 3), (5, 5, 1), (-1, -1, 4)]
    assert [c.beats for c in parse_progression("C G Am*2 F*2")] == [4, 4, 2, 2]
    assert parsed[0].chroma == (1 << 0) | (1 << 4) | (1 << 7)


def test_a_bar_that_does_not_fill_four_beats_is_refused_with_its_number():
    with pytest.raises(LabelParseError, match="bar 2"):
        parse_progression("| C | G Am F |")
    with pytest.raises(LabelParseError, match="not a chord symbol: 'Hm'"):
        parse_progression("C Hm")


def test_repeated_chords_cover_the_song_and_stop_at_its_end():
    chords = typed_chords("C G Am*2", 5, repeat=True, limits=Limits())
    assert sum(c.beats for c in chords) == 20
    assert [c.name for c in chords][:4] == ["C:maj", "G:maj", "A:min", "C:maj"]


def test_the_coverage_warning_speaks_in_bars():
    text = ("the chords end at bar 5 but the melody runs to bar 16: steps 256..1023 are treated "
            "as no chord")
    said = warning_message(text)
    assert "bar 5" in said and "bar 16" in said and "steps" not in said


def test_an_unknown_warning_is_kept_not_dropped():
    assert warning_message("something new") == "Something new"


@pytest.mark.parametrize("case, expected", [
    ("not_midi", "not a MIDI file"),
    ("three_four", "3/4"),
    ("too_long", "arranges up to 4 bars"),
    ("bad_chords", "not a chord symbol"),
    ("no_midi", "Please give the melody MIDI file"),
])
def test_a_bad_request_is_answered_in_words_without_server_paths(tmp_path, case, expected):
    midi = {"not_midi": tmp_path / "song.mid", "three_four": _melody(tmp_path / "w.mid",
            meter=(3, 4)), "too_long": _melody(tmp_path / "l.mid", bars=6),
            "bad_chords": _melody(tmp_path / "b.mid"), "no_midi": None}[case]
    if case == "not_midi":
        midi.write_text("this is not MIDI")
    folder = tmp_path / "request"
    folder.mkdir()
    chords = ChordsInput("typed", "C Hm" if case == "bad_chords" else "C G")
    result = run_request(PageRequest(midi=midi, chords=chords, model="pop909"), folder,
                         Limits(max_bars=4))
    assert not result.ok and expected in result.status
    assert str(tmp_path) not in result.status and "Traceback" not in result.status


def test_two_requests_at_once_keep_their_own_files(tmp_path):
    results = {}

    def one(name: str, pitch: int) -> None:
        folder = tmp_path / name
        folder.mkdir()
        midi = _melody(tmp_path / f"{name}.mid", pitch=pitch)
        request = PageRequest(midi=midi, chords=ChordsInput("typed", "C G"), model="pop909")
        results[name] = run_request(request, folder, Limits())

    threads = [threading.Thread(target=one, args=(n, p)) for n, p in (("a", 60), ("b", 72))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for name, pitch in (("a", 60), ("b", 72)):
        res = results[name]
        assert res.ok, res.status
        assert res.midi is not None and res.midi.parent == tmp_path / name
        melody = symusic.Score(str(res.midi)).tracks[0]
        assert min(n.pitch for n in melody.notes) == pitch  # its own melody, not the other's
