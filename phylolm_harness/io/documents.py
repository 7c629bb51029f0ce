"""Documents to draw genes from: files, folders, or a data set on a hub.

Every reader yields ``(source, text)`` pairs for :func:`phylolm_harness.genomes.build.build_genome`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phylolm_harness.errors import InputError
from phylolm_harness.io.reading import json_lines, text

__all__ = ["read_dataset_documents", "read_documents"]


def read_documents(path: str | os.PathLike[str], field: str = "text") -> Iterator[tuple[str, str]]:
    """Read documents from a file or a directory.

    Parameters
    ----------
    path : str or path-like
        One of:

        * ``.jsonl``: one JSON object per line holding the text under ``field``; an object's
          string ``"source"`` key, when present, is used as its source;
        * ``.json``: a list of such objects, or of strings;
        * ``.txt`` or ``.md``: documents separated by blank lines;
        * a directory: every regular file below it is one document, in sorted path order;
          files that are not UTF-8 text (or hold NUL bytes) are left out.
    field : str, default "text"
        Key of the text in JSON objects.

    Yields
    ------
    (str, str)
        ``(source, text)``; the source is ``"path:line"`` (JSON Lines, text files),
        ``"path:index"`` (JSON) or the file path (directories).

    Raises
    ------
    InputError
        If the path does not exist, has an unknown suffix, or a record is malformed (the message
        names ``file:line``).
    """
    root = Path(path)
    if root.is_dir():
        yield from _read_directory(root)
        return
    if not root.is_file():
        raise InputError(f"{root}: no such file or directory")
    suffix = root.suffix.lower()
    if suffix == ".jsonl":
        yield from _read_jsonl(root, field)
    elif suffix == ".json":
        yield from _read_json(root, field)
    elif suffix in (".txt", ".md"):
        yield from _read_paragraphs(root)
    else:
        raise InputError(
            f"{root}: unknown document format (use .jsonl, .json, .txt, .md or a folder)"
        )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read as UTF-8 text ({error})") from error


def _document_of(item: Any, field: str, where: str) -> tuple[str, str]:
    """Return (source, text) of one JSON record."""
    if isinstance(item, str):
        return where, text(item, where, "document")
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected a JSON object or string")
    body = item.get(field)
    if not isinstance(body, str):
        raise InputError(f"{where}: no string field {field!r}")
    source = item.get("source")
    source = text(source, where, "source") if isinstance(source, str) and source else where
    return source, text(body, where, "document")


def _read_jsonl(path: Path, field: str) -> Iterator[tuple[str, str]]:
    for where, item in json_lines(path, "documents file"):
        if isinstance(item, str):
            raise InputError(f"{where}: expected a JSON object")
        yield _document_of(item, field, where)


def _read_json(path: Path, field: str) -> Iterator[tuple[str, str]]:
    try:
        data = json.loads(_read_text(path))
    except (ValueError, RecursionError) as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of documents")
    for index, item in enumerate(data):
        yield _document_of(item, field, f"{path}:{index}")


def _read_paragraphs(path: Path) -> Iterator[tuple[str, str]]:
    lines: list[str] = []
    start = 0
    for number, line in enumerate([*_read_text(path).splitlines(), ""], start=1):
        if line.strip():
            if not lines:
                start = number
            lines.append(line)
        elif lines:
            yield f"{path}:{start}", "\n".join(lines)
            lines = []


def _read_directory(root: Path) -> Iterator[tuple[str, str]]:
    for file in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "\x00" not in text:
            yield str(file), text


def read_dataset_documents(
    name: str, split: str, field: str = "text", config: str | None = None
) -> Iterator[tuple[str, str]]:
    """Stream documents from a data set on a hub, through ``datasets.load_dataset``.

    This is how the genomes of the PhyloLM paper were drawn (OpenWebMath, MBXP); it needs network
    access.

    Parameters
    ----------
    name : str
        Data set name, e.g. ``"open-web-math/open-web-math"``.
    split : str
        Split, e.g. ``"train"``.
    field : str, default "text"
        Column holding the text.
    config : str, optional
        Data set configuration.

    Yields
    ------
    (str, str)
        ``(f"{name}:{split}:{row}", text)``.

    Raises
    ------
    InputError
        If ``datasets`` is missing, the data set cannot be reached, or a row lacks ``field``.
    """
    try:
        import datasets
    except ImportError as error:
        raise InputError("reading a hub data set needs the 'datasets' package") from error
    try:
        rows = datasets.load_dataset(name, config, split=split, streaming=True)
        iterator = iter(rows)
    except Exception as error:  # noqa: BLE001 - the library raises many unrelated types
        raise InputError(f"data set {name} ({split}): cannot be loaded ({error})") from error
    for row_number, row in enumerate(iterator):
        text = row.get(field) if isinstance(row, dict) else None
        if not isinstance(text, str):
            raise InputError(f"data set {name} ({split}) row {row_number}: no text field {field!r}")
        yield f"{name}:{split}:{row_number}", text
