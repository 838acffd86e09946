"""Run inside a fresh environment holding the core install only (tests/packaging/test_wheel.py):
a small model with every PE family runs forward and one decoding step."""

import torch

from stripes.attention import AttentionConfig
from stripes.models import ModelConfig, StripesTransformer
from stripes.positional import PositionalConfig, RelativeBiasPE, available_kinds

#: Structure labels as positions: [B, T, L] integers (the families that read labels need them).
LABELS = {"structure_ape": dict(vocab_sizes=[4, 4])}


def check(kind: str) -> None:
    pe = PositionalConfig(kind, LABELS.get(kind, {}))
    probe = pe.build(d_model=16, n_heads=2, head_dim=8, position_dim=2, max_len=32, n_layers=2)
    bias = isinstance(probe, RelativeBiasPE)  # logit biases need softmax attention
    cfg = ModelConfig(input_kind="tokens", input_dim=11, output_dim=11, d_model=16, n_layers=2,
                      n_heads=2, position_dim=2 if kind in LABELS else 1, max_len=32,
                      attention=AttentionConfig("softmax" if bias else "linear", chunk_size=4),
                      pe=pe)
    torch.manual_seed(0)
    model = StripesTransformer(cfg).eval()
    ids = torch.randint(0, 11, (2, 9))
    positions = step_positions = None
    if kind in LABELS:
        positions = torch.randint(0, 4, (2, 10, 2))
        positions, step_positions = positions[:, :9], positions[:, 9:]
    with torch.no_grad():
        logits, state = model(ids, positions=positions, output_state=True)
        assert logits.shape == (2, 9, 11) and torch.isfinite(logits).all(), kind
        decoder = model.start_decoding(state)
        out = model.step(ids[:, -1], decoder, positions=step_positions)
        assert out.shape == (2, 11) and torch.isfinite(out).all(), kind


kinds = available_kinds()
for kind in kinds:
    check(kind)
print(f"core ok: forward and one decoding step for {len(kinds)} PE families: {', '.join(kinds)}")
