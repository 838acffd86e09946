"""On real POP909 test windows, the ``reference`` flavour equals a direct transcription of the
[S24] code's arithmetic (agarwalmanvi/structurePE ``exp/pop909/metrics.py``, re-derived here
with plain loops, nothing imported from the library) to 1e-6; and the floors come out as
expected. Skipped with a reason when ``../shared/data`` is absent."""

from __future__ import annotations

import numpy as np
import pytest

from stripes.evaluation.harmonization.baselines import score_baselines, window_arrays
from stripes.evaluation.harmonization.reference_flavour import (
    chroma_similarity_reference,
    grooving_similarity_reference,
    note_density_reference,
    ssm_distance_reference,
)

# --- the transcription: [T, 384] binary rolls, three tracks, 16 steps per quarter ------------


def s24_onsets(x):
    """Per track and pitch: max(x[t] - x[t-1], 0), with x[-1] = 0."""
    tracks = x.reshape(len(x), 3, 128)
    out = np.zeros_like(tracks)
    for t in range(len(x)):
        before = tracks[t - 1] if t > 0 else np.zeros_like(tracks[0])
        out[t] = np.maximum(tracks[t] - before, 0)
    return out


def s24_cs(pred, tgt):
    def features(x):
        on = s24_onsets(x)
        units = []
        for u in range(len(x) // 32):
            vec = np.zeros(36)
            for k in range(3):
                for p in range(128):
                    vec[k * 12 + p % 12] += on[u * 32:(u + 1) * 32, k, p].sum()
            units.append(vec)
        return units

    sims = []
    for a, b in zip(features(pred), features(tgt), strict=True):
        sims.append(a @ b / (max(np.sqrt(a @ a), 1e-6) * max(np.sqrt(b @ b), 1e-6)))
    return float(np.mean(sims) * 100)


def s24_ssmd(pred, tgt):
    def ssm(x):
        counts = np.zeros((len(x) // 2, 12))
        for v in range(len(x) // 2):
            for col in range(384):
                counts[v, (col % 128) % 12] += x[2 * v:2 * v + 2, col].sum()
        norms = np.sqrt((counts ** 2).sum(axis=1))
        sim = np.zeros((len(counts), len(counts)))
        for i in range(len(counts)):
            sim[i] = counts @ counts[i] / (np.maximum(norms, 1e-8) * max(norms[i], 1e-8))
        return sim

    return float(np.abs(ssm(pred) - ssm(tgt)).mean() * 100)


def s24_histogram(values, lo, hi, bins=20):
    if lo == hi:            # numpy's rule for an empty range
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = np.zeros(bins, dtype=int)
    for v in values:
        k = bins - 1
        for b in range(bins):
            if edges[b] <= v < edges[b + 1]:
                k = b
                break
        counts[k] += 1
    return counts


def s24_gs(pred, tgt):
    def pattern(x):
        on = s24_onsets(x)
        counts = np.array([on[4 * s:4 * s + 4].sum() for s in range(len(x) // 4)], float)
        return counts / max(np.sqrt(counts @ counts), 1e-12)

    a, b = pattern(pred), pattern(tgt)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    return float(np.minimum(s24_histogram(a, lo, hi), s24_histogram(b, lo, hi)).mean())


def s24_nd(pred, tgt):
    def density(x):
        return np.array([x[4 * s:4 * s + 4].sum() for s in range(len(x) // 4)])

    return float(np.abs(density(pred) - density(tgt)).mean())


# --- windows -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def test_windows(small_corpus):
    from stripes.music.windows import WindowDataset

    ds = WindowDataset(small_corpus, "test", 16, hop_bars=16)
    items = [ds[i] for i in range(min(len(ds), 6))]
    assert items, "no 16-bar test windows in the small corpus"
    return list(zip(*window_arrays(items), strict=True))


def predictions(inputs, target, root, chroma, rng):
    """Predictions unlike the target: the rule baseline, a noisy target, a late target."""
    from stripes.evaluation.harmonization.baselines import rule_harmonization

    noisy = target.copy()
    flip = rng.random(noisy.shape) < 0.002
    noisy[flip] = 1 - noisy[flip]
    late = np.roll(target, 3, axis=0)
    late[:3] = 0
    return [rule_harmonization(inputs, root, chroma).astype(float), noisy, late]


@pytest.mark.parametrize("ours, theirs", [
    (chroma_similarity_reference, s24_cs),
    (ssm_distance_reference, s24_ssmd),
    (grooving_similarity_reference, s24_gs),
    (note_density_reference, s24_nd),
], ids=["CS", "SSMD", "GS", "NDD"])
def test_reference_flavour_matches_transcription_of_s24_code(test_windows, ours, theirs):
    rng = np.random.default_rng(0)
    checked = 0
    for inputs, target, root, chroma in test_windows[:3]:
        for pred in predictions(inputs, target, root, chroma, rng):
            assert ours(pred, target) == pytest.approx(theirs(pred, target), abs=1e-6)
            checked += 1
    assert checked == 3 * min(3, len(test_windows))


def test_floors_on_real_windows(test_windows):
    inputs, targets, roots, chromas = (list(x) for x in zip(*test_windows, strict=True))
    ref = score_baselines(inputs, targets, roots, chromas, flavour="reference")["rows"]
    pap = score_baselines(inputs, targets, roots, chromas, flavour="paper")["rows"]
    mean = {f: {row: {g: {m: v["mean"] for m, v in r[g].items()}
                      for g in ("all", "accompaniment")} for row, r in rows.items()}
            for f, rows in (("reference", ref), ("paper", pap))}
    # empty: no onsets anywhere, so the reference CS is exactly 0 and the paper NDD 100
    assert mean["reference"]["empty"]["all"]["CS"] == 0.0
    assert mean["paper"]["empty"]["all"]["NDD"] == 100.0
    assert mean["paper"]["empty"]["all"]["CS"] < 10
    # copy: the copied slots score perfectly, the accompaniment exactly like the empty floor
    for track in ("melody", "bridge"):
        copied = ref["copy"]["tracks"][track]
        assert copied["SSMD"]["mean"] == 0.0 and copied["NDD"]["mean"] == 0.0
        assert copied["GS"]["mean"] == pytest.approx(256 / 20)   # the most a 16-bar GS can be
        assert pap["copy"]["tracks"][track]["CS"]["mean"] == 100.0
    for f in ("reference", "paper"):
        assert mean[f]["copy"]["accompaniment"] == mean[f]["empty"]["accompaniment"]
        assert mean[f]["copy"]["all"]["CS"] > mean[f]["empty"]["all"]["CS"] + 30
    # rule: above the empty floor on the accompaniment, in both flavours
    for f in ("reference", "paper"):
        rule, empty = mean[f]["rule"]["accompaniment"], mean[f]["empty"]["accompaniment"]
        assert rule["CS"] > empty["CS"] + 30
        assert rule["NDD"] < empty["NDD"]
        assert rule["SSMD"] < empty["SSMD"]
