"""Hostile mutations of JSON files for the fuzz tests, and what every reader must do with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from phylolm_harness import pipeline
from phylolm_harness.errors import InputError
from phylolm_harness.io.populations_file import format_populations_file
from phylolm_harness.report.markdown import render_report


def fuzz(max_examples: int) -> settings:
    """Settings of the fuzz tests: a fixed set of examples, so that CI never fails by chance.

    Raise ``max_examples`` locally to look for new cases.
    """
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.just("\ud800"),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)


def json_paths(value, prefix=()):
    """Every (path, leaf) in a parsed JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_paths(item, (*prefix, index))
    yield prefix, value


def replaced(value, path, new):
    """A copy of a parsed JSON value with the leaf at ``path`` replaced by ``new``."""
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = replaced(value[head], rest, new)
    return copy


def tree_or_input_error(folder: Path) -> None:
    """Read a results folder as ``tree`` does: a result that can be written, or one clean line."""
    try:
        found = pipeline.tree(folder, resamples=0, benchmarks_hint=False)
    except InputError as error:
        assert "\n" not in str(error)
        return
    format_populations_file(found.observations).encode("utf-8")
    render_report(found.phylogeny, found.notes).encode("utf-8")


def mutate_json_line(path: Path, data: Any) -> None:
    """Replace one value, anywhere in a JSON file or one line of a JSON Lines file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":  # lm-eval writes results files indented, over many lines
        parsed = json.loads(text)
        where, _ = data.draw(st.sampled_from(list(json_paths(parsed))))
        path.write_text(json.dumps(replaced(parsed, where, data.draw(HOSTILE)), indent=2))
        return
    lines = text.splitlines()
    row = data.draw(st.integers(0, len(lines) - 1))
    parsed = json.loads(lines[row])
    where, _ = data.draw(st.sampled_from(list(json_paths(parsed))))
    lines[row] = json.dumps(replaced(parsed, where, data.draw(HOSTILE)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
