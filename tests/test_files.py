"""Output rules of openeie.files: replace only what is provably ours, never leave anything half-written."""

import json
import os

import pytest

from openeie.errors import FileInputError, OutputError
from openeie.files import OutputKind, check_output_dir, input_file, read_text, staged_dir, working_dir, write_text

KIND = OutputKind(format="openeie-test", marker="index.json", patterns=("index.json", "*.txt", "sub/*.bin"))


def _ours(path, extra=()):
    path.mkdir(parents=True)
    (path / "index.json").write_text(json.dumps({"format": "openeie-test"}))
    (path / "a.txt").write_text("old")
    for name in extra:
        (path / name).write_text("x")


def test_staged_dir_replaces_our_own_directory(tmp_path):
    _ours(tmp_path / "out")
    with staged_dir(tmp_path / "out", KIND) as tmp:
        assert tmp.parent == tmp_path and tmp.name != "out"
        (tmp / "index.json").write_text(json.dumps({"format": "openeie-test"}))
        (tmp / "b.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.txt", "index.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]            # no temporary left
    (tmp_path / "plain").mkdir()
    assert (tmp_path / "out").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777


@pytest.mark.parametrize("setup, match", [
    (lambda p: (p.mkdir(), (p / "thesis.tex").write_text("keep")), "holds no readable index.json"),
    (lambda p: (p.mkdir(), (p / "index.json").write_text('{"format": "other"}')), "says format 'other'"),
    (lambda p: (p.mkdir(), (p / "index.json").write_text("not json")), "holds no readable index.json"),
    (lambda p: _ours(p, ["notes.md"]), r"holds files OpenEIE did not write \(notes.md\)"),
    (lambda p: p.write_text("a file"), "exists and is not a directory"),
])
def test_foreign_outputs_are_refused_and_untouched(tmp_path, setup, match):
    out = tmp_path / "out"
    setup(out)
    before = sorted((p.relative_to(tmp_path), p.read_bytes() if p.is_file() else b"") for p in tmp_path.rglob("*"))
    with pytest.raises(OutputError, match=match):
        with staged_dir(out, KIND):
            raise AssertionError("the block must not run")
    assert sorted((p.relative_to(tmp_path), p.read_bytes() if p.is_file() else b"")
                  for p in tmp_path.rglob("*")) == before


def test_failure_inside_leaves_nothing(tmp_path):
    _ours(tmp_path / "out")
    with pytest.raises(RuntimeError):
        with staged_dir(tmp_path / "out", KIND) as tmp:
            (tmp / "b.txt").write_text("half")
            raise RuntimeError("boom")
    assert (tmp_path / "out" / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with pytest.raises(RuntimeError):
        with staged_dir(tmp_path / "new" / "deep" / "out", KIND):
            raise RuntimeError("boom")
    assert not (tmp_path / "new").exists()                                   # parents it created go too


def test_working_dir_removes_only_an_empty_directory_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with working_dir(tmp_path / "w", KIND):
            raise RuntimeError("tool missing")
    assert not (tmp_path / "w").exists()
    with pytest.raises(RuntimeError):
        with working_dir(tmp_path / "w", KIND) as w:
            (w / "log.txt").write_text("why it failed")
            raise RuntimeError("tool failed")
    assert (tmp_path / "w" / "log.txt").exists()                              # the log is kept
    check_output_dir(tmp_path / "w", KIND)                                    # and the directory is ours


def test_inputs_must_be_bounded_regular_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(FileInputError, match="not a regular file"):
        input_file(tmp_path / "fifo", "thing")
    (tmp_path / "big").write_text("x" * 100)
    with pytest.raises(FileInputError, match="is 100 bytes: expected at most 10"):
        read_text(tmp_path / "big", "thing", max_bytes=10)


def test_write_text_is_atomic_and_names_the_users_path(tmp_path):
    write_text(tmp_path / "a" / "b.txt", "hello")
    assert (tmp_path / "a" / "b.txt").read_text() == "hello"
    (tmp_path / "plain.txt").write_text("x")                       # what open() makes
    assert (tmp_path / "a" / "b.txt").stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputError, match=r"'.*dir' is a directory"):
        write_text(tmp_path / "dir", "x")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.txt"]
