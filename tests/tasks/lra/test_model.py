"""The LRA classifier: padding that really masks (a padded batch gives each example's own
logits, every attention kind and feature map, the PE families), Retrieval's shared towers, the
class-token head, FAVOR+ redraws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stripes.attention import AttentionConfig
from stripes.config import ConfigError
from stripes.models.config import ModelConfig
from stripes.positional.registry import PositionalConfig
from stripes.tasks.lra.model import ClassifierConfig, LRAClassifier
from stripes.tasks.lra.vocab import collate

ATTENTIONS = [
    AttentionConfig(kind="softmax", causal=False),
    AttentionConfig(kind="linear", feature_map="relu", causal=False),
    AttentionConfig(kind="linear", feature_map="elu1p", causal=False),
    AttentionConfig(kind="linear", feature_map="favor", n_features=32, causal=False,
                    feature_seed=3),
]
PES = [
    PositionalConfig("none"),
    PositionalConfig("sinusoidal"),
    PositionalConfig("learned"),
    PositionalConfig("sine_spe", {"n_sines": 10, "n_realizations": 16, "gated": True}),
    PositionalConfig("conv_spe", {"kernel_size": 8, "n_realizations": 16, "gated": True}),
    PositionalConfig("rope"),
    PositionalConfig("rope_pool"),
    PositionalConfig("fstripe"),
]
# awkward lengths: 1 token, odd, a prime, one past a chunk, the longest
LENGTHS = [1, 6, 13, 65, 70]


def classifier(attention: AttentionConfig, pe: PositionalConfig, dual: bool = False,
               interaction: str = "concat") -> LRAClassifier:
    torch.manual_seed(0)
    model = ModelConfig(input_kind="tokens", input_dim=17, output_dim=10, d_model=32,
                        n_layers=2, n_heads=4, attention=attention, pe=pe, max_len=128)
    return LRAClassifier(ClassifierConfig(model, mlp_dim=24, dual=dual,
                                          interaction=interaction)).double().eval()


def sequences(lengths, seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(2, 17, size=n) for n in lengths]


def frozen_code(model: LRAClassifier, length: int):
    return model.encoder.draw_pe_code(length, torch.Generator().manual_seed(5))


@pytest.mark.parametrize("attention", ATTENTIONS, ids=lambda a: f"{a.kind}-{a.feature_map}")
@pytest.mark.parametrize("pe", PES, ids=lambda p: p.kind)
def test_padded_batch_gives_each_example_its_own_logits(attention, pe):
    model = classifier(attention, pe)
    seqs = sequences(LENGTHS)
    ids, mask = collate(seqs)
    code = frozen_code(model, ids.shape[1])
    with torch.no_grad():
        batch = model(ids, mask, code=code)
        for b, s in enumerate(seqs):
            one_ids, one_mask = collate([s])
            alone = model(one_ids, one_mask, code=code)[0]
            torch.testing.assert_close(batch[b], alone, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("attention", ATTENTIONS[:2], ids=lambda a: a.kind)
def test_without_the_mask_padding_leaks(attention):
    """The check above can fail: the same batch with the mask dropped changes the logits of
    every example shorter than the batch (padding attended to)."""
    model = classifier(attention, PositionalConfig("none"))
    seqs = sequences(LENGTHS)
    ids, mask = collate(seqs)
    with torch.no_grad():
        masked = model(ids, mask)
        unmasked = model(ids, torch.ones_like(mask))
    assert not torch.allclose(masked[0], unmasked[0], atol=1e-6)
    torch.testing.assert_close(masked[-1], unmasked[-1])  # the longest has no padding


def test_class_token_head_reads_the_first_output():
    model = classifier(ATTENTIONS[0], PositionalConfig("sinusoidal"))
    ids, mask = collate(sequences([9, 4]))
    with torch.no_grad():
        h = model.encoder(ids, mask)
        expected = model.head[2](torch.relu(model.head[0](h[:, 0])))
        torch.testing.assert_close(model(ids, mask), expected)
    assert (ids[:, 0] == 1).all()  # every row led by CLS


@pytest.mark.parametrize("attention", ATTENTIONS[:2], ids=lambda a: a.kind)
@pytest.mark.parametrize("interaction", ["concat", "nli"])
def test_retrieval_towers_share_one_encoder(attention, interaction):
    model = classifier(attention, PositionalConfig("sine_spe", {"n_realizations": 8,
                                                                "gated": True}),
                       dual=True, interaction=interaction)
    names = [n for n, _ in model.named_parameters()]
    assert sum(n.startswith("encoder.embed") for n in names) == 1
    first, second = sequences([7, 30, 2], 1), sequences([20, 3, 11], 2)
    ids1, mask1 = collate(first)
    ids2, mask2 = collate(second)
    code = frozen_code(model, 64)
    with torch.no_grad():
        logits = model(ids1, mask1, ids2, mask2, code=code)
        u = model.encoder(ids1, mask1, code)[:, 0]
        v = model.encoder(ids2, mask2, code)[:, 0]
        pair = [u, v, u * v, u - v] if interaction == "nli" else [u, v]
        torch.testing.assert_close(logits, model.head(torch.cat(pair, -1)))
    # one embedding serves both towers: documents on disjoint ids both send it gradients
    ids1, mask1 = collate([np.arange(2, 9)] * 2)
    ids2, mask2 = collate([np.arange(9, 17)] * 2)
    model.zero_grad()
    model(ids1, mask1, ids2, mask2, code=code).square().sum().backward()
    grad = model.encoder.embed.weight.grad
    assert grad is not None
    assert (grad[2:9].abs().sum(-1) > 0).all() and (grad[9:17].abs().sum(-1) > 0).all()


def test_swapping_the_documents_swaps_the_towers():
    model = classifier(ATTENTIONS[1], PositionalConfig("none"), dual=True)
    ids1, mask1 = collate(sequences([5, 9], 3))
    ids2, mask2 = collate(sequences([12, 2], 4))
    with torch.no_grad():
        u = model.encoder(ids1, mask1)[:, 0]
        v = model.encoder(ids2, mask2)[:, 0]
        swapped = model(ids2, mask2, ids1, mask1)
        torch.testing.assert_close(swapped, model.head(torch.cat([v, u], -1)))


def test_favor_features_are_redrawn_every_k_steps_and_reproducibly():
    cfg = ClassifierConfig(ModelConfig(input_kind="tokens", input_dim=17, output_dim=10,
                                       d_model=32, n_heads=4, attention=ATTENTIONS[3]),
                           redraw_every=2)
    a, b = LRAClassifier(cfg), LRAClassifier(cfg)
    w0 = a.favor_maps()[0].projection.clone()
    assert len(a.favor_maps()) == 2
    assert not a.redraw_if_due()
    torch.testing.assert_close(a.favor_maps()[0].projection, w0)
    assert a.redraw_if_due()
    assert not torch.equal(a.favor_maps()[0].projection, w0)
    b.load_state_dict(a.state_dict())  # a resumed run: same step count, same next draw
    for _ in range(2):
        a.redraw_if_due()
        b.redraw_if_due()
    torch.testing.assert_close(a.favor_maps()[1].projection, b.favor_maps()[1].projection)


def test_a_causal_or_pianoroll_encoder_is_refused():
    with pytest.raises(ConfigError, match="non-causal"):
        ClassifierConfig(ModelConfig(input_kind="tokens", attention=AttentionConfig()))
    with pytest.raises(ConfigError, match="tokens"):
        ClassifierConfig(ModelConfig(attention=AttentionConfig(causal=False)))
    with pytest.raises(ValueError, match="ids2"):
        classifier(ATTENTIONS[0], PositionalConfig("none"), dual=True)(*collate(sequences([3])))
