"""Readers of the files the four LRA tasks train on, in the formats LRA's input pipelines read.

Each reader takes the folder that holds its task's files:

- ListOps: ``basic_{train,val,test}.tsv``, from ``lra_release/listops-1000/`` of the LRA release
  or from ``stripes lra listops``;
- Text: the extracted ``aclImdb`` folder (``{train,test}/{neg,pos}/*.txt``) of Stanford's
  ``aclImdb_v1.tar.gz`` (:data:`IMDB_URL`), which is what TFDS ``imdb_reviews`` reads: LRA loads
  IMDB through TFDS, it is not in the LRA release;
- Retrieval: ``new_aan_pairs.{train,eval,test}.tsv``, from ``lra_release/tsv_data/`` of the LRA
  release;
- Image: the extracted ``cifar-10-batches-bin`` folder (``data_batch_1..5.bin``,
  ``test_batch.bin``) of ``cifar-10-binary.tar.gz`` (:data:`CIFAR10_URL`), which is what TFDS
  ``cifar10`` reads: LRA loads CIFAR-10 through TFDS.

The LRA release is ``lra_release.gz`` from the google-research/long-range-arena README
(:data:`LRA_RELEASE_URL`). Splits are named ``train``, ``val``, ``test`` everywhere:

- Text: LRA validates on the IMDB test set (IMDB has no validation set), so ``val`` is ``test``.
  Each example is the review's bytes (LRA encodes the UTF-8 text byte by byte) and its label,
  0 = negative, 1 = positive (TFDS's order of the class names).
- Retrieval: ``val`` is the ``eval`` file. Each line holds ``label, id1, id2, text1, text2``,
  tab-separated, no header, quotes not special (LRA reads it with ``use_quote_delim=False``); the
  two texts are kept as the bytes of their fields, which is what LRA's byte encoder reads.
- Image: each image is the 32 x 32 grayscale of ``tf.image.rgb_to_grayscale`` (float32 weights
  0.2989, 0.5870, 0.1140 on RGB / 255, times 255.5, truncated), row by row: 1,024 pixels 0-255.
  LRA takes ``train[:90%]`` and ``train[90%:]`` in TFDS's stored order, which only TFDS knows;
  ours are the first 90 % and the last 10 % of the training images in file order, 45,000 and
  5,000 (the same sizes, not the same images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stripes.tasks.lra.errors import LRADataError, require
from stripes.tasks.lra.formats import SPLITS, listops_path, read_listops_tsv

LRA_RELEASE_URL = "https://storage.googleapis.com/long-range-arena/lra_release.gz"
IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"

RGB_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
CIFAR_RECORD = 1 + 3 * 1024  # a label byte, then the R, G and B planes


@dataclass
class TextExamples:
    """Documents and labels: ``texts`` N byte strings, ``labels`` ``[N]`` int64."""

    texts: list[bytes]
    labels: np.ndarray


@dataclass
class PairExamples:
    """Document pairs: ``first`` and ``second`` N byte strings each, ``labels`` ``[N]`` int64
    (1: the two papers are linked by a citation)."""

    first: list[bytes]
    second: list[bytes]
    labels: np.ndarray


@dataclass
class ImageExamples:
    """Images as pixel sequences: ``pixels`` ``[N, 1024]`` uint8 (row-major 32 x 32 grayscale),
    ``labels`` ``[N]`` int64 (the CIFAR-10 classes 0-9)."""

    pixels: np.ndarray
    labels: np.ndarray


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split: one of {', '.join(SPLITS)}, got {split!r}")


def load_listops(folder: str | Path, split: str, task: str = "basic") -> list[tuple[str, int]]:
    """The ``(source, value)`` rows of a ListOps split (LRA's files or ``stripes lra listops``)."""
    path = listops_path(folder, split, task)
    require("ListOps", [path], "the ListOps files of the LRA release "
            f"({LRA_RELEASE_URL}, folder lra_release/listops-1000/) or "
            f"`stripes lra listops --out {folder}`")
    return read_listops_tsv(path)


def load_text(folder: str | Path, split: str) -> TextExamples:
    """The IMDB reviews of a split, from the extracted ``aclImdb`` folder (``val``: the test set,
    as in LRA); files in name order, negative before positive."""
    _check_split(split)
    part = Path(folder) / ("train" if split == "train" else "test")
    classes = [part / "neg", part / "pos"]
    require("Text (IMDB)", classes, f"the aclImdb folder of {IMDB_URL} (what TFDS imdb_reviews "
            "reads; LRA loads it through TFDS, it is not in lra_release.gz)")
    texts, labels = [], []
    for label, directory in enumerate(classes):
        for path in sorted(directory.glob("*.txt")):
            texts.append(path.read_bytes())
            labels.append(label)
    return TextExamples(texts, np.asarray(labels, dtype=np.int64))


def _read_pair_line(line: bytes, where: str) -> tuple[int, bytes, bytes]:
    fields = line.removesuffix(b"\r").split(b"\t")
    if len(fields) != 5:
        raise LRADataError(f"{where}: expected 5 tab-separated fields (label, id1, id2, text1, "
                           f"text2), got {len(fields)}")
    try:
        label = float(fields[0])
    except ValueError:
        label = -1.0
    if label not in (0.0, 1.0):
        raise LRADataError(f"{where}: label must be 0 or 1, got {fields[0][:20]!r}")
    return int(label), fields[3], fields[4]


def load_retrieval(folder: str | Path, split: str) -> PairExamples:
    """The AAN document pairs of a split, from the release's ``tsv_data`` folder (``val``: the
    ``eval`` file)."""
    _check_split(split)
    path = Path(folder) / f"new_aan_pairs.{'eval' if split == 'val' else split}.tsv"
    require("Retrieval (AAN)", [path], f"the AAN pairs of the LRA release ({LRA_RELEASE_URL}, "
            "folder lra_release/tsv_data/)")
    first, second, labels = [], [], []
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        label, a, b = _read_pair_line(line, f"{path}:{number}")
        first.append(a)
        second.append(b)
        labels.append(label)
    return PairExamples(first, second, np.asarray(labels, dtype=np.int64))


def to_grayscale(rgb: np.ndarray) -> np.ndarray:
    """``[N, 3, P]`` uint8 colour planes -> ``[N, P]`` uint8 grayscale, as
    ``tf.image.rgb_to_grayscale`` computes it on uint8 images (see the module docstring)."""
    x = rgb.astype(np.float32) * np.float32(1 / 255)
    gray = x[:, 0] * RGB_WEIGHTS[0] + x[:, 1] * RGB_WEIGHTS[1] + x[:, 2] * RGB_WEIGHTS[2]
    return (gray * np.float32(255.5)).astype(np.uint8)


def _read_cifar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.fromfile(path, dtype=np.uint8)
    if data.size % CIFAR_RECORD:
        raise LRADataError(f"{path}: {data.size} bytes is not a whole number of CIFAR-10 records "
                           f"({CIFAR_RECORD} bytes each)")
    records = data.reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.size and labels.max() > 9:
        raise LRADataError(f"{path}: label {labels.max()} outside 0-9 (not CIFAR-10's binary "
                           "version?)")
    return to_grayscale(records[:, 1:].reshape(-1, 3, 1024)), labels


def load_image(folder: str | Path, split: str) -> ImageExamples:
    """The grayscale CIFAR-10 images of a split, from the extracted ``cifar-10-batches-bin``
    folder (``train``: the first 90 % of the training images, 45,000; ``val``: the last 5,000)."""
    _check_split(split)
    folder = Path(folder)
    names = ["test_batch.bin"] if split == "test" else [f"data_batch_{i}.bin" for i in range(1, 6)]
    paths = [folder / name for name in names]
    require("Image (CIFAR-10)", paths, f"the cifar-10-batches-bin folder of {CIFAR10_URL} "
            "(what TFDS cifar10 reads; LRA loads it through TFDS, it is not in lra_release.gz)")
    parts = [_read_cifar(p) for p in paths]
    pixels = np.concatenate([p for p, _ in parts])
    labels = np.concatenate([lab for _, lab in parts])
    if split != "test":
        cut = len(labels) * 9 // 10  # LRA's train[:90%] and train[90%:]: 45,000 and 5,000
        part = slice(None, cut) if split == "train" else slice(cut, None)
        pixels, labels = pixels[part], labels[part]
    return ImageExamples(pixels, labels)
