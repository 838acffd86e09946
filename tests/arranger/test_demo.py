"""The main job in its fast mode, end to end through the command line."""

import json

from stripes.cli import main
from stripes.music.audio import wav_stats


def _refuse(token: str):
    raise ValueError(f"non-standard JSON token {token}")


def strict_loads(text: str):
    """``json.loads`` refusing the NaN / Infinity tokens that strict JSON readers refuse."""
    return json.loads(text, parse_constant=_refuse)


def test_demo_fast_mode_runs_end_to_end(tmp_path, chorale_cache, monkeypatch, capsys):
    monkeypatch.setenv("STRIPES_CACHE", str(chorale_cache))
    out = tmp_path / "demo"
    assert main(["demo", "--fast", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rule:" in printed and "readout:" in printed and "empty:" in printed
    assert str(out) in printed
    report = strict_loads((out / "report.json").read_text())  # no NaN / Infinity tokens
    ref = report["test_set"]["flavours"]["reference"]
    assert set(ref["model"]["accompaniment"]) == {"CS", "SSMD", "GS", "NDD"}
    assert set(ref["floors"]) == {"empty", "copy", "rule", "readout"}
    assert "pass_share" in report["test_set"]["sanity"]["model"]
    for name in ("chorale", "chorale_original"):
        assert (out / f"{name}.mid").stat().st_size > 0
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert wav_stats(out / "chorale_original.wav")["rms_dbfs"] > -40  # Bach's voices, audible
    sheet = report["lead_sheet"]  # the shipped POP909 harmonizer arranges the example
    assert sheet["sanity"]["pass"], sheet["sanity"]["reasons"]
    assert wav_stats(sheet["wav"])["seconds"] > 30
