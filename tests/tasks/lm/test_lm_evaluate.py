"""Evaluating language models: loss per position, explicit attention maps, probe, style, CLI."""

import json
import math

import numpy as np
import pytest
import symusic
import torch
import yaml

from stripes.attention import AttentionConfig, naive_linear_attention, softmax_attention
from stripes.cli import main
from stripes.generation.decode import parallel_log_probs
from stripes.models import ModelConfig, StripesTransformer
from stripes.music.tokenizer import EventGrammar, build_tokenizer, ids_to_score, notes_to_ids
from stripes.positional import PositionalConfig, available_kinds
from stripes.tasks.lm.attention_maps import (
    attention_map,
    identical_token_metrics,
    layer_qkv,
    pe_templates,
)
from stripes.tasks.lm.data import save_token_corpus
from stripes.tasks.lm.evaluate import (
    bucket_losses,
    loss_by_position,
    new_notes,
    position_loss_sums,
    prompt_at_bar,
    split_losses,
)
from stripes.tasks.lm.generate import grammar_constraint, sample_continuation

NOT_FOR_TOKEN_LM = {"structure_ape", "shaw_rpe", "structure_rpe", "nonstationary_rpe"}
LM_KINDS = ["none"] + [k for k in available_kinds() if k not in NOT_FOR_TOKEN_LM | {"none"}]


def _lm(pe="none", attention="linear", vocab=11, pe_params=None) -> StripesTransformer:
    cfg = ModelConfig(input_kind="tokens", input_dim=vocab, output_dim=vocab, d_model=32,
                      n_layers=2, n_heads=2, attention=AttentionConfig(attention, chunk_size=8),
                      pe=PositionalConfig(pe, pe_params or {}), max_len=64)
    torch.manual_seed(0)
    return StripesTransformer(cfg).double().eval()


