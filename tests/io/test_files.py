"""Output sets are replaced whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phylolm_harness.errors import InputError
from phylolm_harness.io import files as files_module
from phylolm_harness.io.files import FileStamp, write_file, write_outputs

OLD = {"a.csv": b"old a", "b.png": b"old b", "c.md": b"old c"}
NEW = {"a.csv": b"new a", "b.png": b"new b", "d.txt": b"new d"}


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("foreign", [False, True])
def test_a_failure_halfway_leaves_the_old_set(tmp_path, monkeypatch, foreign):
    out = tmp_path / "out"
    write_outputs(out, OLD, stale=["*.csv", "*.png", "*.md"])
    if foreign:
        (out / "mine.txt").write_bytes(b"keep")
    before = contents(out)
    written = []
    real = Path.write_bytes

    def failing(self: Path, data: bytes) -> int:
        written.append(self.name)
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(InputError, match="out: cannot write outputs .No space left"):
        write_outputs(out, NEW, stale=["*.csv", "*.png", "*.md"])
    monkeypatch.undo()
    assert contents(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind


def test_the_new_set_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "out"
    write_outputs(out, OLD, stale=["*.csv", "*.png", "*.md"])
    write_outputs(out, NEW, stale=["*.csv", "*.png", "*.md"])
    assert contents(out) == NEW  # c.md, of the old set only, is gone


def test_without_an_atomic_exchange_the_swap_still_completes(tmp_path, monkeypatch):
    monkeypatch.setattr(files_module, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    write_outputs(out, OLD)
    write_outputs(out, NEW, stale=["*.md"])
    assert contents(out) == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_working_directory_is_never_swapped_away(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_outputs(out, OLD)
    monkeypatch.chdir(out)
    inode = out.stat().st_ino
    write_outputs(Path("."), NEW, stale=["*.md"])
    assert out.stat().st_ino == inode and contents(out) == NEW


def test_write_file_names_the_file(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(InputError, match="dir: cannot write a file there, it is a folder"):
        write_file(tmp_path / "dir", b"x")
    write_file(tmp_path / "new" / "g.json", b"x")
    assert (tmp_path / "new" / "g.json").read_bytes() == b"x"


def test_a_stamped_file_is_copied_only_as_it_was(tmp_path):
    given = tmp_path / "pops.jsonl"
    given.write_bytes(b"x" * (3 << 20))  # several pieces
    stamp = FileStamp.of(given)
    write_outputs(tmp_path / "out", {"pops.jsonl": stamp.copy()})
    assert (tmp_path / "out" / "pops.jsonl").read_bytes() == given.read_bytes()
    given.write_bytes(b"y" * (3 << 20))  # same size, written again
    os.utime(given, ns=(stamp.mtime_ns + 1, stamp.mtime_ns + 1))
    with pytest.raises(InputError, match="pops.jsonl: changed while it was being used"):
        write_outputs(tmp_path / "out", {"pops.jsonl": stamp.copy(), "a.csv": b"new"})
    assert (tmp_path / "out" / "pops.jsonl").read_bytes() == b"x" * (3 << 20)  # old set kept
    assert not (tmp_path / "out" / "a.csv").exists()
    given.unlink()
    with pytest.raises(InputError, match="cannot read it again"):
        bytes(stamp.copy())
