"""Write files all at once or not at all, and hash them.

Every output of this package goes through :func:`write_outputs` (a set of files in one folder) or
:func:`staged_folder` (a whole folder), so a reader never sees a half-written file or folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from phylolm_harness.errors import InputError

__all__ = ["sha256_file", "staged_folder", "write_file", "write_outputs"]


def write_outputs(out_dir: Path, files: Mapping[str, bytes], stale: Iterable[str] = ()) -> None:
    """Write ``files`` (name -> content) into ``out_dir`` and remove ``stale`` names not written.

    Every file is first written to a staging folder inside ``out_dir`` and then moved into place
    with an atomic rename, so a reader never sees a half-written file.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    except OSError as error:
        raise InputError(f"{out_dir}: cannot write outputs ({error.strerror})") from None
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        for name in files:
            os.replace(staging / name, out_dir / name)
        for name in stale:
            if name not in files:
                (out_dir / name).unlink(missing_ok=True)
    except OSError as error:
        raise InputError(f"{out_dir}: cannot write outputs ({error.strerror})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_file(path: Path, content: bytes) -> None:
    """Write one file atomically (see :func:`write_outputs`); its folder is created if needed."""
    if path.is_dir():
        raise InputError(f"{path}: cannot write a file there, it is a folder")
    try:
        write_outputs(path.parent, {path.name: content})
    except InputError as error:
        reason = str(error).rpartition("(")[2].rstrip(")")
        raise InputError(f"{path}: cannot write the file ({reason})") from None


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
