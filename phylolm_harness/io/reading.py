"""Reading user files defensively: every problem becomes one line naming the file (and line).

JSON Lines and CSV files come from other tools and from people; these readers turn unreadable files,
bytes that are not UTF-8, malformed or absurd JSON (numbers of thousands of digits, nesting deep
enough to exhaust the stack), a key given twice in one object (which JSON parsers resolve silently,
keeping the last), oversized CSV fields and unpaired surrogates into
:class:`~phylolm_harness.errors.InputError` messages instead of tracebacks.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from phylolm_harness.errors import InputError

__all__ = ["JsonBlock", "csv_rows", "json_blocks", "json_lines", "json_values", "text"]


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
    for block in json_blocks(path, what):
        yield from block.values()


def json_blocks(path: Path, what: str) -> Iterator[JsonBlock]:
    """Yield the lines of a JSON Lines file a block (about a megabyte) at a time.

    Raises
    ------
    InputError
        As :func:`json_lines`; a byte that is not UTF-8 is named by its line.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such {what} (or not a regular file)")
    try:
        with path.open(encoding="utf-8") as handle:
            first = 1
            while lines := handle.readlines(_BLOCK_CHARS):
                yield JsonBlock(path, first, lines)
                first += len(lines)
    except UnicodeDecodeError:
        raise InputError(f"{path}:{_undecodable_line(path)}: not UTF-8 text") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the {what} ({error.strerror})") from None


_BLOCK_CHARS = 1 << 20


@dataclass(frozen=True)
class JsonBlock:
    """Consecutive lines of a JSON Lines file, the first numbered ``first``."""

    path: Path
    first: int
    lines: list[str]

    def strict(self) -> list[Any] | None:
        """Return every line read by ``orjson`` in one pass; ``None`` if a line is not strict JSON.

        Blank lines are not strict JSON. An integer beyond 64 bits reads as a float here (the
        value a float can hold of it); :meth:`values` reads it exactly.

        Raises
        ------
        InputError
            Naming ``file:line`` and the key, for an object that gives a key twice.
        """
        try:
            rows = list(map(orjson.loads, self.lines))
        except orjson.JSONDecodeError:
            return None
        if _key_ends("".join(self.lines)) != sum(map(_members, rows)):
            for number, (line, row) in enumerate(zip(self.lines, rows, strict=True), self.first):
                _refuse_repeated_keys(line, row, f"{self.path}:{number}")
        return rows

    def values(self) -> list[tuple[int, Any, bool]]:
        """Return :func:`json_values`'s ``(line number, value, plain)`` for each non-blank line.

        Raises
        ------
        InputError
            Naming ``file:line`` for a line that is not JSON.
        """
        values: list[tuple[int, Any, bool]] = []
        for number, line in enumerate(self.lines, self.first):
            try:
                if _LONG_DIGITS.search(line) is None:
                    value = orjson.loads(line)
                    _refuse_repeated_keys(line, value, f"{self.path}:{number}")
                    values.append((number, value, True))
                    continue
            except orjson.JSONDecodeError:
                pass
            if line.strip():
                values.append((number, _loads(line, f"{self.path}:{number}"), False))
        return values


def _undecodable_line(path: Path) -> int:
    """Return the number of the first line of ``path`` that is not UTF-8."""
    number = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):  # noqa: B007 - the count is returned
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return number + 1  # pragma: no cover - the file changed while read


_LONG_DIGITS = re.compile(r"[:,\[]\s*-?\d{19,}\s*[,}\]]")
"""An integer of 19 digits or more, which orjson would not hold exactly (or text that looks so)."""


_KEY_END = re.compile(r'"[ \t\r\n]*:')
"""A string's end before a colon: once for each member of an object, and where a string holds it."""

_SPACED_KEY_END = re.compile(r'"[ \t\r\n]+:')


def _key_ends(text: str) -> int:
    """Count the matches of :data:`_KEY_END` in ``text`` (the usual, unspaced ones by ``count``)."""
    if _SPACED_KEY_END.search(text) is None:
        return text.count('":')
    return len(_KEY_END.findall(text))


def _members(value: Any) -> int:
    """Count the members of every object in a parsed JSON value."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            count += len(item)
            stack += [v for v in item.values() if type(v) is dict or type(v) is list]
        elif type(item) is list:
            stack += [v for v in item if type(v) is dict or type(v) is list]
    return count


def _refuse_repeated_keys(line: str, value: Any, where: str) -> None:
    """Refuse a line whose objects give a key twice (``value``: the line as a parser kept it).

    A parser keeps one member per key, and every member's key ends in ``"`` then ``:``, so a line
    with as many such ends as the parsed value has members gives no key twice; otherwise (a colon
    inside a string, or a repeated key) the line is read again, keeping every member.
    """
    if _key_ends(line) != _members(value):
        _loads(line, where)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) < len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return members


class _RepeatedKey(ValueError):
    pass


def _loads(line: str, where: str) -> Any:
    try:
        return json.loads(line, object_pairs_hook=_unique_members)
    except _RepeatedKey as error:
        raise InputError(f"{where}: key {str(error)!r} given twice in one object") from None
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
