"""Write files all at once or not at all, and hash them.

Every output of this package goes through :func:`write_outputs` (a set of files in one folder) or
:func:`staged_folder` (a whole folder), so a reader never sees a half-written file or folder.
"""

from __future__ import annotations

import ctypes
import fnmatch
import hashlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from phylolm_harness.errors import InputError

__all__ = [
    "Chunks",
    "Content",
    "FileStamp",
    "sha256_file",
    "staged_folder",
    "write_file",
    "write_outputs",
]


Piece = bytes | memoryview
"""A piece of a file: bytes, or a view of an array's bytes."""


class Chunks:
    """A file's content made piece by piece as it is written, never whole in memory.

    ``make`` returns the pieces afresh at each iteration (bytes, or byte views of arrays, which
    are written without a copy); ``bytes(chunks)`` joins them.
    """

    def __init__(self, make: Callable[[], Iterable[Piece]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[Piece]:
        return iter(self._make())

    def __bytes__(self) -> bytes:
        return b"".join(self._make())


Content = bytes | Chunks
"""What a file holds: bytes, or :class:`Chunks` for files too big to hold in memory."""


@dataclass(frozen=True)
class FileStamp:
    """A file as it was when read (size, time of last change, inode): its copy must match it."""

    path: Path
    size: int
    mtime_ns: int
    inode: tuple[int, int]

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        """Stamp ``path`` now (before reading it)."""
        status = path.stat()
        return cls(path, status.st_size, status.st_mtime_ns, (status.st_dev, status.st_ino))

    def copy(self) -> Chunks:
        """Return the file's bytes as :class:`Chunks`, refusing a file changed since stamped.

        Raises
        ------
        InputError
            When the file is gone or differs from its stamp, so that no output copies a file
            other than the one read (the write is then abandoned whole).
        """
        return Chunks(self._pieces)

    def _pieces(self) -> Iterator[bytes]:
        changed = InputError(f"{self.path}: changed while it was being used; run again")
        try:
            with self.path.open("rb") as handle:
                if FileStamp.of(self.path) != self:
                    raise changed
                copied = 0
                while piece := handle.read(1 << 20):
                    copied += len(piece)
                    yield piece
            if copied != self.size or FileStamp.of(self.path) != self:
                raise changed
        except OSError as error:
            raise InputError(f"{self.path}: cannot read it again ({error.strerror})") from None


def _write(path: Path, content: Content) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
        return
    with path.open("wb") as handle:
        for piece in content:
            handle.write(piece)


def write_outputs(out_dir: Path, files: Mapping[str, Content], stale: Iterable[str] = ()) -> None:
    """Write ``files`` (name -> content) into ``out_dir`` as one set, replacing an earlier set.

    ``stale`` names (``fnmatch`` patterns allowed) what an earlier run may have left there. When
    ``out_dir`` holds nothing else, the new set is built in a sibling folder and exchanged with
    ``out_dir`` in one atomic step (``renameat2(RENAME_EXCHANGE)`` on Linux): a reader, or a run
    killed at any point, sees the whole old set or the whole new set, and files of the earlier
    set that this run does not write are gone. When ``out_dir`` holds other files too, each file
    is written to a staging folder and renamed into place, and stale names not written are removed.
    """
    patterns = (*stale, *files)
    if out_dir.is_symlink():  # the user's intent: write into the folder the link points to
        try:
            out_dir = out_dir.resolve(strict=False)
        except (RuntimeError, OSError) as error:  # a loop of links
            raise InputError(f"{out_dir}: a link that leads nowhere ({error})") from None
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: not a folder ({_kind(out_dir)}); name a folder or a new path")
    if out_dir.is_dir():
        for name in files:  # refuse before anything is written: the set stays one unit
            _regular_or_new(out_dir / name)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        if not out_dir.exists() or (_only(out_dir, patterns) and not _holds_cwd(out_dir)):
            _swap_folder(out_dir, files)
        else:
            _replace_files(out_dir, files, patterns)
    except OSError as error:
        raise InputError(f"{out_dir}: cannot write outputs ({error.strerror})") from None


def _only(folder: Path, patterns: Sequence[str]) -> bool:
    """Whether a folder holds nothing but plain files matching ``patterns`` (and our staging)."""
    for entry in folder.iterdir():
        if entry.name.startswith(".staging-"):
            continue
        if not entry.is_file() or not any(fnmatch.fnmatchcase(entry.name, p) for p in patterns):
            return False
    return True


def _holds_cwd(folder: Path) -> bool:
    """Whether the working directory is ``folder`` or inside it (never swap it away)."""
    cwd, target = Path.cwd().resolve(), folder.resolve()
    return cwd == target or target in cwd.parents


def _swap_folder(out_dir: Path, files: Mapping[str, Content]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    try:
        for name, content in files.items():
            _write(staging / name, content)
        mode = stat.S_IMODE(out_dir.stat().st_mode) if out_dir.exists() else 0o777 & ~_umask()
        os.chmod(staging, mode)
        if not out_dir.exists():
            os.replace(staging, out_dir)
        elif not _exchange(staging, out_dir):
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "set")
            os.replace(staging, out_dir)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # after an exchange: the old set


def _replace_files(out_dir: Path, files: Mapping[str, Content], patterns: Sequence[str]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        for name, content in files.items():
            _write(staging / name, content)
        for name in files:
            os.replace(staging / name, out_dir / name)
        for entry in out_dir.iterdir():
            matches = any(fnmatch.fnmatchcase(entry.name, p) for p in patterns)
            if entry.is_file() and entry.name not in files and matches:
                entry.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where that is not available."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
    return bool(done)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _kind(path: Path) -> str:
    """Name what a path is (for a refusal)."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def _regular_or_new(path: Path) -> None:
    """Refuse to replace anything but a regular file (a device, FIFO, link or folder)."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise InputError(
            f"{path}: {_kind(path)}, not a regular file; refusing to replace it (remove it, or "
            "write elsewhere)"
        )


def write_file(path: Path, content: bytes) -> None:
    """Write one file atomically (see :func:`write_outputs`); its folder is created if needed.

    Only a regular file or a new name is replaced: never a device, FIFO, link or folder.
    """
    _regular_or_new(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_files(path.parent, {path.name: content}, ())
    except OSError as error:
        raise InputError(f"{path}: cannot write the file ({error.strerror})") from None


@contextmanager
def staged_folder(dest: Path, prefix: str) -> Iterator[Path]:
    """Yield an empty folder beside ``dest`` that replaces ``dest`` when the block succeeds.

    On any exception the staging folder is removed and ``dest`` is left as it was, so a reader
    never sees a half-built folder.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
    try:
        yield staging
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """Return the hexadecimal sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
