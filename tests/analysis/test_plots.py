"""Every plot function writes a real, non-trivial PNG and returns its path."""

import numpy as np
import pytest

from stripes.analysis import (
    plot_attention_map,
    plot_loss_by_position,
    plot_metric_bars,
    plot_pianoroll_triptych,
    plot_templates,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, expected):
    assert path == expected
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1024


def test_plot_loss_by_position_writes_a_png(tmp_path):
    positions = np.arange(0, 4096, 256) + 128
    curves = {
        "APE": (positions, 2.0 + (positions > 2048) * np.linspace(0, 3, positions.size)),
        "sineSPE": (positions, np.full(positions.size, 2.1)),
        "convSPE": np.linspace(2.3, 2.0, 16),
    }
    out = plot_loss_by_position(curves, tmp_path / "loss.png", train_length=2048)
    _assert_png(out, tmp_path / "loss.png")


def test_plot_templates_writes_a_png_and_checks_lags(tmp_path):
    lags = np.arange(-64, 64)
    sine = np.stack([np.cos(2 * np.pi * f * lags) for f in np.linspace(0.01, 0.2, 10)])
    conv = np.exp(-np.arange(32)[None] / np.arange(1, 6)[:, None])
    out = plot_templates({"sineSPE": (lags, sine), "convSPE": conv}, tmp_path / "sub" / "t.png")
    _assert_png(out, tmp_path / "sub" / "t.png")
    with pytest.raises(ValueError):
        plot_templates({"bad": (lags[:5], sine)}, tmp_path / "bad.png")


@pytest.mark.parametrize("log_scale", [False, True])
def test_plot_attention_map_writes_a_png(tmp_path, log_scale):
    m, n = np.indices((64, 64))
    attn = np.where(n <= m, np.exp(-np.abs(m - n) / 8.0), 0.0)
    out = plot_attention_map(
        np.stack([attn, attn.T]), tmp_path / "attn.png", head=0, log_scale=log_scale
    )
    _assert_png(out, tmp_path / "attn.png")


def test_plot_attention_map_needs_a_head_for_several_heads(tmp_path):
    with pytest.raises(ValueError, match="head"):
        plot_attention_map(np.ones((2, 8, 8)), tmp_path / "a.png")


def test_plot_pianoroll_triptych_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    melody = np.zeros((256, 128), dtype=bool)
    melody[np.arange(256), 60 + (np.arange(256) // 16) % 12] = True
    target = rng.uniform(size=(256, 128)) > 0.97
    prediction = rng.uniform(size=(256, 128)) > 0.97
    out = plot_pianoroll_triptych(melody, target, prediction, tmp_path / "roll.png")
    _assert_png(out, tmp_path / "roll.png")


def test_plot_metric_bars_writes_a_png(tmp_path):
    metrics = {
        "APE": {"CS": 60.1, "GS": 80.2, "SSMD": 12.0},
        "F-StrIPE": {"CS": 65.3, "GS": 82.0, "SSMD": 9.5},
        "RoPEPool": {"CS": 64.0, "GS": 81.1},
    }
    errors = {"APE": {"CS": 1.2}, "F-StrIPE": {"CS": 0.8, "SSMD": 0.4}}
    out = plot_metric_bars(metrics, tmp_path / "bars.png", errors=errors, title="harmonization")
    _assert_png(out, tmp_path / "bars.png")


def test_plot_pe_metrics_by_position_writes_a_png(tmp_path):
    from stripes.analysis.plots import plot_pe_metrics_by_position

    centres = np.arange(16, 512, 32)
    metrics = {"APE": {"translation_invariance": (centres, np.linspace(0.2, 0.9, centres.size)),
                       "monotonicity": (centres, np.full(centres.size, 0.3))},
               "sineSPE": {"translation_invariance": np.full(centres.size, 0.1),
                           "monotonicity": np.full(centres.size, 0.4)}}
    out = plot_pe_metrics_by_position(metrics, tmp_path / "pe.png", train_length=256)
    _assert_png(out, tmp_path / "pe.png")
