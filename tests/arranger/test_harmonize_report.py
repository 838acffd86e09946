"""``stripes harmonize`` says what it did: the inputs the model got (the bridge, or what stands in
for it), the chords' roots and span, the sanity check in plain words, the MIDI's exact tracks."""

import re
from pathlib import Path

import numpy as np
import pytest
import symusic

from stripes.arranger.arrange import arrange_song, harmonize_song
from stripes.arranger.notices import no_bridge_notice, render_notices, sanity_notices
from stripes.arranger.song_chords import chord_span_warning, read_chord_track, read_chords_file
from stripes.evaluation.harmonization.sanity import sanity_check
from stripes.music.midi_io import resample_score

BAR = 64  # steps of a 4/4 bar on the 16-per-quarter grid


def midi_track_names(path: Path) -> list[str]:
    """Every track's name as the file stores it (symusic's reader drops empty tracks)."""
    data, names, pos = path.read_bytes(), [], 14
    while pos < len(data):
        size = int.from_bytes(data[pos + 4:pos + 8], "big")
        chunk = data[pos + 8:pos + 8 + size]
        found = re.search(rb"\xff\x03(.)", chunk, re.S)
        if data[pos:pos + 4] == b"MTrk":
            names.append("" if found is None else
                         chunk[found.end():found.end() + found[1][0]].decode("latin-1"))
        pos += 8 + size
    return names


@pytest.mark.parametrize("chords_end,melody_end,expected", [
    (12 * BAR, 16 * BAR, "chords end at bar 12 but the melody goes on to bar 16: bars 13-16 "
                         "get no chord"),
    (15 * BAR, 16 * BAR - 8, "chords end at bar 15 but the melody goes on to bar 16: bar 16 "
                             "gets no chord"),
    (15 * BAR + 16, 16 * BAR, "chords end at beat 1 of bar 16 but the melody goes on to beat 4: "
                              "the rest of bar 16 gets no chord"),
    (20 * BAR, 16 * BAR, "chords go on to bar 20 but the melody ends at bar 16: the chords of "
                         "bars 17-20 are not used (the arrangement ends with the melody)"),
    (17 * BAR, 16 * BAR + 1, None),  # the melody's last step is in bar 17 too
    (16 * BAR, 16 * BAR - 24, None),  # the melody's last note ends inside the chords' last bar
])
def test_chords_that_stop_early_or_run_on_are_said_with_bar_numbers(chords_end, melody_end,
                                                                     expected):
    assert chord_span_warning(chords_end, melody_end) == expected


def test_a_chords_file_gives_the_named_root_not_the_slash_bass(tmp_path):
    path = tmp_path / "chords.txt"
    path.write_text("C/E [0, 4, 7] 4 4\nAm7/G [0, 4, 7, 9] 7 4\nN [] 4\n")
    chords = read_chords_file(path, 2 * BAR)
    assert (chords.root1[:BAR] == 1).all() and (chords.bass1[:BAR] == 5).all()  # C, over E
    assert (chords.root1[BAR:] == 10).all() and (chords.bass1[BAR:] == 8).all()  # A, over G
    assert chords.end == 3 * BAR  # the trailing N bar is the chords' own, past the melody


def test_a_chord_track_gives_the_root_of_its_tones(tmp_path):
    score = symusic.Score(16)
    track = symusic.Track(name="Chords")
    for start, pitches in ((0, (52, 55, 60)), (BAR, (43, 45, 48, 52))):  # C/E, then Am7/G
        for p in pitches:
            track.notes.append(symusic.Note(start, BAR, p, 70))
    score.tracks.append(track)
    chords = read_chord_track(resample_score(score), "chords", 2 * BAR)
    assert chords.root1[0] == 1 and chords.bass1[0] == 5
    assert chords.root1[BAR] == 10 and chords.bass1[BAR] == 8 and chords.end == 2 * BAR


def _pred(piano: np.ndarray) -> np.ndarray:
    out = np.zeros((len(piano), 384), bool)
    out[:, 256:] = piano
    return out


def test_sanity_failures_are_said_in_plain_words():
    n = 6 * BAR
    band = np.zeros((n, 128), bool)
    band[:, 59:68] = True  # nine pitches held for six bars
    root, chroma = np.full(n, 1), np.full(n, 0b10010001)  # C major throughout
    lines = sanity_notices(sanity_check(_pred(band), root, chroma), "the piano")
    assert lines == [
        "sanity check: the piano sounds more than 6 notes at once on 100% of the song (a "
        "playable accompaniment sounds 1-6 notes at once on at least 50% of the steps)",
        "sanity check: the piano holds one note for 6.0 bars (at most 4 expected): it will "
        "sound stuck"]
    silent = sanity_check(_pred(np.zeros((n, 128), bool)), root, chroma)
    assert sanity_notices(silent, "the piano") == ["sanity check: the piano plays no notes at all"]


