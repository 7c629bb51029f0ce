"""Reading user files defensively: every problem becomes one line naming the file (and line).

JSON Lines and CSV files come from other tools and from people; these readers turn unreadable files,
bytes that are not UTF-8, malformed or absurd JSON (numbers of thousands of digits, nesting deep
enough to exhaust the stack), oversized CSV fields and unpaired surrogates into
:class:`~phylolm_harness.errors.InputError` messages instead of tracebacks.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from phylolm_harness.errors import InputError

__all__ = ["csv_rows", "json_lines", "json_values", "text"]


def json_lines(path: Path, what: str) -> Iterator[tuple[str, Any]]:
    """Yield ``("file:line", value)`` for every non-blank line of a JSON Lines file.

    Parameters
    ----------
    path : Path
        The file (a regular file: anything else is refused rather than waited on).
    what : str
        What the file is, for messages (``"samples file"``).

    Raises
    ------
    InputError
        Naming the file, or ``file:line``, for any problem.
    """
    for number, value, _ in json_values(path, what):
        yield f"{path}:{number}", value


def json_values(path: Path, what: str) -> Iterator[tuple[int, Any, bool]]:
    """Yield ``(line number, value, plain)`` for every non-blank line of a JSON Lines file.

    ``plain`` is true when the line was strict JSON (read by ``orjson``): its strings then hold
    no unpaired surrogate. Other lines are read by the standard library, which accepts ``NaN``,
    lone surrogates and integers of any size (``orjson`` would read 19 digits or more as a float),
    for the caller to refuse them by name.

    Raises
    ------
    InputError
        As :func:`json_lines`.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such {what} (or not a regular file)")
    number = 0
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):  # noqa: B007 - used in messages
                try:
                    if _LONG_DIGITS.search(line) is None:
                        yield number, orjson.loads(line), True
                        continue
                except orjson.JSONDecodeError:
                    pass
                if line.strip():
                    yield number, _loads(line, f"{path}:{number}"), False
    except UnicodeDecodeError:
        raise InputError(f"{path}:{number + 1}: not UTF-8 text") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the {what} ({error.strerror})") from None


_LONG_DIGITS = re.compile(r"[:,\[]\s*-?\d{19,}\s*[,}\]]")
"""An integer of 19 digits or more, which orjson would not hold exactly (or text that looks so)."""


def _loads(line: str, where: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        raise InputError(f"{where}: malformed JSON line (truncated file?)") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        raise InputError(f"{where}: unreadable JSON value ({error})") from None


def csv_rows(path: Path, what: str) -> tuple[list[str], list[dict[str, str]]]:
    """Read a CSV file with a header row: ``(field names, rows)``.

    A UTF-8 byte-order mark (as spreadsheet programs write) is accepted. Field names and values
    are stripped of surrounding spaces.

    Raises
    ------
    InputError
        Naming the file for an unreadable file, bytes that are not UTF-8 or a malformed CSV.
    """
    if not path.is_file():
        raise InputError(f"{path}: cannot read the {what} (no such file, or not a regular file)")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            fields = [name.strip() for name in reader.fieldnames or []]
    except UnicodeDecodeError:
        raise InputError(f"{path}: the {what} is not UTF-8 text") from None
    except csv.Error as error:
        raise InputError(f"{path}: malformed {what} ({error})") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the {what} ({error.strerror})") from None
    cleaned = [
        {(k or "").strip(): (v if isinstance(v, str) else "").strip() for k, v in row.items()}
        for row in rows
    ]
    return fields, cleaned


def text(value: str, where: str, what: str) -> str:
    r"""Return ``value`` if it can be written as UTF-8, else raise naming ``where`` and ``what``.

    JSON escapes can produce unpaired surrogates (``"\\ud800"``), which no output file can hold.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: {what} {value!r} holds an unpaired surrogate") from None
    return value
