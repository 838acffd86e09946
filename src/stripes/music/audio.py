"""Listen to a score: render MIDI to a WAV file, with FluidSynth or a small built-in synthesizer.

``render_wav`` uses the ``fluidsynth`` program and a General MIDI soundfont when both exist
(install on Debian/Ubuntu: ``apt-get install -y --no-install-recommends fluidsynth
fluid-soundfont-gm``), else the built-in synthesizer: a few harmonics per note under a piano-like
envelope (short attack, exponential decay, release at note-off), a timbre per General MIDI
family, equal temperament with A4 = 440 Hz and the score's tempo map (120 qpm when it has none).
Either way the file is 16-bit PCM, normalised to :data:`PEAK_DBFS` and lasting the score's end
time plus a release tail of :data:`TAIL_SECONDS`, so both renderers return the same length.

The audio never lies: the built-in synthesizer leaves out every partial at or above the Nyquist
frequency (a note whose fundamental is there, MIDI 125 and up at 22050 Hz, is silent and counted
in ``inaudible_notes``), and a render with a non-finite sample or no sound at all raises
:class:`RenderError` instead of writing a silent WAV.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from stripes.extras import needs

with needs("music"):
    import symusic
    from symusic.core import ScoreQuarter, ScoreSecond, ScoreTick

PEAK_DBFS = -1.0
TAIL_SECONDS = 1.0
SILENCE_DBFS = -60.0  # a 50-ms frame quieter than this counts as silent
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/*.sf2",
)


class RenderError(ValueError):
    """A render that would not sound like its score: non-finite samples, or total silence."""


@dataclass(frozen=True)
class Timbre:
    """One built-in voice: harmonic amplitudes ``[H]``, decay time (s) at C4, attack (s), gain."""

    harmonics: tuple[float, ...]
    decay: float
    attack: float
    gain: float
    sustain: float = 0.0  # level the decay settles to (0 = a struck string, 1 = an organ)


TIMBRES = {
    "piano": Timbre((1.0, 0.45, 0.22, 0.12, 0.06), decay=1.2, attack=0.004, gain=1.0),
    "bass": Timbre((1.0, 0.6, 0.15), decay=1.6, attack=0.006, gain=1.1, sustain=0.15),
    "pad": Timbre((1.0, 0.3, 0.15, 0.05), decay=0.8, attack=0.06, gain=0.55, sustain=0.7),
    "lead": Timbre((1.0, 0.5, 0.3, 0.2, 0.1), decay=2.0, attack=0.015, gain=0.8, sustain=0.6),
}


def timbre_of_program(program: int) -> Timbre:
    """The built-in voice of a General MIDI program 0..127 (by its family of eight)."""
    family = int(program) // 8
    if family in (4,):  # 32-39 basses
        return TIMBRES["bass"]
    if family in (2, 5, 6, 11):  # organs, strings, ensembles, pads
        return TIMBRES["pad"]
    if family in (7, 8, 9, 10):  # brass, reeds, pipes, synth leads
        return TIMBRES["lead"]
    return TIMBRES["piano"]  # pianos, chromatic percussion, guitars and the rest


def find_soundfont(soundfont: str | Path | None = None) -> Path | None:
    """The General MIDI soundfont to use: ``soundfont``, ``$STRIPES_SOUNDFONT``, or the first of
    :data:`SOUNDFONT_PATHS` that exists; None when there is none."""
    for candidate in (soundfont, os.environ.get("STRIPES_SOUNDFONT")):
        if candidate:
            if not Path(candidate).is_file():
                raise FileNotFoundError(f"no soundfont at {candidate}")
            return Path(candidate)
    for pattern in SOUNDFONT_PATHS:
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[0])
    return None


def render_wav(
    notes_or_score: ScoreTick | str | Path,
    path: str | Path,
    *,
    sample_rate: int = 22050,
    soundfont: str | Path | None = None,
    programs: list[int] | None = None,
    renderer: str = "auto",
) -> dict:
    """Render a score (or a MIDI file) to a 16-bit WAV at ``path`` (mono from the built-in
    synthesizer, stereo from FluidSynth).

    Args:
        notes_or_score: a symusic Score on any tick grid (e.g. from ``midi_io.read_midi`` or
            ``notes_to_score``), or the path of a MIDI file.
        programs: General MIDI programs, one per track, replacing the score's own.
        renderer: ``"auto"`` (FluidSynth when available, else built-in), ``"fluidsynth"`` (an
            error when unavailable) or ``"builtin"``.

    Returns ``{"path", "seconds", "renderer", "peak_dbfs", "rms_dbfs", "inaudible_notes"}``
    (``inaudible_notes``: notes the built-in synthesizer cannot sound, fundamental at or above
    Nyquist; 0 from FluidSynth). Raises ValueError for a score without notes (nothing to hear)
    or with a wrong number of ``programs``, :class:`RenderError` for a render that is not finite
    or is silent (nothing is written then).
    """
    if renderer not in ("auto", "fluidsynth", "builtin"):
        raise ValueError(f"unknown renderer {renderer!r} (auto, fluidsynth or builtin)")
    score = _load(notes_or_score)
    if programs is not None:
        if len(programs) != len(score.tracks):
            raise ValueError(f"{len(programs)} programs for {len(score.tracks)} tracks")
        for track, program in zip(score.tracks, programs, strict=True):
            track.program = int(program)
    if score.note_num() == 0:
        raise ValueError("the score has no notes: nothing to render")
    seconds = _end_seconds(score) + TAIL_SECONDS
    n_samples = int(round(seconds * sample_rate))
    font = find_soundfont(soundfont) if renderer in ("auto", "fluidsynth") else None
    have_fluidsynth = font is not None and shutil.which("fluidsynth") is not None
    if renderer == "fluidsynth" and not have_fluidsynth:
        raise RuntimeError("fluidsynth renderer asked for, but no fluidsynth binary or soundfont")
    inaudible = 0
    if have_fluidsynth and font is not None:  # font is not None when have_fluidsynth
        used, audio = "fluidsynth", _fluidsynth(score, font, sample_rate)
    else:
        used, audio = "builtin", synthesize(score, sample_rate)
        inaudible = inaudible_notes(score, sample_rate)
    audio = _fit_length(audio, n_samples, sample_rate)
    check_audio(audio, used, score.note_num(), inaudible)
    out = write_wav(normalise(audio), path, sample_rate)
    stats = wav_stats(out)
    return {
        "path": str(out),
        "seconds": stats["seconds"],
        "renderer": used,
        "peak_dbfs": stats["peak_dbfs"],
        "rms_dbfs": stats["rms_dbfs"],
        "inaudible_notes": inaudible,
    }


def check_audio(audio: np.ndarray, renderer: str, n_notes: int, inaudible: int = 0) -> None:
    """Refuse samples ``[S]`` or ``[S, C]`` that are not all finite, or all zero: a WAV written
    from them would be silence (NaN becomes 0 in 16-bit PCM) that claims to be the score."""
    bad = int(np.size(audio) - np.isfinite(audio).sum())
    if bad:
        raise RenderError(f"the {renderer} render has {bad} non-finite samples (NaN or inf): "
                          "no WAV written; try --renderer builtin or report the score")
    if not np.any(audio):
        why = (f"all {n_notes} notes are above the Nyquist frequency" if inaudible == n_notes
               else "no note made a sound")
        raise RenderError(f"the {renderer} render is silent ({why}): no WAV written")


def inaudible_notes(score: ScoreTick, sample_rate: int) -> int:
    """How many notes of the non-drum tracks the built-in synthesizer cannot sound at
    ``sample_rate``: their fundamental is at or above the Nyquist frequency."""
    pitches = [t.notes.numpy()["pitch"] for t in score.tracks if not t.is_drum and len(t.notes)]
    if not pitches:
        return 0
    return int((pitch_hz(np.concatenate(pitches)) >= sample_rate / 2).sum())


def pitch_hz(pitch: np.ndarray | int) -> np.ndarray:
    """Equal-tempered frequency (Hz, A4 = 440) of MIDI pitches ``[...]``."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69) / 12)


