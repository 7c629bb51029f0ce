"""The populations reader: compiled from bytes, a block of lines at once, or line by line, it
must read the same table or name the same line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from threading import Event
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import fuzz, mutate_json_line

from phylolm_harness.core.table import TableBuilder
from phylolm_harness.errors import InputError
from phylolm_harness.io import populations_bytes, populations_file, reading
from phylolm_harness.io.populations_bytes import scan_populations_file
from phylolm_harness.io.populations_file import read_each_line, read_populations_file


def mixed_rows(path: Path) -> None:
    """Sampled lines (with and without ``mode``), exact lines, exact lines with tail draws."""
    rows = []
    for m, model in enumerate(["org/a", "org/b", "other/c"]):
        for g in range(6):
            common = {"model": model, "genome": "math", "fingerprint": "sha256:00", "gene": f"g{g}"}
            if (m + g) % 3 == 0:
                rows.append({**common, "probes": 8, "alleles": {"ab": 5 - m, "cd": 3 + m}})
            elif (m + g) % 3 == 1:
                alleles = {"ab": 0.5, "ef": 0.25 + 0.05 * m}
                rows.append(
                    {**common, "mode": "exact", "tail": 0.25 - 0.05 * m, "alleles": alleles}
                )
            else:
                draws = {"mass": 0.25, "count": 2, "weight": 0.125}
                alleles = {"ab": 0.75, "gh": 0.25}
                rows.append({**common, "mode": "exact", "alleles": alleles, "draws": draws})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def outcome(path: Path, read=read_populations_file) -> object:
    """What reading gives: every array and name of the table, or the message."""
    try:
        table = read(path)
    except InputError as error:
        return str(error)
    return table_fields(table)


def table_fields(table):
    """Every array (type, shape and bytes) and name of a table."""
    fields = {}
    for field in dataclasses.fields(table):
        value = getattr(table, field.name)
        if isinstance(value, np.ndarray):
            value = (value.dtype.str, value.shape, value.tobytes())
        fields[field.name] = value
    return fields


def line_by_line(*_: object) -> None:
    return None


@fuzz(300)
@given(data=st.data())
def test_blocks_and_lines_read_the_same(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("reader") / "pops.jsonl"
    mixed_rows(path)
    for _ in range(data.draw(st.integers(1, 3))):
        mutate_json_line(path, data)
    size = data.draw(st.sampled_from([1, 400, 1 << 20]))  # one line, a few lines, all at once
    with mock.patch.object(reading, "_BLOCK_CHARS", size):
        scanned = outcome(path)
        blocks = outcome(path, read_each_line)
        with mock.patch.object(populations_file, "_checked_block", line_by_line):
            lines = outcome(path, read_each_line)
    assert scanned == blocks == lines


def test_sound_lines_are_read_a_block_at_a_time(tmp_path):
    path = tmp_path / "pops.jsonl"
    mixed_rows(path)  # sampled, exact and exact with draws, some without a mode
    one_by_one = mock.patch.object(TableBuilder, "row", side_effect=AssertionError("line path"))
    with one_by_one:
        table = read_each_line(path)
    assert len(table) == 18 and table.line.tolist() == list(range(1, 19))


@pytest.mark.parametrize("size", [1, 400, 1 << 20])
def test_a_byte_that_is_not_utf8_is_named_by_its_line(tmp_path, size):
    path = tmp_path / "pops.jsonl"
    mixed_rows(path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[13] = lines[13].replace(b'"ab"', b'"a\xff"')
    path.write_bytes(b"".join(lines))
    with mock.patch.object(reading, "_BLOCK_CHARS", size), pytest.raises(InputError) as error:
        read_populations_file(path)
    assert str(error.value) == f"{path}:14: not UTF-8 text"


def test_blank_lines_keep_the_numbers_of_the_others(tmp_path):
    path = tmp_path / "pops.jsonl"
    mixed_rows(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([lines[0], "\n", "  \n", *lines[1:]]), encoding="utf-8")
    table = read_populations_file(path)
    assert table.line.tolist() == [1, *range(4, 21)]


# ----------------------------------------------------------------------------- compiled reader


def rewritten(path: Path, line: int, edit) -> None:
    """Replace line ``line`` (0-based) of a JSON Lines file by ``edit(its text)``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line] = edit(lines[line])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def as_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_rows(path: Path, rows: list[dict], **dumps) -> None:
    path.write_text("".join(json.dumps(r, **dumps) + "\n" for r in rows), encoding="utf-8")


