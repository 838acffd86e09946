"""Harmonization training: a tiny model overfits one real POP909 window."""

import torch

from stripes.models import ModelConfig, StripesTransformer
from stripes.music.datasets import WindowDataset, collate_windows
from stripes.tasks.harmonization.train import harmonization_loss


def test_tiny_model_overfits_one_pop909_window(small_corpus):
    ds = WindowDataset(small_corpus, split="train", bars=4, context="bin")
    batch = collate_windows([ds[0]])
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=64, n_layers=2, n_heads=4, pe="rope_pool", position_dim=12)
    model = StripesTransformer(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss = harmonization_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])
