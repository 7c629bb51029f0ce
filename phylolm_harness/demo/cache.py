"""The demo's cache: where it lives, and folders that say whether they are complete and intact.

A cached folder (converted model, derived model, lm-eval outputs) is built in a temporary sibling
and renamed into place, with a completion marker written last that holds what the folder was made
from and the sha256 of every file: a half-written, corrupted or stale folder is detected and
rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from phylolm_harness.errors import InputError
from phylolm_harness.io.files import sha256_file, staged_folder

__all__ = [
    "MARKER",
    "build_folder_atomically",
    "check_free_space",
    "marker_checksum",
    "require_conversion_extras",
    "verify_marker",
]

MARKER = "phylolm-harness-complete.json"
"""File written last into a converted folder: source checksum and the sha256 of every file."""

DEMO_EXTRA_HINT = "pip install 'phylolm-harness[demo]'"
"""What to run when an optional dependency of the real-model path is missing."""


def require_conversion_extras() -> None:
    """Check that the optional packages needed to read GGUF weights are installed.

    Raises
    ------
    InputError
        Naming the missing package and the pip command that installs it.
    """
    for module, package in (("gguf", "gguf"), ("transformers", "transformers")):
        if importlib.util.find_spec(module) is None:
            raise InputError(
                f"the real-model demo needs the optional package {package!r}: {DEMO_EXTRA_HINT}"
            )


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Fail early when a folder's disk has less free space than needed.

    Parameters
    ----------
    folder : Path
        Folder that will receive the data (its nearest existing parent is measured).
    needed : int
        Bytes about to be written.
    what : str
        What is being written, for the message.

    Raises
    ------
    InputError
        With the free and needed sizes.
    """
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise InputError(
            f"{folder}: not enough disk space for {what} "
            f"({free / 1e9:.2f} GB free, about {needed / 1e9:.2f} GB needed); "
            "free some space or pass another cache folder"
        )


def folder_checksums(folder: Path) -> dict[str, str]:
    """Return the sha256 of every file of a folder, marker excluded, by relative path.

    Parameters
    ----------
    folder : Path
        Folder to hash.

    Returns
    -------
    dict of str to str
        Relative POSIX path -> hexadecimal sha256, sorted by path.
    """
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.name != MARKER)
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}


def write_marker(folder: Path, source: Mapping[str, str]) -> str:
    """Write the completion marker of a folder: what it was made from and its files' sha256.

    Parameters
    ----------
    folder : Path
        A finished folder.
    source : mapping of str to str
        Description of what the folder was made from (compared on reuse).

    Returns
    -------
    str
        The folder's checksum: sha256 of the canonical JSON of its file checksums.
    """
    files = folder_checksums(folder)
    checksum = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    marker = {"source": dict(source), "files": files, "checksum": checksum}
    (folder / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True), encoding="utf-8")
    return checksum


def verify_marker(folder: Path, source: Mapping[str, str]) -> str | None:
    """Check a folder against its completion marker.

    Parameters
    ----------
    folder : Path
        Folder to check.
    source : mapping of str to str
        What the folder must have been made from.

    Returns
    -------
    str or None
        A reason the folder cannot be used (missing, incomplete, corrupted, stale), or ``None``
        when it is complete and intact.
    """
    marker_path = folder / MARKER
    if not folder.is_dir():
        return "missing"
    if not marker_path.is_file():
        return "incomplete (no completion marker)"
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
        files, stored_source = marker["files"], marker["source"]
    except (OSError, ValueError, KeyError, TypeError):
        return "corrupted completion marker"
    if stored_source != dict(source):
        return "made from other inputs"
    if folder_checksums(folder) != files:
        return "corrupted (file checksums differ from the completion marker)"
    return None


def marker_checksum(folder: Path) -> str:
    """Return the checksum recorded in a folder's completion marker.

    Parameters
    ----------
    folder : Path
        A folder written with :func:`write_marker`.

    Returns
    -------
    str
        The checksum.
    """
    data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    return str(data["checksum"])


def build_folder_atomically(
    dest: Path, build: Callable[[Path], None], source: Mapping[str, str]
) -> str:
    """Build a folder in a temporary sibling, mark it complete, then rename it into place.

    Parameters
    ----------
    dest : Path
        Final folder (replaced if present).
    build : callable
        ``build(tmp_folder)`` writes the content.
    source : mapping of str to str
        Recorded in the completion marker.

    Returns
    -------
    str
        The folder's checksum.
    """
    with staged_folder(dest, f".{dest.name}.tmp-") as tmp:
        build(tmp)
        checksum = write_marker(tmp, source)
    return checksum
