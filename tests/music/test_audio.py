"""WAV rendering: the built-in synthesizer always, FluidSynth where it is installed."""

from __future__ import annotations

import shutil
import wave

import numpy as np
import pytest
import symusic

from stripes.music import audio as audio_module
from stripes.music.audio import (
    TAIL_SECONDS,
    RenderError,
    find_soundfont,
    read_wav,
    render_wav,
    wav_stats,
    write_wav,
)
from stripes.music.midi_io import notes_to_score, write_midi

# a C major arpeggio under a held bass C, two bars of 4/4 on the 16-steps-per-quarter grid
MELODY = np.array([[0, 16, 60], [16, 16, 64], [32, 16, 67], [48, 16, 72], [64, 64, 71]])
BASS = np.array([[0, 128, 36]])


def tiny_score(qpm: float = 120.0) -> symusic.Score:
    return notes_to_score([MELODY, BASS], ["melody", "bass"], programs=[0, 33], qpm=qpm)


def test_builtin_render_lasts_the_score_plus_tail_is_audible_and_does_not_clip(tmp_path):
    info = render_wav(tiny_score(), tmp_path / "a.wav", renderer="builtin")
    end = 128 / 16 * 0.5  # 8 quarters at 120 qpm
    assert info["renderer"] == "builtin"
    assert end <= info["seconds"] <= end + 1.1
    assert info["rms_dbfs"] > -40
    assert -1.2 < info["peak_dbfs"] < -0.8  # normalised to -1 dBFS, never clipped
    audio, rate = read_wav(info["path"])
    assert rate == 22050 and audio.shape[1] == 1 and np.abs(audio).max() < 1.0


def test_builtin_render_follows_the_tempo_event(tmp_path):
    slow = render_wav(tiny_score(qpm=60.0), tmp_path / "slow.wav", renderer="builtin")
    assert slow["seconds"] == pytest.approx(8.0 + TAIL_SECONDS, abs=0.01)


def test_builtin_render_reads_a_midi_path_and_overrides_programs(tmp_path):
    midi = write_midi(tiny_score(), tmp_path / "a.mid")
    info = render_wav(midi, tmp_path / "a.wav", renderer="builtin", programs=[48, 32])
    assert info["seconds"] == pytest.approx(4.0 + TAIL_SECONDS, abs=0.01)
    with pytest.raises(ValueError, match="programs"):
        render_wav(midi, tmp_path / "b.wav", renderer="builtin", programs=[0])


def test_render_of_a_score_without_notes_raises_a_clear_error(tmp_path):
    empty = notes_to_score([np.zeros((0, 3), int)], ["melody"])
    with pytest.raises(ValueError, match="no notes"):
        render_wav(empty, tmp_path / "silent.wav", renderer="builtin")
    assert not (tmp_path / "silent.wav").exists()


def test_unknown_renderer_is_refused(tmp_path):
    with pytest.raises(ValueError, match="renderer"):
        render_wav(tiny_score(), tmp_path / "a.wav", renderer="timidity")


def test_wav_stats_of_a_tone_then_silence(tmp_path):
    rate = 8000
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = write_wav(np.concatenate([tone, np.zeros(rate)]), tmp_path / "t.wav", rate)
    stats = wav_stats(path)
    assert stats["seconds"] == pytest.approx(2.0)
    assert stats["peak_dbfs"] == pytest.approx(20 * np.log10(0.5), abs=0.05)
    # RMS of a half-amplitude sine over half the time: 0.5 / sqrt(2) / sqrt(2) = 0.25
    assert stats["rms_dbfs"] == pytest.approx(20 * np.log10(0.25), abs=0.05)
    assert stats["silent_share"] == pytest.approx(0.5)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or find_soundfont() is None,
    reason="fluidsynth or a General MIDI soundfont is not installed "
    "(apt-get install -y --no-install-recommends fluidsynth fluid-soundfont-gm)",
)
def test_fluidsynth_render_has_the_same_length_and_is_audible(tmp_path):
    info = render_wav(tiny_score(), tmp_path / "f.wav", renderer="fluidsynth")
    assert info["renderer"] == "fluidsynth"
    assert info["seconds"] == pytest.approx(4.0 + TAIL_SECONDS, abs=0.01)
    assert info["rms_dbfs"] > -40 and info["peak_dbfs"] < -0.8
    assert wav_stats(info["path"])["channels"] == 2
    assert render_wav(tiny_score(), tmp_path / "g.wav")["renderer"] == "fluidsynth"


def test_builtin_a4_sounds_at_440_hz(tmp_path):
    score = notes_to_score([np.array([[0, 32, 69]])], ["melody"])
    audio, rate = read_wav(render_wav(score, tmp_path / "a4.wav", renderer="builtin")["path"])
    spectrum = np.abs(np.fft.rfft(audio[:rate, 0]))
    assert np.fft.rfftfreq(rate, 1 / rate)[spectrum.argmax()] == pytest.approx(440, abs=1)


def _chord(*pitches: int, steps: int = 64) -> symusic.Score:
    return notes_to_score([np.array([[0, steps, p] for p in pitches])], ["piano"])


def test_a_note_above_nyquist_leaves_the_rest_of_the_chord_audible(tmp_path):
    # before: MIDI 127 (12.5 kHz, above 11025 Hz) had no partial left, 0/0 turned the whole mix
    # into NaN, and the WAV came out all zeros
    ceg = render_wav(_chord(60, 64, 67), tmp_path / "ceg.wav", renderer="builtin")
    high = render_wav(_chord(60, 64, 67, 127), tmp_path / "high.wav", renderer="builtin")
    audio, rate = read_wav(high["path"])
    assert np.isfinite(audio).all() and high["rms_dbfs"] > -30
    assert (high["inaudible_notes"], ceg["inaudible_notes"]) == (1, 0)
    np.testing.assert_array_equal(audio, read_wav(ceg["path"])[0])  # the 127 adds nothing
    spectrum = np.abs(np.fft.rfft(audio[:rate, 0]))
    loudest = np.sort(np.fft.rfftfreq(rate, 1 / rate)[np.argsort(spectrum)[-3:]])
    np.testing.assert_allclose(loudest, [261.6, 329.6, 392.0], atol=1.5)  # C4, E4, G4


def test_a_silent_render_is_an_error_and_writes_nothing(tmp_path):
    with pytest.raises(RenderError, match="silent .all 2 notes are above the Nyquist"):
        render_wav(_chord(126, 127), tmp_path / "s.wav", renderer="builtin")
    assert not (tmp_path / "s.wav").exists()


def test_a_non_finite_render_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_module, "synthesize", lambda score, rate: np.full(rate, np.nan))
    with pytest.raises(RenderError, match="non-finite samples"):
        render_wav(_chord(60), tmp_path / "n.wav", renderer="builtin")
    assert not (tmp_path / "n.wav").exists()
