"""ListOps files in the LRA release format: the writer's bytes, the reader, the release writer
and the ``stripes lra listops`` handler."""

from __future__ import annotations

import argparse

import pytest

from stripes.cli.lra import add, run_listops
from stripes.config import ConfigError
from stripes.tasks.lra.errors import LRADataError
from stripes.tasks.lra.expressions import evaluate
from stripes.tasks.lra.formats import (
    listops_path,
    read_listops_tsv,
    write_listops_release,
    write_listops_tsv,
)
from stripes.tasks.lra.listops import ListOpsConfig
from stripes.tasks.lra.vocab import tokenize_listops

SMALL = ListOpsConfig(min_length=10, max_length=60)


def test_the_writer_writes_lra_bytes_and_the_reader_reads_them_back(tmp_path):
    rows = [("( ( ( [MAX 2 ) 9 ) ] )", 9), ("( ( ( [SM 4 ) 8 ) ] )", 2)]
    path = tmp_path / "basic_train.tsv"
    assert write_listops_tsv(path, rows) == 2
    # LRA writes with csv.writer(delimiter='\t') in the default dialect: \r\n after each row
    assert path.read_bytes() == (b"Source\tTarget\r\n( ( ( [MAX 2 ) 9 ) ] )\t9\r\n"
                                 b"( ( ( [SM 4 ) 8 ) ] )\t2\r\n")
    assert read_listops_tsv(path) == rows


def test_the_reader_takes_plain_newlines(tmp_path):
    path = tmp_path / "basic_val.tsv"
    path.write_text("Source\tTarget\n( ( ( [MIN 2 ) 9 ) ] )\t2\n")
    assert read_listops_tsv(path) == [("( ( ( [MIN 2 ) 9 ) ] )", 2)]


@pytest.mark.parametrize("text, where", [
    ("Src\tTarget\n1\t1\n", ":1:"),
    ("Source\tTarget\n( [MAX 1 ) ] )\n", ":2:"),
    ("Source\tTarget\n7\t7\n( [MAX 1 ) ] )\t12\n", ":3:"),
    ("", ":1:"),
])
def test_the_reader_names_the_line_of_a_malformed_file(tmp_path, text, where):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(LRADataError, match=where):
        read_listops_tsv(path)


def test_the_release_writer_writes_three_disjoint_splits_of_the_asked_sizes(tmp_path):
    done = write_listops_release(tmp_path, (30, 5, 7), SMALL, seed=1)
    assert done.counts == {"train": 30, "val": 5, "test": 7}
    splits = {s: read_listops_tsv(listops_path(tmp_path, s)) for s in ("train", "val", "test")}
    assert [len(v) for v in splits.values()] == [30, 5, 7]
    sources = [src for rows in splits.values() for src, _ in rows]
    assert len(set(sources)) == 42
    for rows in splits.values():
        for source, label in rows:
            tokens = tokenize_listops(source)
            assert evaluate(tokens) == label and 10 < len(tokens) < 60
    assert sum(done.labels["train"]) == 30 and 10 < done.lengths["val"][0]
    assert not list(tmp_path.glob("*.partial"))


def test_the_release_writer_keeps_existing_files_unless_forced(tmp_path):
    write_listops_release(tmp_path, (3, 1, 1), SMALL, seed=1)
    before = listops_path(tmp_path, "train").read_bytes()
    with pytest.raises(FileExistsError, match="basic_train.tsv"):
        write_listops_release(tmp_path, (3, 1, 1), SMALL, seed=2)
    assert listops_path(tmp_path, "train").read_bytes() == before
    write_listops_release(tmp_path, (3, 1, 1), SMALL, seed=2, force=True)
    assert listops_path(tmp_path, "train").read_bytes() != before


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stripes")
    add(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_the_cli_handler_writes_the_release_files_and_reports_them(tmp_path, capsys):
    args = parse(["lra", "listops", "--out", str(tmp_path / "lo"), "--train", "12", "--val", "3",
                  "--test", "4", "--seed", "7", "--min-length", "20", "--max-length", "80"])
    assert args.func is run_listops
    args.func(args)
    out = capsys.readouterr().out
    assert "19 distinct examples" in out and "basic_test.tsv: 4 examples" in out
    rows = read_listops_tsv(tmp_path / "lo" / "basic_train.tsv")
    assert len(rows) == 12 and all(20 < len(tokenize_listops(s)) < 80 for s, _ in rows)


def test_the_cli_handler_refuses_a_range_no_tree_reaches(tmp_path):
    args = parse(["lra", "listops", "--out", str(tmp_path), "--min-length", "10",
                  "--max-length", "11"])
    with pytest.raises(ConfigError, match="no tree has a length"):
        args.func(args)
    assert not list(tmp_path.iterdir())


def test_the_cli_defaults_are_lras():
    args = parse(["lra", "listops", "--out", "x"])
    assert (args.train, args.val, args.test, args.min_length, args.max_length) == (
        96_000, 2_000, 2_000, 500, 2000)
