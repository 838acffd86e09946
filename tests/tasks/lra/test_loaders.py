"""The LRA release readers, each on a tiny file in its format written here, and the one clear
error a missing file gives."""

from __future__ import annotations

import numpy as np
import pytest

from stripes.tasks.lra.errors import LRADataError, MissingReleaseError
from stripes.tasks.lra.formats import write_listops_tsv
from stripes.tasks.lra.loaders import (
    CIFAR10_URL,
    IMDB_URL,
    LRA_RELEASE_URL,
    load_image,
    load_listops,
    load_retrieval,
    load_text,
    to_grayscale,
)
from stripes.tasks.lra.vocab import BYTE_OFFSET, decode_bytes, encode_bytes


def test_listops_reads_a_release_folder(tmp_path):
    write_listops_tsv(tmp_path / "basic_val.tsv", [("( ( ( [MAX 2 ) 9 ) ] )", 9)])
    assert load_listops(tmp_path, "val") == [("( ( ( [MAX 2 ) 9 ) ] )", 9)]


def test_a_missing_listops_split_names_its_path_and_the_release(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_listops(tmp_path, "test")
    assert isinstance(err.value, MissingReleaseError)
    message = str(err.value)
    assert str(tmp_path / "basic_test.tsv") in message and LRA_RELEASE_URL in message
    assert "listops-1000" in message and "stripes lra listops" in message


def write_imdb(root, split, reviews):
    for label, name, text in reviews:
        folder = root / split / ("pos" if label else "neg")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text.encode("utf-8"))


def test_text_reads_imdb_reviews_as_bytes_with_labels(tmp_path):
    write_imdb(tmp_path, "train", [(1, "1_9.txt", "Great film.<br />Café!"), (0, "0_2.txt", "Bad."),
                                   (0, "2_1.txt", "Worse.")])
    write_imdb(tmp_path, "test", [(1, "0_10.txt", "Fine"), (0, "1_1.txt", "Meh")])
    train = load_text(tmp_path, "train")
    assert train.texts == [b"Bad.", b"Worse.", "Great film.<br />Café!".encode()]
    assert train.labels.tolist() == [0, 0, 1]
    # LRA validates on the test set
    assert load_text(tmp_path, "val").texts == load_text(tmp_path, "test").texts == [b"Meh",
                                                                                      b"Fine"]
    ids = encode_bytes(train.texts[2])
    assert len(ids) == len("Great film.<br />Café!".encode()) and ids.min() >= BYTE_OFFSET
    assert decode_bytes(ids) == train.texts[2] and len(encode_bytes(train.texts[2], 5)) == 5


def test_missing_imdb_names_the_folders_and_the_archive(tmp_path):
    write_imdb(tmp_path, "train", [(1, "1_9.txt", "x")])
    with pytest.raises(MissingReleaseError) as err:
        load_text(tmp_path, "train")
    assert str(tmp_path / "train" / "neg") in str(err.value)
    assert str(tmp_path / "train" / "pos") not in str(err.value)
    assert IMDB_URL in str(err.value)


AAN = (b"1\taan/P01-1001\taan/P02-2002\tb'Parsing with \"quotes\" kept'\tb'Second paper'\n"
       b"0.0\taan/X\taan/Y\tb'caf\\xc3\\xa9'\tb''\n")


def test_retrieval_reads_aan_pairs_field_by_field(tmp_path):
    (tmp_path / "new_aan_pairs.train.tsv").write_bytes(AAN)
    (tmp_path / "new_aan_pairs.eval.tsv").write_bytes(AAN.splitlines(keepends=True)[1])
    pairs = load_retrieval(tmp_path, "train")
    assert pairs.labels.tolist() == [1, 0]
    assert pairs.first == [b"b'Parsing with \"quotes\" kept'", b"b'caf\\xc3\\xa9'"]
    assert pairs.second == [b"b'Second paper'", b"b''"]
    assert load_retrieval(tmp_path, "val").labels.tolist() == [0]


@pytest.mark.parametrize("line", [b"1\ta\tb\tonly four\n", b"2\ta\tb\tc\td\n",
                                  b"yes\ta\tb\tc\td\n"])
def test_retrieval_names_the_line_of_a_malformed_pair(tmp_path, line):
    (tmp_path / "new_aan_pairs.test.tsv").write_bytes(AAN + line)
    with pytest.raises(LRADataError, match=r"new_aan_pairs.test.tsv:3:"):
        load_retrieval(tmp_path, "test")


def test_missing_aan_names_the_file_and_the_release(tmp_path):
    with pytest.raises(MissingReleaseError, match="tsv_data") as err:
        load_retrieval(tmp_path, "val")
    assert str(tmp_path / "new_aan_pairs.eval.tsv") in str(err.value)
    assert LRA_RELEASE_URL in str(err.value)


def cifar_records(colours: list[tuple[int, int, int]], labels: list[int]) -> bytes:
    """CIFAR-10 binary records of flat-coloured images."""
    out = b""
    for (r, g, b), label in zip(colours, labels, strict=True):
        planes = np.concatenate([np.full(1024, c, np.uint8) for c in (r, g, b)])
        out += bytes([label]) + planes.tobytes()
    return out


def test_grayscale_follows_tensorflow_weights_and_truncation():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (10, 200, 30)]
    rgb = np.array([[np.full(4, c, np.uint8) for c in col] for col in colours])
    gray = to_grayscale(rgb)[:, 0].tolist()
    # 0.2989, 0.5870, 0.1140 times 255.5, truncated: green is 149 (149.97), not 150
    assert gray == [76, 149, 29, 255, 0, 124]


def test_image_reads_cifar_batches_as_1024_grayscale_pixels(tmp_path):
    for i in range(1, 6):
        (tmp_path / f"data_batch_{i}.bin").write_bytes(
            cifar_records([(255, 255, 255), (0, 0, 0)], [i, 0]))
    one = np.zeros((3, 1024), np.uint8)
    one[0, 2 * 32 + 5] = 255  # red at row 2, column 5
    (tmp_path / "test_batch.bin").write_bytes(bytes([7]) + one.tobytes()
                                              + cifar_records([(0, 255, 0)], [3]))
    train, val, test = (load_image(tmp_path, s) for s in ("train", "val", "test"))
    assert train.pixels.shape == (9, 1024) and val.pixels.shape == (1, 1024)  # 90 % / 10 %
    assert train.labels.tolist() == [1, 0, 2, 0, 3, 0, 4, 0, 5] and val.labels.tolist() == [0]
    assert train.pixels.dtype == np.uint8 and train.pixels[0].min() == 255
    assert test.labels.tolist() == [7, 3]
    assert np.flatnonzero(test.pixels[0]).tolist() == [69] and test.pixels[0, 69] == 76
    assert set(test.pixels[1].tolist()) == {149}


def test_image_refuses_a_file_that_is_not_whole_records(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(cifar_records([(1, 2, 3)], [0]) + b"\x00")
    with pytest.raises(LRADataError, match="3073"):
        load_image(tmp_path, "test")


def test_missing_cifar_names_every_batch_and_the_archive(tmp_path):
    with pytest.raises(MissingReleaseError) as err:
        load_image(tmp_path, "train")
    for i in range(1, 6):
        assert str(tmp_path / f"data_batch_{i}.bin") in str(err.value)
    assert CIFAR10_URL in str(err.value)


@pytest.mark.parametrize("load", [load_text, load_retrieval, load_image, load_listops])
def test_an_unknown_split_is_refused(tmp_path, load):
    with pytest.raises(ValueError, match="split"):
        load(tmp_path, "dev")
