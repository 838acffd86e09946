"""Harmonization training: a tiny model overfits one real POP909 window."""

import pytest
import torch

from stripes.models import ModelConfig, StripesTransformer
from stripes.music.windows import WindowDataset, collate_windows
from stripes.positional import PositionalConfig
from stripes.tasks.harmonization.train import harmonization_loss


def _overfit(corpus, bars: int, d_model: int, steps: int) -> list[float]:
    ds = WindowDataset(corpus, split="train", bars=bars, context="bin")
    batch = collate_windows([ds[0]])
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=d_model, n_layers=2, n_heads=4, pe=PositionalConfig("rope_pool"),
                      position_dim=12)
    model = StripesTransformer(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = harmonization_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_a_small_model_quickly_fits_one_pop909_bar(small_corpus):
    losses = _overfit(small_corpus, bars=1, d_model=32, steps=60)
    assert losses[-1] < losses[0] / 4, (losses[0], losses[-1])


@pytest.mark.slow
def test_tiny_model_overfits_one_pop909_window(small_corpus):
    losses = _overfit(small_corpus, bars=4, d_model=64, steps=150)
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


def test_an_onset_harmonizer_learns_where_notes_begin(small_corpus):
    """An onsets_frames model (768 outputs) trains on frames and onsets; its onset targets are
    the note starts of the window, repeated notes included."""
    from stripes.tasks.harmonization.config import HarmonizationConfig

    ds = WindowDataset(small_corpus, split="train", bars=1, context="bin")
    batch = collate_windows([ds[0]])
    assert batch["onsets"].shape == batch["targets"].shape
    assert (batch["onsets"] <= batch["targets"]).all() and batch["onsets"].sum() > 0
    config = HarmonizationConfig(data="pop909", context="bin", output="onsets_frames",
                                 model=ModelConfig(d_model=32, n_layers=1, n_heads=4,
                                                   pe=PositionalConfig("rope_pool")))
    assert config.model.output_dim == 768
    torch.manual_seed(0)
    model = StripesTransformer(config.model)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = harmonization_loss(model, batch)
    for _ in range(40):
        loss = harmonization_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first.item() / 3
    with pytest.raises(Exception, match="output must be one of"):
        HarmonizationConfig(data="pop909", output="onsets")
