"""Language-model data, loss and training: crops and transpositions stay valid REMI, loss learns."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from stripes.attention import AttentionConfig
from stripes.config import ConfigError, apply_overrides
from stripes.models import ModelConfig, StripesTransformer
from stripes.music.tokenizer import EventGrammar, build_tokenizer, notes_to_ids
from stripes.positional import PositionalConfig, available_kinds
from stripes.tasks.lm.config import LMExperimentConfig, load_experiment, resolve_model_config
from stripes.tasks.lm.data import (
    CropDataset,
    PitchTable,
    PrefixDataset,
    load_token_corpus,
    save_token_corpus,
    transpose_ids,
)
from stripes.tasks.lm.train import (
    load_checkpoint_tokenizer,
    load_language_model,
    train_language_model,
)
from stripes.training.loop import RunConfig, TrainConfig, train
from stripes.training.tokens import collate_tokens, lm_loss

CONFIGS = sorted((Path(__file__).parents[3] / "configs" / "lm").rglob("*.yaml"))


def synthetic_pieces(tokenizer, n: int, seed: int = 0, bars: int = 6) -> list[list[int]]:
    """REMI ids of ``n`` two-track pieces: quarter notes over half notes, random pitches."""
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(n):
        top = [(0, 16 * q, 16, rng.integers(60, 80)) for q in range(4 * bars)]
        low = [(1, b * 64 + h * 32, 32, rng.integers(40, 56)) for b in range(bars) for h in (0, 1)]
        pieces.append(notes_to_ids(tokenizer, np.array(top + low), [0, 1]))
    return pieces


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory, tokenizer):
    folder = tmp_path_factory.mktemp("tokens")
    return save_token_corpus(folder, synthetic_pieces(tokenizer, 10), [0] * 6 + [1] * 2 + [2] * 2,
                             tokenizer)


@pytest.fixture(scope="module")
def grammar(tokenizer):
    return EventGrammar.from_tokenizer(tokenizer)


def test_token_corpus_reads_pieces_by_split(corpus_dir, tokenizer):
    corpus = load_token_corpus(corpus_dir)
    assert [len(corpus.pieces(s)) for s in ("train", "val", "test")] == [6, 2, 2]
    assert corpus.pieces("val")[0].tolist() == synthetic_pieces(tokenizer, 10)[6]
    assert len(corpus.tokenizer()) == len(tokenizer)


def test_pitch_table_maps_pitch_tokens_both_ways(tokenizer):
    table = PitchTable.from_vocab(tokenizer.vocab)
    assert table.id_of[60] == tokenizer.vocab["Pitch_60"]
    assert table.pitch_of[tokenizer.vocab["Pitch_60"]] == 60
    assert table.pitch_of[tokenizer.vocab["Bar_None"]] == -1
    assert table.id_of[10] == -1  # below the vocabulary's pitch range


@pytest.mark.parametrize("shift", [-6, -1, 3, 6])
def test_transposition_moves_every_pitch_token_by_the_shift_and_nothing_else(
        tokenizer, grammar, shift):
    table = PitchTable.from_vocab(tokenizer.vocab)
    ids = np.array(synthetic_pieces(tokenizer, 1, seed=3)[0])
    moved = transpose_ids(ids, shift, table)
    is_pitch = table.pitch_of[ids] >= 0
    assert is_pitch.sum() > 20
    assert (table.pitch_of[moved[is_pitch]] - table.pitch_of[ids[is_pitch]] == shift).all()
    assert (moved[~is_pitch] == ids[~is_pitch]).all()
    assert grammar.is_valid_sequence(moved.tolist())


def test_transposition_out_of_the_pitch_range_is_refused(tokenizer):
    table = PitchTable.from_vocab(tokenizer.vocab)
    top = int(table.pitch_of.max())  # the highest pitch with a token
    ids = np.array([tokenizer.vocab[t] for t in ("Bar_None", "Position_0", "Program_0",
                                                 f"Pitch_{top - 3}", "Duration_1.0.8")])
    assert transpose_ids(ids, 3, table) is not None
    assert transpose_ids(ids, 4, table) is None


def test_crops_start_on_a_bar_stay_valid_and_undo_to_a_slice_of_the_piece(tokenizer, grammar):
    table = PitchTable.from_vocab(tokenizer.vocab)
    bar = tokenizer.vocab["Bar_None"]
    piece = np.array(synthetic_pieces(tokenizer, 1, seed=5)[0])
    data = CropDataset([piece], 40, table, (-6, 6), bar_id=bar, crops_per_piece=30)
    torch.manual_seed(0)
    shifts = set()
    for i in range(len(data)):
        item = data[i]
        ids, shift = item["ids"].numpy(), item["shift"]
        shifts.add(shift)
        assert len(ids) == 40 and ids[0] == bar and grammar.is_valid_sequence(ids.tolist())
        original = transpose_ids(ids, -shift, table)
        starts = np.flatnonzero(piece == bar)
        assert any((piece[s : s + 40] == original).all() for s in starts)
    assert len(shifts) > 4  # several transpositions are drawn


def test_crops_whose_transposition_leaves_the_range_are_skipped(tokenizer, grammar):
    table = PitchTable.from_vocab(tokenizer.vocab)
    v, top = tokenizer.vocab, int(table.pitch_of.max())
    note = [v["Position_0"], v["Program_0"], v[f"Pitch_{top - 2}"], v["Duration_1.0.8"]]
    piece = np.array(([v["Bar_None"]] + note) * 20)
    data = CropDataset([piece], 10, table, (-6, 6), bar_id=v["Bar_None"], crops_per_piece=60)
    torch.manual_seed(1)
    items = [data[i] for i in range(len(data))]
    assert all(it["shift"] <= 2 for it in items)  # a shift of 3 would leave the vocabulary
    assert any(it["shift"] < 0 for it in items)
    pitches = {int(table.pitch_of[i]) for it in items for i in it["ids"] if table.pitch_of[i] >= 0}
    assert max(pitches) <= top and min(pitches) >= top - 8


def test_prefix_windows_and_collation_pad_and_mask():
    pieces = [np.arange(10), np.arange(3)]
    data = PrefixDataset(pieces, 6)
    batch = collate_tokens([data[0], data[1]], pad_id=0)
    assert batch["ids"].tolist() == [[0, 1, 2, 3, 4, 5], [0, 1, 2, 0, 0, 0]]
    assert batch["mask"].sum(1).tolist() == [6, 3]


def _tiny_lm(vocab: int = 12, pe: str = "none") -> StripesTransformer:
    torch.manual_seed(0)
    return StripesTransformer(ModelConfig(input_kind="tokens", input_dim=vocab, output_dim=vocab,
                                          d_model=32, n_layers=2, n_heads=2,
                                          attention=AttentionConfig(chunk_size=8),
                                          pe=PositionalConfig(pe)))


def test_lm_loss_ignores_padding():
    model = _tiny_lm().eval()
    a, b = torch.tensor([1, 2, 3, 4, 5, 6]), torch.tensor([7, 8, 9])
    batch = collate_tokens([{"ids": a, "shift": 0}, {"ids": b, "shift": 0}])
    other = dict(batch, ids=batch["ids"].masked_fill(~batch["mask"], 11))
    with torch.no_grad():
        padded, repadded = lm_loss(model, batch), lm_loss(model, other)
        alone = [lm_loss(model, collate_tokens([{"ids": x, "shift": 0}])) for x in (a, b)]
    torch.testing.assert_close(padded, repadded)
    torch.testing.assert_close(padded, (5 * alone[0] + 2 * alone[1]) / 7)


def test_a_tiny_language_model_learns_a_repeated_pattern(tmp_path):
    pattern = np.array([1, 5, 2, 7, 3] * 13)
    data = CropDataset([pattern], 24, transpose=None, crops_per_piece=64)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=3e-3, schedule="warmup_cosine", warmup_steps=3,
                      grad_clip=1.0, log_every=1)
    run = RunConfig(out_dir=str(tmp_path), progress=False, tensorboard=False)
    model = _tiny_lm()
    first = lm_loss(model, collate_tokens([data[i] for i in range(8)])).item()
    summary = train(model, lm_loss, data, PrefixDataset([pattern], 24), cfg, run, collate_tokens)
    assert first > 2.0  # about log(12) before training
    assert summary["val_loss"] < 0.3 * first


def test_experiment_config_refuses_unknown_fields_and_applies_overrides(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "model": {"d_model": 64, "n_heads": 2},
                                    "train": {"batch_size": 4}}))
    exp = load_experiment(path, ["run.max_steps=7", "data.transpose=null",
                                 "model.pe.kind=rope", "model.attention.kind=softmax"])
    assert (exp.run.max_steps, exp.data.transpose, exp.model.d_model) == (7, None, 64)
    assert (exp.model.pe.kind, exp.model.attention.kind) == ("rope", "softmax")
    assert exp.model.input_kind == "tokens"
    with pytest.warns(DeprecationWarning, match=r"--set train.max_steps, --set model.attention"):
        old = load_experiment(path, ["train.max_steps=7", "model.attention=softmax",
                                     "model.pe=rope", "model.feature_map=relu"])
    assert (old.run.max_steps, old.model.attention.kind, old.model.pe.kind) == (7, "softmax",
                                                                                "rope")
    assert old.model.attention.feature_map == "relu"
    with pytest.raises(ConfigError, match="unknown key data.lenght"):
        LMExperimentConfig.from_dict({"data": {"lenght": 3}})
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["train.max_steps"])


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_lm_config_loads_and_builds_its_model_config(path):
    exp = load_experiment(path)
    model_cfg = resolve_model_config(exp, vocab_size=194)
    assert model_cfg.input_kind == "tokens" and model_cfg.output_dim == 194
    assert exp.data.eval_length == 2 * exp.data.train_length
    assert model_cfg.max_len >= exp.data.eval_length
    assert exp.train.schedule == "warmup_cosine" and exp.train.grad_clip > 0
    if model_cfg.pe.kind != "none" and model_cfg.pe.kind not in available_kinds():
        pytest.skip(f"PE {model_cfg.pe.kind!r} not registered yet")
    if model_cfg.n_layers <= 8:  # the paper-scale model is only configured here, not built
        assert StripesTransformer(model_cfg).num_parameters() > 0


def test_lm_configs_exist_for_ape_and_both_spe_families_gated_and_not():
    kinds = {(load_experiment(p).model.pe.kind, bool(load_experiment(p).model.pe.params.get(
        "gated"))) for p in CONFIGS}
    for kind in (("sine_spe", False), ("sine_spe", True), ("conv_spe", False), ("conv_spe", True),
                 ("sinusoidal", False)):
        assert kind in kinds


def test_train_language_model_saves_checkpoints_that_rebuild_everything(corpus_dir, tmp_path):
    pe = "sine_spe" if "sine_spe" in available_kinds() else "none"
    exp = LMExperimentConfig.from_dict({
        "name": "tiny", "data": {"corpus": str(corpus_dir), "train_length": 32, "eval_length": 64},
        "model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "attention": {"chunk_size": 16},
                  "pe": {"kind": pe}},
        "train": {"epochs": 1, "batch_size": 3, "schedule": "warmup_cosine"},
        "run": {"max_steps": 2, "progress": False, "tensorboard": False}})
    run = train_language_model(exp, out_dir=tmp_path / "run")
    assert (run / "experiment.yaml").is_file() and (run / "tokenizer.json").is_file()
    model, loaded = load_language_model(run / "checkpoints" / "last.pt")
    assert loaded.name == "tiny" and loaded.model.input_dim == 194 == model.config.output_dim
    assert loaded.run.out_dir == str(tmp_path / "run") and loaded.train == exp.train
    assert len(load_checkpoint_tokenizer(run / "checkpoints" / "last.pt")) == 194