def usual_forms(path: Path, form: str) -> None:
    """The mixed rows written in one of the forms the compiled reader takes."""
    mixed_rows(path)
    rows = as_rows(path)
    if form == "crlf, blank lines, spaces":
        text = "".join(f" {json.dumps(r)}\t\r\n" + ("\r\n  \n" if i % 4 == 0 else "")
                       for i, r in enumerate(rows))  # fmt: skip
        path.write_text(text, encoding="utf-8", newline="")
    elif form == "compact, keys in another order":
        write_rows(path, [dict(reversed(r.items())) for r in rows], separators=(",", ":"))
    elif form == "names beyond ASCII":
        for r in rows:
            r["model"] = r["model"].replace("org", "組織")
            r["alleles"] = {f"{k}é€😀": v for k, v in r["alleles"].items()}
        write_rows(path, rows, ensure_ascii=False)
    elif form == "numbers in every form":
        long = "0.1000000000000000055511151231257827021181583404541015625"  # over 19 digits
        numbers = ["1e-3", "0.0040725110899131845", "-0", "-0.0", "2E2", "123456789012345678",
                   long, "5e-324"]  # fmt: skip
        text = path.read_text(encoding="utf-8")
        for k, number in enumerate(numbers):
            text = text.replace('"ab": 0.5', f'"ab": {number}', 1).replace(
                '"ab": 5', f'"ab": {k}', 1
            )
        path.write_text(text.replace('"tail": 0.25', '"tail": 2.5e-1'), encoding="utf-8")
    elif form == "no final line break":
        path.write_text(path.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")


FORMS = ["as written", "crlf, blank lines, spaces", "compact, keys in another order",
         "names beyond ASCII", "numbers in every form", "no final line break"]  # fmt: skip


@pytest.mark.parametrize("threads", [1, 3])  # the file read whole, or in stretches (joined)
@pytest.mark.parametrize("block", [17, 1 << 20])  # lines cut across reads, or a file in one
@pytest.mark.parametrize("form", FORMS)
def test_usual_files_are_read_compiled_into_the_same_table(tmp_path, form, block, threads):
    path = tmp_path / "pops.jsonl"
    usual_forms(path, form)
    with (
        mock.patch.object(populations_bytes, "BLOCK", block),
        mock.patch.object(populations_bytes, "MIN_STRETCH", 1),
    ):
        scanned = scan_populations_file(path, threads)
    assert scanned is not None
    assert table_fields(scanned) == outcome(path, read_each_line)


def test_a_written_populations_file_is_read_compiled(tmp_path):
    path = tmp_path / "pops.jsonl"
    mixed_rows(path)
    table = read_each_line(path)
    path.write_text(populations_file.format_populations_file(table), encoding="utf-8")
    scanned = scan_populations_file(path)
    assert scanned is not None and table_fields(scanned) == outcome(path, read_each_line)


LEFT_TO_THE_FULL_READER = {
    "escape in a name": lambda t: t.replace('"ab"', '"a\\u00e9"', 1),
    "escaped quote": lambda t: t.replace('"org/', '"or\\"g/', 1),
    "unknown key": lambda t: t.replace('{"model"', '{"note": 1, "model"', 1),
    "key given twice": lambda t: t.replace('{"model"', '{"gene": "x", "model"', 1),
    "allele given twice": lambda t: t.replace('{"ab": ', '{"ab": 1, "ab": ', 1),
    "no probes": lambda t: t.replace('"probes": 8, ', ""),
    "tail on a sampled line": lambda t: t.replace('"probes": 8', '"probes": 8, "tail": 0.1'),
    "probes not an integer": lambda t: t.replace('"probes": 8', '"probes": 8.0'),
    "integer of 19 digits": lambda t: t.replace('"probes": 8', '"probes": 1234567890123456789'),
    "NaN": lambda t: t.replace('"ab": 0.5', '"ab": NaN'),
    "beyond doubles": lambda t: t.replace('"ab": 0.5', '"ab": 1e400'),
    "exponent of 7 digits": lambda t: t.replace(
        '"ab": 0.5', '"ab": 0.' + "0" * 99_999 + "1e1000000"
    ),
    "empty model": lambda t: t.replace('"model": "org/a"', '"model": ""', 1),
    "unknown mode": lambda t: t.replace('"exact"', '"approximate"', 1),
    "trailing comma": lambda t: t.replace("}}", "},}", 1),
    "a line break inside a line": lambda t: t.replace(", ", ",\r ", 1),
    "truncated": lambda t: t[:40],
    "not an object": lambda _: "[1, 2]",
    "draws out of range": lambda t: t.replace('"count": 2', '"count": -2'),
    "tab in a name": lambda t: t.replace('"ab"', '"a\tb"', 1),
}


@pytest.mark.parametrize("case", list(LEFT_TO_THE_FULL_READER))
def test_other_lines_are_left_to_the_full_reader(tmp_path, case):
    path = tmp_path / "pops.jsonl"
    mixed_rows(path)
    text = path.read_text(encoding="utf-8")
    path.write_text(LEFT_TO_THE_FULL_READER[case](text), encoding="utf-8", newline="")
    assert path.read_text(encoding="utf-8") != text
    assert scan_populations_file(path) is None
    assert outcome(path) == outcome(path, read_each_line)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf{}", b'{"model": "\xff"}'])
def test_empty_or_undecodable_files_are_left_to_the_full_reader(tmp_path, content):
    path = tmp_path / "pops.jsonl"
    path.write_bytes(content)
    assert scan_populations_file(path) is None
    assert outcome(path) == outcome(path, read_each_line)


NUMBERS = st.one_of(
    st.integers(-(10**18) + 1, 10**18 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)


@fuzz(200)
@given(data=st.data())
def test_random_sound_files_read_the_same_compiled(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("scan") / "pops.jsonl"
    plain = st.text("abcXYZ019 .,:{}[]é€😀", min_size=1, max_size=6)
    names = plain | st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6)
    rows = []
    for line in range(data.draw(st.integers(1, 12))):
        row = {"model": data.draw(names), "genome": "g", "fingerprint": "f", "gene": f"{line}"}
        alleles = data.draw(st.dictionaries(names, NUMBERS, max_size=5))
        if data.draw(st.booleans()):
            row |= {
                "mode": "exact",
                "tail": data.draw(st.floats(-1e299, 1e299)),
                "alleles": alleles,
            }
        else:
            row |= {"probes": data.draw(st.integers(-(10**18) + 1, 10**18 - 1)), "alleles": alleles}
        rows.append(dict(data.draw(st.permutations(list(row.items())))))
    separators = data.draw(st.sampled_from([(", ", ": "), (",", ":"), (" ,  ", " :\t")]))
    write_rows(
        path,
        rows,
        separators=separators,
        ensure_ascii=data.draw(st.sampled_from([False] * 3 + [True])),
    )
    expected = outcome(path, read_each_line)
    with mock.patch.object(populations_bytes, "MIN_STRETCH", 1):
        scanned = scan_populations_file(path, data.draw(st.integers(1, 4)))
    if "\\" in path.read_text(encoding="utf-8"):  # an escape: left to the full reader
        assert scanned is None and outcome(path) == expected
        return
    assert scanned is not None, path.read_text(encoding="utf-8")
    assert table_fields(scanned) == expected


def test_a_stretch_that_gives_up_stops_the_others(tmp_path):
    path = tmp_path / "pops.jsonl"
    mixed_rows(path)
    size = path.stat().st_size
    failed = Event()
    assert populations_bytes.scan_stretch(path, 0, size, failed) is not None
    assert not failed.is_set()
    rewritten(path, 3, lambda line: line.replace('"ab"', '"a\\u00e9"'))  # left to the full reader
    assert populations_bytes.scan_stretch(path, 0, path.stat().st_size, failed) is None
    assert failed.is_set()
    mixed_rows(path)  # sound again: a stretch still stops once another has given up
    assert populations_bytes.scan_stretch(path, 0, size, failed) is None
