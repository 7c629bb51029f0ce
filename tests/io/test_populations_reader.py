"""The populations reader checks a block of lines at once; line by line it must read the same."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import fuzz, mutate_json_line

from phylolm_harness.core.table import TableBuilder
from phylolm_harness.errors import InputError
from phylolm_harness.io import populations_file, reading
from phylolm_harness.io.populations_file import read_populations_file


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


def outcome(path: Path) -> object:
    """What reading gives: every array and name of the table, or the message."""
    try:
        table = read_populations_file(path)
    except InputError as error:
        return str(error)
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
        fast = outcome(path)
        with mock.patch.object(populations_file, "_checked_block", line_by_line):
            slow = outcome(path)
    assert fast == slow


def test_sound_lines_are_read_a_block_at_a_time(tmp_path):
    path = tmp_path / "pops.jsonl"
    mixed_rows(path)  # sampled, exact and exact with draws, some without a mode
    one_by_one = mock.patch.object(TableBuilder, "row", side_effect=AssertionError("line path"))
    with one_by_one:
        table = read_populations_file(path)
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