def synthesize(score: ScoreTick, sample_rate: int = 22050) -> np.ndarray:
    """Built-in rendering of every non-drum track: float64 mono samples ``[S]`` (unnormalised),
    up to the last note's release. Drum tracks are skipped (no percussion voices); pedals,
    pitch bends and controllers are ignored."""
    timed = cast(ScoreSecond, score.to("second"))  # the stub of ``to`` returns object
    release = 0.25
    n = int(np.ceil((_end_seconds(score) + release) * sample_rate)) + 1
    mix = np.zeros(n)
    for track in timed.tracks:
        if track.is_drum or not len(track.notes):
            continue
        timbre = timbre_of_program(track.program)
        gain = timbre.gain * (1.4 if "melody" in track.name.lower() else 1.0)
        arr = track.notes.numpy()
        for start, dur, pitch, vel in zip(
            arr["time"], arr["duration"], arr["pitch"], arr["velocity"], strict=True
        ):
            tone = _note(float(dur), int(pitch), timbre, sample_rate, release)
            first = int(round(float(start) * sample_rate))
            last = min(first + len(tone), n)
            mix[first:last] += gain * (int(vel) / 127.0) * tone[: last - first]
    return mix


def _note(dur: float, pitch: int, timbre: Timbre, sr: int, release: float) -> np.ndarray:
    """One note ``[S]``: harmonics under attack, decay and a release after ``dur`` seconds.

    Only the partials below the Nyquist frequency ``sr / 2`` sound (the others would alias); a
    note with none (fundamental at or above Nyquist) is silence, not 0/0."""
    freq = float(pitch_hz(pitch))
    t = np.arange(int((dur + release) * sr) + 1) / sr
    k = np.arange(1, len(timbre.harmonics) + 1)
    k = k[k * freq < sr / 2]
    if not len(k):
        return np.zeros_like(t)
    amps = np.asarray(timbre.harmonics)[: len(k)]
    # low strings ring longer and upper partials die faster, as on a piano
    decay = timbre.decay * 2.0 ** (-(pitch - 60) / 24)
    partials = np.exp(-t[None, :] * k[:, None] / decay)
    level = timbre.sustain + (1 - timbre.sustain) * partials
    wave_ = (amps[:, None] * level * np.sin(2 * np.pi * freq * k[:, None] * t[None, :])).sum(0)
    env = np.minimum(t / timbre.attack, 1.0)
    # after note-off: an exponential release, ramped to exactly zero so the cut cannot click
    after = np.clip((t - dur) / release, 0.0, 1.0)
    env *= np.where(t < dur, 1.0, np.exp(-5 * after) * (1 - after))
    return wave_ * env / amps.sum()


