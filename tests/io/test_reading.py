"""A key given twice in one JSON object is refused by name, wherever a JSON Lines file is read."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import fuzz
from support.results_layout import write_run

from phylolm_harness.cli import main
from phylolm_harness.errors import InputError
from phylolm_harness.io.populations_file import read_populations_file
from phylolm_harness.io.reading import json_blocks, json_lines

ROW = '{"model": "m", "genome": "g", "fingerprint": "f", "gene": "x", "probes": 8, "alleles": %s}'


@pytest.mark.parametrize(
    ("alleles", "key"),
    [
        ('{"ab": 5, "cd": 3, "ab": 1}', "ab"),  # the last would win: ab = 1
        ('{"ab": 5, "cd": 3, "ab" :1}', "ab"),  # spaced before the colon
        ('{"a\\u0062": 5, "ab": 1}', "ab"),  # the same key, one written with an escape
    ],
)
def test_a_repeated_allele_is_refused_naming_the_line_and_key(tmp_path, alleles, key):
    path = tmp_path / "pops.jsonl"
    path.write_text(ROW % '{"ab": 4}' + "\n" + ROW % alleles + "\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_populations_file(path)
    assert str(error.value) == f"{path}:2: key {key!r} given twice in one object"


def test_a_repeated_key_of_the_row_is_refused(tmp_path):
    path = tmp_path / "pops.jsonl"
    path.write_text((ROW % '{"ab": 4}').replace('"gene": "x"', '"gene": "x", "gene": "y"') + "\n")
    with pytest.raises(InputError, match=r"pops.jsonl:1: key 'gene' given twice"):
        read_populations_file(path)


def test_a_repeated_key_in_lm_evals_samples_file_stops_tree(tmp_path, capsys):
    results = tmp_path / "results"
    for model in ("org/a", "org/b", "org/c"):
        write_run(results, model, {f"math-{g:03d}": ["The ", "x = "] for g in range(4)})
    samples = next(results.glob("org__b/samples_*.jsonl"))
    lines = samples.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace('"doc_id": ', '"doc_id": 7, "doc_id": ', 1)
    samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["tree", str(results), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith(f"{samples}:2: key 'doc_id' given twice in one object"), error
    assert not (tmp_path / "out").exists()


COLONS = [
    '{"a:b": 1, "c": "\\":"}',
    '{"x\\"": {"\\":": [{"y": "\\" :"}]}}',
    '["\\":", 1]',
    '"\\":"',
]


@pytest.mark.parametrize("line", COLONS)
def test_colons_and_quotes_inside_strings_are_not_taken_for_repeated_keys(tmp_path, line):
    path = tmp_path / "values.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    assert [value for _, value in json_lines(path, "file")] == [json.loads(line)]
    assert next(json_blocks(path, "file")).strict() == [json.loads(line)]


TEXT = st.text('ab:" \\{}', max_size=4)
JSON = st.recursive(
    st.none() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.lists(st.tuples(TEXT, inner), max_size=3),
    max_leaves=8,
)


def _write(value: object, colon: str = ": ") -> str:
    """JSON text of ``value``, where a list of pairs is written as an object (keys may repeat)."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        members = (f"{json.dumps(k)}{colon}{_write(v, colon)}" for k, v in value)
        return "{" + ", ".join(members) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_write(v, colon) for v in value) + "]"
    return json.dumps(value)


def _repeats(value: object) -> bool:
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        keys = [k for k, _ in value]
        return len(set(keys)) < len(keys) or any(_repeats(v) for _, v in value)
    return isinstance(value, list) and any(_repeats(v) for v in value)


@fuzz(300)
@given(value=JSON, colon=st.sampled_from([":", ": ", " :", "\t:\t"]))
def test_repeated_keys_are_refused_exactly_when_present(tmp_path_factory, value, colon):
    path = tmp_path_factory.mktemp("json") / "values.jsonl"
    path.write_text(_write(value, colon) + "\n", encoding="utf-8")
    for read in (
        lambda: [v for _, v in json_lines(path, "file")],
        lambda: next(json_blocks(path, "file")).strict(),
    ):
        if _repeats(value):
            with pytest.raises(InputError, match="given twice in one object"):
                read()
        else:
            assert read() == [json.loads(_write(value, colon))]
