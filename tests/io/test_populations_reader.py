"""The populations readers: JSON Lines a block of lines at once or line by line, and Parquet, must
read the same table or name the same line (row)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import fuzz, mutate_json_line

from phylolm_harness.core.table import TableBuilder
from phylolm_harness.errors import InputError
from phylolm_harness.io import populations_file, reading
from phylolm_harness.io.populations_file import (
    format_populations_file,
    read_each_line,
    read_populations_file,
)
from phylolm_harness.io.populations_parquet import SCHEMA, parquet_chunks


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
        blocks = outcome(path)
        with mock.patch.object(populations_file, "_checked_block", line_by_line):
            lines = outcome(path, read_each_line)
    assert blocks == lines


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


NUMBERS = st.one_of(
    st.integers(-(10**18) + 1, 10**18 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)


# ------------------------------------------------------------------------------------ Parquet


def as_parquet(jsonl: Path) -> Path:
    """Write the Parquet form of a JSON Lines populations file beside it."""
    path = jsonl.with_suffix(".parquet")
    path.write_bytes(b"".join(parquet_chunks(read_populations_file(jsonl), rows_per_group=5)))
    return path


def canonical(path: Path) -> str:
    """The JSON Lines form :func:`format_populations_file` writes of what a file holds."""
    return format_populations_file(read_populations_file(path))


@pytest.mark.parametrize("form", FORMS)
def test_parquet_holds_what_the_json_lines_hold(tmp_path, form):
    path = tmp_path / "pops.jsonl"
    usual_forms(path, form)
    parquet = as_parquet(path)
    assert parquet.read_bytes()[:4] == b"PAR1"
    assert canonical(parquet) == canonical(path)
    again = tmp_path / "again.parquet"
    again.write_bytes(b"".join(parquet_chunks(read_populations_file(parquet))))
    assert again.read_bytes() == b"".join(parquet_chunks(read_populations_file(path)))


def test_the_format_is_told_by_the_first_bytes_not_the_name(tmp_path):
    path = tmp_path / "pops.jsonl"
    mixed_rows(path)
    parquet = as_parquet(path)
    swapped = tmp_path / "parquet.jsonl", tmp_path / "lines.parquet"
    swapped[0].write_bytes(parquet.read_bytes())
    swapped[1].write_bytes(path.read_bytes())
    assert canonical(swapped[0]) == canonical(swapped[1]) == canonical(path)


def test_pandas_reads_the_parquet_form(tmp_path):
    import pandas as pd

    path = tmp_path / "pops.jsonl"
    mixed_rows(path)
    frame = pd.read_parquet(as_parquet(path))
    assert list(frame.columns) == SCHEMA.names and len(frame) == 18
    assert sorted(frame["model"].unique()) == ["org/a", "org/b", "other/c"]


@fuzz(150)
@given(data=st.data())
def test_random_sound_files_read_the_same_through_parquet(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("parquet") / "pops.jsonl"
    plain = st.text("abcXYZ019 .,:{}[]é€😀", min_size=1, max_size=6)
    names = plain | st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
        min_size=1,
        max_size=6,
    )
    rows = []
    for line in range(data.draw(st.integers(1, 12))):
        row = {"model": data.draw(names), "genome": "g", "fingerprint": "f", "gene": f"{line}"}
        alleles = data.draw(st.dictionaries(names | st.just(""), NUMBERS, max_size=5))
        if data.draw(st.booleans()):
            row |= {
                "mode": "exact",
                "tail": data.draw(st.floats(-1e299, 1e299)),
                "alleles": alleles,
            }
        else:
            row |= {"probes": data.draw(st.integers(-(10**15), 10**15)), "alleles": alleles}
        rows.append(row)
    write_rows(path, rows, ensure_ascii=data.draw(st.booleans()))
    assert canonical(as_parquet(path)) == canonical(path)


def parquet_rows(path: Path, edit) -> None:
    """Write the mixed rows as Parquet after ``edit(columns)`` changes them (a dict of lists)."""
    jsonl = path.with_suffix(".jsonl")
    mixed_rows(jsonl)
    columns = pq.read_table(as_parquet(jsonl)).to_pydict()
    schema = edit(columns) or SCHEMA
    pq.write_table(pa.table(columns, schema=schema), path)


def set_cell(name, row, value):
    def edit(columns):
        columns[name][row] = value

    return edit


def fields_as(name, kind):
    def edit(columns):
        return pa.schema(
            [
                pa.field(n, kind if n == name else t)
                for n, t in zip(SCHEMA.names, SCHEMA.types, strict=True)
            ]
        )

    return edit


HOSTILE = {
    "empty model": (
        set_cell("model", 3, ""),
        "row 4: model, genome, fingerprint, gene must be non-empty strings",
    ),
    "missing gene": (set_cell("gene", 5, None), "row 6: model, genome, fingerprint, gene must be"),
    "NUL in a model": (set_cell("model", 2, "a\0b"), "row 3: model holds a NUL character"),
    "unknown mode": (
        set_cell("mode", 7, "approximate"),
        "row 8: mode must be 'sampled' or 'exact'",
    ),
    "probes not whole": (set_cell("probes", 0, 8.5), "row 1: probes must be an integer"),
    "no probes on a sampled row": (set_cell("probes", 0, None), "row 1: probes must be an integer"),
    "tail not finite": (set_cell("tail", 1, float("inf")), "row 2: tail must be a finite number"),
    "one draws field": (
        set_cell("draws_mass", 1, 0.5),
        "row 2: tail draws must be {mass, count, weight}",
    ),
    "draws out of range": (set_cell("draws_count", 2, -2.0), "row 3: tail draws out of range"),
    "lists of two lengths": (
        set_cell("values", 4, [1.0]),
        "row 5: alleles and values differ in length",
    ),
    "NaN value": (
        set_cell("values", 6, [float("nan"), 0.5]),
        "row 7: alleles must map strings to numbers",
    ),
    "no alleles": (set_cell("alleles", 6, None), "row 7: alleles must map strings to numbers"),
    "a null allele name": (
        set_cell("alleles", 6, [None, "x"]),
        "row 7: alleles must map strings to numbers",
    ),
    "probes as text": (
        fields_as("probes", pa.string()),
        "column 'probes' holds string, expected numbers",
    ),
    "an allele twice": (set_cell("alleles", 6, ["ab", "ab"]), "row 7: an allele given twice"),
    "draws count not finite": (
        set_cell("draws_count", 2, float("inf")),
        "row 3: tail draws out of range",
    ),
}


def hostile_edit(case):
    edit, _ = HOSTILE[case]
    if case == "probes as text":

        def as_text(columns):
            columns["probes"] = [None if v is None else "eight" for v in columns["probes"]]
            return edit(columns)

        return as_text
    return edit


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_parquet_file_at_fault_is_named_with_its_row(tmp_path, case):
    path = tmp_path / "pops.parquet"
    parquet_rows(path, hostile_edit(case))
    with pytest.raises(InputError) as error:
        read_populations_file(path)
    assert str(error.value).startswith(f"{path}: ")
    assert HOSTILE[case][1] in str(error.value)


def test_a_parquet_file_without_a_column_is_refused(tmp_path):
    path = tmp_path / "pops.parquet"
    pq.write_table(pa.table({"model": ["a"]}), path)
    with pytest.raises(InputError, match="not a populations file: no column 'genome'"):
        read_populations_file(path)


def test_a_parquet_string_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "pops.parquet"
    parquet_rows(path, lambda columns: None)
    table = pq.read_table(path)
    bad = pa.Array.from_buffers(
        pa.string(),
        1,
        [None, pa.py_buffer(np.array([0, 2], np.int32).tobytes()), pa.py_buffer(b"\xff\xfe")],
    )
    models = pa.concat_arrays([bad, table.column("model").combine_chunks().slice(1)])
    pq.write_table(table.set_column(0, "model", models), path)
    with pytest.raises(InputError, match="(?i)utf-?8"):
        read_populations_file(path)


@fuzz(300)
@given(data=st.data())
def test_damaged_parquet_files_are_refused_in_one_line(tmp_path_factory, data):
    jsonl = tmp_path_factory.mktemp("damaged") / "pops.jsonl"
    mixed_rows(jsonl)
    content = bytearray(as_parquet(jsonl).read_bytes())
    how = data.draw(st.sampled_from(["cut", "bytes", "zeros"]))
    if how == "cut":
        content = content[: data.draw(st.integers(4, len(content) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 8))):
            at = data.draw(st.integers(4, len(content) - 1))
            content[at] = 0 if how == "zeros" else data.draw(st.integers(0, 255))
    path = jsonl.with_name("damaged.parquet")
    path.write_bytes(bytes(content))
    try:
        table = read_populations_file(path)
    except InputError as error:
        assert str(error).startswith(f"{path}") and "\n" not in str(error)
    else:
        assert len(table) <= 18  # what was read is a sound table


def test_draws_on_a_sampled_row_are_not_read_as_json_lines_leave_them(tmp_path):
    path = tmp_path / "pops.parquet"

    def edit(columns):  # row 1 is sampled
        for key, value in (("mass", 0.1), ("count", -2.0), ("weight", 0.05)):
            columns[f"draws_{key}"][0] = value

    parquet_rows(path, edit)
    table = read_populations_file(path)
    assert not table.exact[0] and table[0].draws is None
    assert canonical(path) == canonical(tmp_path / "pops.jsonl")


@pytest.mark.parametrize(
    ("column", "kind", "value", "said"),
    [
        ("model", pa.int64(), 1, "column 'model' holds int64, expected strings"),
        ("probes", pa.bool_(), True, "column 'probes' holds bool, expected numbers"),
        (
            "values",
            pa.list_(pa.string()),
            ["3", "1"],
            "column 'values' holds list<element: string>, expected lists of numbers",
        ),
    ],
)
def test_a_column_of_another_kind_is_refused(tmp_path, column, kind, value, said):
    path = tmp_path / "pops.parquet"

    def edit(columns):
        columns[column] = [value] * len(columns[column])
        return fields_as(column, kind)(columns)

    parquet_rows(path, edit)
    with pytest.raises(InputError, match=re.escape(said)):
        read_populations_file(path)


def test_the_first_row_at_fault_is_named_whatever_is_wrong_with_it(tmp_path):
    path = tmp_path / "pops.parquet"

    def edit(columns):
        columns["mode"][3] = "approximate"
        columns["tail"][1] = float("inf")

    parquet_rows(path, edit)
    with pytest.raises(InputError, match="row 2: tail must be a finite number"):
        read_populations_file(path)


def test_counts_beyond_doubles_are_read_rounded_as_json_lines_are(tmp_path):
    path = tmp_path / "pops.parquet"
    big = 2**53 + 1

    def edit(columns):
        columns["probes"] = [None if p is None else int(p) for p in columns["probes"]]
        columns["probes"][0] = big
        return fields_as("probes", pa.int64())(columns)

    parquet_rows(path, edit)
    assert read_populations_file(path).probes[0] == float(big)


@pytest.mark.parametrize(
    ("alleles", "refused"), [(["gh", "ab", "cd"], False), (["gh", "ab", "gh"], True)]
)
def test_alleles_in_any_order_are_read_and_a_repeat_among_them_refused(tmp_path, alleles, refused):
    path = tmp_path / "pops.parquet"

    def edit(columns):
        columns["alleles"][6], columns["values"][6] = alleles, [0.25, 0.25, 0.25]

    parquet_rows(path, edit)
    if refused:
        with pytest.raises(InputError, match="row 7: an allele given twice in one row"):
            read_populations_file(path)
    else:
        assert read_populations_file(path)[6].alleles == dict.fromkeys(alleles, 0.25)
