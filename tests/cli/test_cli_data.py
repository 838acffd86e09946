"""The `stripes data` commands."""

from __future__ import annotations

from stripes.cli import main


def test_data_info_prints_vocabularies_and_context_statistics(small_corpus, tmp_path, capsys):
    from stripes.music.datasets import save_corpus

    folder = save_corpus(small_corpus, tmp_path / "pop909")
    assert main(["data", "info", str(folder)]) == 0
    out = capsys.readouterr().out
    for text in (
        "label chord",
        "label key_chord",
        "REP  mean",
        "KEY  mean",
        "BIN  mean",
        "windows of 16 bars",
        "chord vocabulary: 721",
    ):
        assert text in out


def test_data_prepare_pop909_with_a_bad_root_fails_with_one_line(tmp_path, capsys):
    assert (
        main(["data", "prepare", "pop909", "--root", str(tmp_path), "--out", str(tmp_path / "c")])
        == 2
    )
    err = capsys.readouterr().err
    assert "stripes: error:" in err and "pop909_alignment" in err and "Traceback" not in err


def test_data_info_without_a_cache_says_how_to_prepare(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STRIPES_CACHE", str(tmp_path))
    assert main(["data", "info", "chorales"]) == 2
    assert "stripes data prepare chorales" in capsys.readouterr().err
