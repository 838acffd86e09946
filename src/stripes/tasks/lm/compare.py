"""Language-model experiments end to end: the APE-versus-SPE comparison, and MIDI from a checkpoint.

- :func:`run_lm_comparison` trains each configured model, evaluates it
  (:func:`stripes.tasks.lm.evaluate.evaluate_language_model`) and writes ``<out>/lm_<name>/`` with
  ``results.json``, ``results.md`` (loss within / beyond the training length per model, [SPE]
  Table 6; probe and style columns) and ``loss_by_position.png`` (every model, [SPE] Fig. 3).
  Each run lives in ``<out>/lm_<name>/runs/<model name>/``.
- :func:`load_language_model`, :func:`load_checkpoint_tokenizer`: a trained model, its experiment
  and its tokenizer, from nothing but a checkpoint.
- :func:`generate_midi` continues a MIDI prompt (or starts from a bar line) with a trained model,
  grammar-constrained by default, and writes a MIDI file (``stripes generate``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from stripes.models import ModelConfig, StripesTransformer
from stripes.tasks.lm.data import LMExperimentConfig, load_experiment, train_language_model
from stripes.training.checkpoint import load_checkpoint


def load_language_model(checkpoint: str | Path, device: str | torch.device = "cpu"
                        ) -> tuple[StripesTransformer, LMExperimentConfig | None]:
    """The model of a checkpoint (in eval mode) and its experiment config (None if absent)."""
    ckpt = load_checkpoint(checkpoint, map_location=device)
    cfg = ckpt.get("config", {})
    if "model" not in cfg:
        raise ValueError(f"{checkpoint}: no model config inside the checkpoint")
    model = StripesTransformer(ModelConfig.from_dict(cfg["model"]))
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    exp = LMExperimentConfig.from_dict(cfg["experiment"]) if "experiment" in cfg else None
    return model, exp


def load_checkpoint_tokenizer(checkpoint: str | Path):
    """The tokenizer stored inside a checkpoint (written by :func:`train_language_model`)."""
    from stripes.music.tokenizer import load_tokenizer

    cfg = load_checkpoint(checkpoint).get("config", {})
    if "tokenizer" not in cfg:
        raise ValueError(f"{checkpoint}: no tokenizer inside the checkpoint")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        path.write_text(json.dumps(cfg["tokenizer"]))
        return load_tokenizer(path)


def run_lm_comparison(config_paths: Sequence[str | Path], out_dir: str | Path = "results",
                      name: str = "comparison", overrides: Sequence[str] = (),
                      device: str = "cpu", style: bool = True) -> Path:
    """Train and evaluate every config, then tabulate and plot them together.

    Args:
        config_paths: experiment YAML files (their ``name`` fields must differ).
        out_dir: the results root; output goes to ``<out_dir>/lm_<name>/``.
        overrides: ``section.key=value`` applied to every config (e.g. ``train.max_steps=50``).
        device: where evaluation runs (training follows each config's ``train.device``).

    Returns:
        The ``lm_<name>`` folder.
    """
    from stripes.analysis.plots import plot_loss_by_position
    from stripes.tasks.lm.evaluate import evaluate_language_model, loss_curve, write_results

    root = Path(out_dir) / f"lm_{name}"
    exps = [load_experiment(p, overrides) for p in config_paths]
    names = [e.name for e in exps]
    if len(set(names)) != len(names):
        raise ValueError(f"experiment names must differ, got {names}")
    results = []
    for exp in exps:
        run = train_language_model(exp, out_dir=root / "runs" / exp.name)
        ckpt = run / "checkpoints" / exp.eval.checkpoint
        results.append(evaluate_language_model(ckpt, run / "eval", device=device, style=style))
        write_results(results, root)  # partial table after each model
    lengths = {r["train_length"] for r in results}
    curves = {r["name"]: loss_curve(r) for r in results}
    plot_loss_by_position(curves, root / "loss_by_position.png",
                          train_length=lengths.pop() if len(lengths) == 1 else None)
    return root


def generate_midi(checkpoint: str | Path, out_path: str | Path, *, prompt: str | Path | None = None,
                  n_tokens: int = 512, temperature: float = 1.2, top_p: float | None = 0.9,
                  top_k: int | None = None, seed: int = 0, grammar: bool = True,
                  device: str = "cpu", progress: Callable[[int], None] | None = None
                  ) -> dict[str, Any]:
    """Sample ``n_tokens`` REMI tokens after a prompt and write them as a MIDI file.

    Args:
        checkpoint: a checkpoint of :func:`stripes.tasks.lm.data.train_language_model`.
        out_path: the ``.mid`` to write (folders are created).
        prompt: a MIDI file to continue (tracks by program 0-3); None starts from one bar line.
        temperature, top_p, top_k: sampling ([SPE] App. C.2 uses top-p 0.9, temperature 1.2).
        seed: the PE realization and the sampling noise.
        grammar: constrain sampling with the REMI event grammar (no invalid sequence).
        progress: called with 1 after each token.

    Returns:
        ``{"path", "prompt_tokens", "tokens", "notes"}``.
    """
    import symusic

    from stripes.music.tokenizer import ids_to_score, score_to_ids
    from stripes.tasks.lm.evaluate import grammar_constraint, sample_continuation
    model, _ = load_language_model(checkpoint, device)
    tokenizer = load_checkpoint_tokenizer(checkpoint)
    if prompt is None:
        ids = [tokenizer.vocab["Bar_None"]]
    else:
        ids = score_to_ids(tokenizer, symusic.Score(str(prompt)))
        if not ids:
            raise ValueError(f"{prompt}: the prompt gives no tokens (no notes on programs 0-3?)")
    allowed = grammar_constraint(tokenizer) if grammar else None
    out = sample_continuation(model, ids, n_tokens, allowed=allowed, temperature=temperature,
                              top_k=top_k, top_p=top_p, seed=seed, progress=progress)
    score = ids_to_score(tokenizer, out.tolist())
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(out_path))
    return {"path": str(out_path), "prompt_tokens": len(ids), "tokens": len(out),
            "notes": sum(len(t.notes) for t in score.tracks)}