def normalise(audio: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Samples ``[S]`` scaled so the largest magnitude is ``peak_dbfs`` (all zeros stay zeros)."""
    peak = np.abs(audio).max() if audio.size else 0.0
    return audio if peak == 0 else audio * (10 ** (peak_dbfs / 20) / peak)


def write_wav(audio: np.ndarray, path: str | Path, sample_rate: int) -> Path:
    """Write float samples in [-1, 1], ``[S]`` (mono) or ``[S, C]`` (C channels), as a 16-bit
    PCM WAV; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.asarray(audio, dtype=np.float64)
    audio = audio[:, None] if audio.ndim == 1 else audio
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(audio.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return path


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples ``[S, C]`` float64 in [-1, 1] (C channels) and the sample rate of a PCM WAV."""
    with wave.open(str(path), "rb") as src:
        width, channels, rate = src.getsampwidth(), src.getnchannels(), src.getframerate()
        raw = src.readframes(src.getnframes())
    if width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128) / 128
    elif width in (2, 4):
        data = np.frombuffer(raw, f"<i{width}").astype(np.float64) / 2 ** (8 * width - 1)
    else:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported (8, 16 or 32-bit PCM)")
    return data.reshape(-1, channels), rate


def wav_stats(path: str | Path, frame_seconds: float = 0.05) -> dict:
    """``{"seconds", "sample_rate", "channels", "peak_dbfs", "rms_dbfs", "silent_share"}``.

    ``silent_share`` is the share of ``frame_seconds`` frames whose RMS is below
    :data:`SILENCE_DBFS`; levels are dB relative to full scale (-inf for digital silence).
    """
    audio, rate = read_wav(path)
    frame = max(1, int(rate * frame_seconds))
    n_frames = max(1, len(audio) // frame)
    frames = np.pad(audio, ((0, max(0, frame - len(audio))), (0, 0)))[: n_frames * frame]
    frame_rms = np.sqrt((frames.reshape(n_frames, -1) ** 2).mean(axis=1))
    return {
        "seconds": len(audio) / rate,
        "sample_rate": rate,
        "channels": audio.shape[1],
        "peak_dbfs": _dbfs(np.abs(audio).max() if len(audio) else 0.0),
        "rms_dbfs": _dbfs(np.sqrt((audio**2).mean()) if len(audio) else 0.0),
        "silent_share": float((_dbfs_array(frame_rms) < SILENCE_DBFS).mean()),
    }


def _dbfs(x: float) -> float:
    return float(20 * np.log10(x)) if x > 0 else float("-inf")


def _dbfs_array(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 20 * np.log10(x)


def _load(notes_or_score: ScoreTick | str | Path) -> ScoreTick:
    # the classes an isinstance check against the symusic.Score factory matches
    if isinstance(notes_or_score, (ScoreTick, ScoreQuarter, ScoreSecond)):
        return notes_or_score.copy()
    path = Path(notes_or_score)
    if not path.is_file():
        raise FileNotFoundError(f"no MIDI file at {path}")
    return cast(ScoreTick, symusic.Score(str(path)))  # the factory's stub erases the unit


def _end_seconds(score: ScoreTick) -> float:
    """Seconds from the start to the last note-off (through the score's tempo map)."""
    timed = cast(ScoreSecond, score.to("second"))  # the stub of ``to`` returns object
    ends = [t.end() for t in timed.tracks if len(t.notes)]
    return float(max(ends)) if ends else 0.0


def _fit_length(audio: np.ndarray, n_samples: int, sample_rate: int) -> np.ndarray:
    """Samples ``[n_samples, ...]``: cut (with a 50-ms fade so the cut does not click) or
    padded with silence."""
    if len(audio) >= n_samples:
        audio = audio[:n_samples].copy()
        fade = min(n_samples, int(0.05 * sample_rate))
        ramp = np.linspace(1.0, 0.0, fade)
        audio[n_samples - fade :] *= ramp.reshape((fade,) + (1,) * (audio.ndim - 1))
        return audio
    return np.pad(audio, [(0, n_samples - len(audio))] + [(0, 0)] * (audio.ndim - 1))


def _fluidsynth(score: ScoreTick, soundfont: Path, sample_rate: int) -> np.ndarray:
    """Stereo samples ``[S, 2]`` of ``score`` rendered offline by the fluidsynth program (with
    its default reverb and chorus)."""
    with tempfile.TemporaryDirectory(prefix="stripes-audio-") as tmp:
        midi, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        score.dump_midi(str(midi))
        cmd = ["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(sample_rate), "-F", str(wav),
               "-T", "wav", "-O", "s16", str(soundfont), str(midi)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"fluidsynth failed ({done.returncode}): {done.stderr.strip()}")
        audio, rate = read_wav(wav)
    if rate != sample_rate:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz instead of {sample_rate} Hz")
    return audio
