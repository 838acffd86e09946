"""The byte-level tasks through the run pipeline, on tiny files in the release formats:
Retrieval trains and evaluates with its shared two-tower classifier; Text and Image become
id sequences led by the class token and cut to ``max_length``."""

from __future__ import annotations

import numpy as np
import torch

from stripes.tasks.lra.config import load_lra_config
from stripes.tasks.lra.data import collate_lra, load_split
from stripes.tasks.lra.train import evaluate_lra, train_lra
from stripes.tasks.lra.vocab import BYTE_OFFSET, CLS


def config(task: str, root, max_length: int, dual: bool = False, classes: int = 2):
    return load_lra_config({
        "classifier": {"model": {"input_kind": "tokens", "input_dim": 258,
                                 "output_dim": classes, "d_model": 16, "n_layers": 1,
                                 "n_heads": 2, "max_len": max_length,
                                 "attention": {"kind": "softmax", "causal": False}},
                       "mlp_dim": 8, "dual": dual},
        "data": {"task": task, "max_length": max_length},
        "train": {"epochs": 1, "batch_size": 4, "lr": 1e-3},
        "run": {"data_root": str(root), "progress": False, "tensorboard": False},
    })


def write_aan(path, rows):
    path.write_bytes(b"".join(f"{label}\tid{i}a\tid{i}b\t{a}\t{b}\n".encode()
                              for i, (label, a, b) in enumerate(rows)))


def test_retrieval_trains_and_evaluates_with_two_documents(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(int(rng.integers(2)), "x" * int(rng.integers(1, 40)), "y" * int(rng.integers(1, 9)))
            for _ in range(12)]
    for split in ("train", "eval", "test"):
        write_aan(tmp_path / f"new_aan_pairs.{split}.tsv", rows)
    cfg = config("retrieval", tmp_path, 32, dual=True)
    batch = collate_lra([load_split(cfg, "train")[i] for i in range(4)])
    assert set(batch) == {"ids", "mask", "ids2", "mask2", "labels"}
    assert batch["ids"].shape[1] <= 32 and (batch["ids2"][:, 0] == CLS).all()
    run = train_lra(cfg, tmp_path / "run")
    res = evaluate_lra(run)
    assert res["test"]["examples"] == 12 and 0 <= res["test"]["accuracy"] <= 1


def test_text_and_image_become_class_token_led_ids(tmp_path):
    for split in ("train", "test"):
        for label, cls in ((0, "neg"), (1, "pos")):
            folder = tmp_path / "aclImdb" / split / cls
            folder.mkdir(parents=True)
            (folder / "0_1.txt").write_bytes(b"ab" * (10 + label))
    text = load_split(config("text", tmp_path / "aclImdb", 8), "train")
    ids, _ = text[0]
    a, b = ord("a") + BYTE_OFFSET, ord("b") + BYTE_OFFSET
    assert ids[0].tolist() == [a, b, a, b, a, b, a]  # 7 bytes: the class token takes the 8th
    pixels = np.arange(1024 * 3, dtype=np.int64) % 256
    record = bytes([4]) + pixels.astype(np.uint8).tobytes()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (tmp_path / name).write_bytes(record * 2)
    image = load_split(config("image", tmp_path, 1025, classes=10), "test")
    batch = collate_lra([image[0], image[1]])
    assert batch["ids"].shape == (2, 1025) and (batch["ids"][:, 0] == CLS).all()
    assert batch["labels"].tolist() == [4, 4]
    assert int(batch["ids"][:, 1:].min()) >= BYTE_OFFSET and torch.all(batch["mask"])
