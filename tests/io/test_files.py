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
    with pytest.raises(InputError, match="dir: a folder, not a regular file"):
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


def _non_regular(kind, path, elsewhere):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link":
        elsewhere.write_bytes(b"precious")
        path.symlink_to(elsewhere)
    else:
        path.mkdir()


@pytest.mark.parametrize("kind", ["fifo", "link", "folder"])
def test_a_file_output_never_replaces_a_fifo_link_or_folder(tmp_path, kind):
    target = tmp_path / "baseline.json"
    _non_regular(kind, target, tmp_path / "precious.json")
    with pytest.raises(InputError, match=r"baseline.json: a .*, not a regular file"):
        write_file(target, b"{}")
    assert os.path.lexists(target)
    if kind != "link":
        assert not target.is_file()
    else:
        assert target.is_symlink() and (tmp_path / "precious.json").read_bytes() == b"precious"


def test_a_device_is_never_replaced():
    with pytest.raises(InputError, match="/dev/null: a device, not a regular file"):
        write_file(Path("/dev/null"), b"{}")
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize("kind", ["fifo", "link", "folder"])
def test_a_blocked_name_in_the_set_refuses_before_anything_is_written(tmp_path, kind):
    out = tmp_path / "out"
    write_outputs(out, OLD, stale=["*.csv", "*.png", "*.md"])
    (out / "b.png").unlink()
    _non_regular(kind, out / "b.png", tmp_path / "elsewhere.png")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "b.png"}
    with pytest.raises(InputError, match="b.png: a .*, not a regular file"):
        write_outputs(out, NEW, stale=["*.csv", "*.png", "*.md"])
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "b.png"}
    assert after == before


def test_an_output_folder_that_is_a_link_is_written_through(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    write_outputs(tmp_path / "link", NEW)
    assert (tmp_path / "link").is_symlink()
    assert contents(real) == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_bytes(b"mine")
    with pytest.raises(InputError, match="out: not a folder"):
        write_outputs(tmp_path / "out", NEW)
    assert (tmp_path / "out").read_bytes() == b"mine"


def test_an_output_folder_that_is_a_loop_of_links_is_one_line(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(InputError, match="loop: a link that leads nowhere"):
        write_outputs(tmp_path / "loop", NEW)