class Uniform(torch.nn.Module):
    """A "model" whose next-token distribution is uniform over V tokens."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab, self.w = vocab, torch.nn.Parameter(torch.zeros(()))

    def forward(self, ids, code=None):
        return torch.zeros(*ids.shape, self.vocab) + self.w, None


def test_position_losses_count_only_real_tokens():
    windows = [torch.arange(5), torch.arange(3)]
    sums, counts = position_loss_sums(Uniform(7), windows, batch_size=1)
    assert counts.tolist() == [2, 2, 1, 1]
    np.testing.assert_allclose(sums, counts * math.log(7))


def test_buckets_and_within_beyond_split_on_a_hand_made_case():
    # positions t = 1..7 with losses t (one token each); training length 4
    sums, counts = np.arange(1, 8, dtype=float), np.ones(7, dtype=int)
    starts, losses, n = bucket_losses(sums, counts, bucket=3)
    assert starts.tolist() == [0, 3, 6]
    np.testing.assert_allclose(losses, [1.5, 4.0, 6.5])  # {1,2}, {3,4,5}, {6,7}
    assert n.tolist() == [2, 3, 2]
    split = split_losses(sums, counts, train_length=4)
    assert split == pytest.approx({"within": 2.0, "beyond": 5.5, "all": 4.0})


def test_loss_by_position_matches_parallel_log_probs_for_each_realization():
    pe = "sine_spe" if "sine_spe" in LM_KINDS else "none"
    model = _lm(pe)
    g = torch.Generator().manual_seed(0)
    windows = [torch.randint(0, 11, (12,), generator=g) for _ in range(3)]
    res = loss_by_position(model, windows, realizations=2, seed=5, batch_size=2)
    expected = []
    for r in range(res["per_realization"].shape[0]):
        code = model.draw_pe_code(12, None, torch.Generator().manual_seed(5 + r))
        expected.append(-parallel_log_probs(model, torch.stack(windows), code=code).sum(0))
    np.testing.assert_allclose(res["sums"], torch.stack(expected).mean(0).numpy(), rtol=1e-6)
    assert res["per_realization"].shape[0] == (2 if pe != "none" else 1)


def _layer_output(model, ids, layer, code):
    seen = {}
    hook = model.blocks[layer].attn.register_forward_hook(lambda m, a, out: seen.update(y=out[0]))
    with torch.no_grad():
        model(ids, code=code)
    hook.remove()
    return seen["y"]


@pytest.mark.parametrize("attention", ["linear", "softmax"])
@pytest.mark.parametrize("pe", LM_KINDS)
def test_attention_map_extraction_equals_the_attention_the_layer_computes(pe, attention):
    model = _lm(pe, attention)
    ids = torch.randint(0, 11, (2, 19), generator=torch.Generator().manual_seed(1))
    code = model.draw_pe_code(19, None, torch.Generator().manual_seed(2))
    attn = model.blocks[1].attn
    amap = attention_map(model, ids, 1, code)  # [B, H, T, T]
    q, k, v, _ = layer_qkv(model, ids, 1, code)
    assert amap.shape == (2, 2, 19, 19) and (amap.triu(1) == 0).all()
    weights = amap / amap.sum(-1, keepdim=True)
    mine = torch.einsum("bhts,bshe->bthe", weights, v.double())
    if attention == "softmax":
        reference = softmax_attention(q, k, v, causal=True)
    else:
        phi_q, phi_k = attn.phi(q, is_query=True), attn.phi(k, is_query=False)
        reference = naive_linear_attention(phi_q, phi_k, v, causal=True, eps=0.0)
    torch.testing.assert_close(mine, reference.double(), rtol=1e-7, atol=1e-9)
    layer_y = attn.out(mine.reshape(2, 19, -1).to(v.dtype))
    torch.testing.assert_close(layer_y, _layer_output(model, ids, 1, code), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_identical_tokens_without_pe_give_a_flat_map_with_no_error(attention):
    metrics = identical_token_metrics(_lm("none", attention), length=24, token=3, window=8)
    assert len(metrics["per_layer"]) == 2 and metrics["lower_is_better"]
    assert metrics["translation_invariance"] == 0.0 and metrics["monotonicity"] == 0.0
    assert metrics["by_position"]["start"] == [0, 8, 16]
    assert metrics["by_position"]["translation_invariance"] == [0.0, 0.0, 0.0]


@pytest.mark.skipif(not {"rope", "learned"} <= set(LM_KINDS), reason="RoPE/APE not registered")
def test_the_probe_finds_rope_relative_and_a_learned_ape_not_in_layer_0():
    rope = identical_token_metrics(_lm("rope", "softmax"), length=24, token=3)
    learned = identical_token_metrics(_lm("learned", "softmax"), length=24, token=3)
    assert rope["per_layer"][0]["translation_invariance"] == pytest.approx(0.0, abs=1e-9)
    assert learned["per_layer"][0]["translation_invariance"] > 0.1
    assert rope["realizations"] == learned["realizations"] == 1
    assert rope["per_realization"]["translation_invariance"] == rope["translation_invariance"]


@pytest.mark.skipif("sine_spe" not in LM_KINDS, reason="sineSPE not registered")
def test_the_probe_scores_spe_on_its_expected_map():
    model = _lm("sine_spe", "softmax", pe_params={"n_realizations": 16})
    metrics = identical_token_metrics(model, length=24, token=3, realizations=32, seed=1)
    assert metrics["realizations"] == 32
    # The mean map estimates the expected attention, which sineSPE makes Toeplitz: the errors of
    # single realizations (their Monte-Carlo noise) are larger.
    single = metrics["per_realization"]["translation_invariance"]
    assert metrics["translation_invariance"] < 0.5 * single


def test_templates_come_from_the_pe_kernel_and_are_absent_without_pe():
    assert pe_templates(_lm("none"), 16) is None
    if "sine_spe" not in LM_KINDS:
        pytest.skip("sineSPE not registered")
    model = _lm("sine_spe")
    templates = pe_templates(model, 16, head=1)
    kern = model.qk_pes[0].context_kernel(torch.arange(16)[None], torch.zeros(1, 1))
    assert templates.shape == (16, 16)  # [D, lags]
    np.testing.assert_allclose(templates, kern[0, 1, :, :, 0].detach().numpy(), rtol=1e-6)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_grammar_constrained_continuations_are_valid_remi(tokenizer):
    model = _lm(vocab=len(tokenizer)).float()
    prompt = [tokenizer.vocab["Bar_None"]]
    out = sample_continuation(model, prompt, 60, allowed=grammar_constraint(tokenizer),
                              temperature=1.5, seed=3)
    grammar = EventGrammar.from_tokenizer(tokenizer)
    assert len(out) == 61 and grammar.is_valid_sequence(out.tolist())
    assert not any(tokenizer[int(i)].split("_")[0] in ("PAD", "BOS", "EOS", "MASK") for i in out)


def test_prompts_end_before_a_bar_and_new_notes_are_a_multiset_difference():
    ids = np.array([4, 1, 2, 4, 1, 2, 3, 4, 1])
    assert prompt_at_bar(ids, 8, 4).tolist() == [4, 1, 2, 4, 1, 2, 3]
    assert prompt_at_bar(np.array([4, 1, 2, 3]), 2, 4).tolist() == [4, 1]
    full = np.array([[0, 1, 60], [0, 1, 60], [1, 1, 62], [4, 1, 64]], dtype=float)
    np.testing.assert_array_equal(new_notes(full, full[:1]), full[1:])


def _pieces(tokenizer, n, seed=0):
    rng = np.random.default_rng(seed)
    return [notes_to_ids(tokenizer, np.array(
        [(0, b * 64 + q * 16, 16, rng.integers(60, 76)) for b in range(6) for q in range(4)]
        + [(1, b * 64, 64, rng.integers(40, 52)) for b in range(6)]), [0, 1]) for _ in range(n)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tokenizer):
    """A tiny model trained a few steps through `stripes lm train` on synthetic tokens."""
    root = tmp_path_factory.mktemp("lm")
    corpus = save_token_corpus(root / "tokens", _pieces(tokenizer, 8), [0] * 5 + [1] * 3, tokenizer)
    pe = "sine_spe" if "sine_spe" in LM_KINDS else "none"
    config = {"name": "tiny",
              "data": {"corpus": str(corpus), "train_length": 32, "eval_length": 64},
              "model": {"d_model": 32, "n_layers": 2, "n_heads": 2, "attention": {"chunk_size": 16},
                        "pe": {"kind": pe,
                               "params": {"n_realizations": 8} if pe != "none" else {}}},
              "train": {"epochs": 1, "batch_size": 2, "schedule": "warmup_cosine"},
              "run": {"max_steps": 3, "progress": False, "tensorboard": False},
              "eval": {"checkpoint": "last.pt", "bucket": 8, "realizations": 2, "probe_length": 16,
                       "attention_length": 16, "prompts": 2, "prompt_tokens": 40,
                       "continuation_tokens": 24}}
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = ["lm", "train", str(path), "train.seed=1", "--out", str(root / "run"),
            "--set", "train.lr=0.002"]
    assert main(argv) == 0
    assert yaml.safe_load((root / "run" / "experiment.yaml").read_text())["train"]["lr"] == 0.002
    return root / "run"


def test_evaluate_language_model_writes_json_markdown_and_plots(trained, tmp_path):
    assert main(["lm", "evaluate", "--checkpoint", str(trained / "checkpoints" / "last.pt"),
                 "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())[0]
    assert math.isfinite(res["loss"]["within"]) and math.isfinite(res["loss"]["beyond"])
    assert res["loss_by_position"]["bucket_start"][:3] == [0, 8, 16]
    assert 0 <= res["style"]["data_onset_duration"] <= 1
    assert "| tiny |" in (tmp_path / "results.md").read_text()
    assert set(res["pe_metrics"]["by_position"]) == {"start", "stop", "translation_invariance",
                                                    "monotonicity"}
    for name in ("loss_by_position.png", "attention_layer0_head0.png",
                 "pe_metrics_by_position.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_cli_generate_writes_a_midi_file_that_parses_back(trained, tmp_path, tokenizer, capsys):
    prompt = tmp_path / "prompt.mid"
    ids_to_score(tokenizer, _pieces(tokenizer, 1, seed=9)[0][:30]).dump_midi(str(prompt))
    out = tmp_path / "out" / "song.mid"
    argv = ["generate", "--checkpoint", str(trained / "checkpoints" / "last.pt"),
            "--prompt", str(prompt), "--tokens", "40", "--seed", "2", "--out", str(out)]
    assert main(argv) == 0
    assert str(out) in capsys.readouterr().out
    score = symusic.Score(str(out))
    prompt_notes = sum(len(t.notes) for t in symusic.Score(str(prompt)).tracks)
    assert sum(len(t.notes) for t in score.tracks) > prompt_notes
