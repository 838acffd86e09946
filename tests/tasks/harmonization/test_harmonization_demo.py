"""The main job in its fast mode, end to end through the command line."""

import json

from stripes.cli import main


def test_demo_fast_mode_runs_end_to_end(tmp_path, chorale_cache, monkeypatch, capsys):
    monkeypatch.setenv("STRIPES_CACHE", str(chorale_cache))
    out = tmp_path / "demo"
    assert main(["demo", "--fast", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "harmonization MIDI" in printed and str(out) in printed
    report = json.loads((out / "report.json").read_text())
    assert set(report["metrics"]) == {"CS", "SSMD", "GS", "NDD"}
    assert (out / "harmonization.mid").stat().st_size > 0
    assert (out / "pianoroll.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