def test_notes_the_wav_cannot_sound_are_said():
    assert render_notices({"inaudible_notes": 0}) == []
    assert render_notices({"inaudible_notes": 2}) == [
        "2 notes too high to sound in the WAV (fundamental at or above 11025 Hz, half its "
        "sample rate): silent in the WAV, kept in the MIDI"]


def _lead_sheet(tmp_path: Path, bridge: bool) -> tuple[Path, Path]:
    """Four bars: a melody, optionally a bridge answering it; chords for three bars only."""
    score = symusic.Score(16)
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    score.tempos.append(symusic.Tempo(0, 100.0))
    mel, br = symusic.Track(name="Melody"), symusic.Track(name="Bridge")
    for i, pitch in enumerate([72, 74, 76, 77, 79, 77, 76, 74] * 2):
        mel.notes.append(symusic.Note(i * 16, 16, pitch, 80))
        if i % 2:
            br.notes.append(symusic.Note(i * 16 + 8, 8, pitch - 12, 60))
    score.tracks.append(mel)
    if bridge:
        score.tracks.append(br)
    score.dump_midi(str(tmp_path / "song.mid"))
    chords = tmp_path / "chords.txt"
    chords.write_text("C:maj/3 [0, 4, 7] 4 4\nG:maj [2, 7, 11] 7 4\nC:maj [0, 4, 7] 0 4\n")
    return tmp_path / "song.mid", chords


def test_pop909_hears_the_bridge_track_and_the_midi_holds_exactly_its_tracks(tmp_path):
    song, chords = _lead_sheet(tmp_path, bridge=True)
    res = harmonize_song("pop909", song, tmp_path / "out.mid", chords=chords, renderer="builtin")
    assert midi_track_names(Path(res["midi"])) == res["tracks"] == ["Melody", "Bridge", "Piano"]
    back = symusic.Score(str(res["midi"]))
    given = symusic.Score(str(song))
    assert [(n.time, n.pitch) for n in back.tracks[1].notes] == \
        [(n.time, n.pitch) for n in given.tracks[1].notes]  # the user's bridge, note for note
    assert res["arrangement"][:, 128:256].any()  # what the model heard, shown in the picture
    assert no_bridge_notice("pop909") not in res["warnings"]
    assert "chords end at bar 3 but the melody goes on to bar 4: bar 4 gets no chord" in \
        res["warnings"]
    assert (res["labels"]["root"][:BAR] == 1).all()  # C:maj/3 is a C chord over E


def test_without_a_bridge_the_model_hears_an_empty_one_and_says_so_once(tmp_path):
    song, chords = _lead_sheet(tmp_path, bridge=False)
    arrangement = arrange_song("pop909", song, chords=chords)
    assert arrangement.warnings.count(no_bridge_notice("pop909")) == 1
    assert arrangement.track_names == ("Melody", "Piano")
    assert not arrangement.roll[:, 128:256].any()
    assert set(arrangement.sanity) >= {"pass", "failed", "reasons", "figures"}
    assert [w for w in arrangement.warnings if w.startswith("sanity check:")] == \
        sanity_notices(arrangement.sanity, "the piano")


def test_a_bridge_track_for_the_chorale_harmonizer_is_refused(tmp_path):
    song, chords = _lead_sheet(tmp_path, bridge=True)
    with pytest.raises(ValueError, match="chorales harmonizer reads no bridge"):
        arrange_song("chorales", song, chords=chords, bridge_track="Bridge")


def test_one_track_cannot_be_both_melody_and_bridge(tmp_path):
    song, chords = _lead_sheet(tmp_path, bridge=True)
    with pytest.raises(ValueError, match="both the melody and the bridge"):
        arrange_song("pop909", song, chords=chords, melody_track="Bridge", bridge_track="bridge")


def test_the_piano_roll_is_titled_as_asked_else_after_the_melody_file(tmp_path, monkeypatch):
    import stripes.arranger.render as render

    titles = []
    real = render.write_arrangement

    def spy(*args, **kwargs):
        titles.append(kwargs["title"])
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "write_arrangement", spy)
    song, chords = _lead_sheet(tmp_path, bridge=False)
    harmonize_song("pop909", song, tmp_path / "a.mid", chords=chords, renderer="builtin")
    harmonize_song("pop909", song, tmp_path / "b.mid", chords=chords, renderer="builtin",
                   title="Ode to Joy")
    assert titles == ["song", "Ode to Joy"]
