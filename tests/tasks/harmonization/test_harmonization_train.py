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
