"""Passages: what models wrote (``phylolm_passages_write``), pooled into a file, and their scores.

A passages file is JSON Lines, one passage a line: ``{"id": "smol/p0-s1", "writer": "smol", "text":
"..."}``. :func:`pool_written` makes it from the samples of ``phylolm_passages_write`` runs;
``phylolm_passages`` reads it (:func:`read_passages_file`) and :func:`read_profiles` reads every
model's scores of it back from the ``phylolm_passages`` samples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phylolm_harness.core.likelihood import Profiles
from phylolm_harness.errors import InputError
from phylolm_harness.io.reading import json_lines, text
from phylolm_harness.io.runs import Results, Run, index_runs, named, newest_runs

__all__ = [
    "SCORE_TASK",
    "WRITE_TASK",
    "Passage",
    "format_passages_file",
    "pool_written",
    "read_passages_file",
    "read_profiles",
]

WRITE_TASK = "phylolm_passages_write"
SCORE_TASK = "phylolm_passages"


@dataclass(frozen=True)
class Passage:
    """One text a model wrote, to be scored by every model."""

    id: str
    writer: str
    text: str


def _string(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: {what} must be a string, got {value!r}")
    return text(value, where, what)


def format_passages_file(passages: Sequence[Passage]) -> bytes:
    """Return the passages file's bytes (one JSON object a line)."""
    return "".join(
        json.dumps({"id": p.id, "writer": p.writer, "text": p.text}, ensure_ascii=False) + "\n"
        for p in passages
    ).encode("utf-8")


def read_passages_file(path: str | Path) -> tuple[Passage, ...]:
    """Read a passages file; every line must hold a unique ``id``, a ``writer`` and a ``text``."""
    passages: list[Passage] = []
    seen: set[str] = set()
    for where, row in json_lines(Path(path), "passages file"):
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected an object with id, writer and text")
        passage = Passage(*(_string(row.get(key), where, key) for key in ("id", "writer", "text")))
        if passage.id in seen:
            raise InputError(f"{where}: passage id {passage.id!r} repeats")
        if not passage.text.strip():
            raise InputError(f"{where}: passage {passage.id!r} has an empty text")
        seen.add(passage.id)
        passages.append(passage)
    if not passages:
        raise InputError(f"{path}: no passage")
    return tuple(passages)


def _runs_of(
    results_dir: Results, task: str, rename: Mapping[str, str] | None
) -> tuple[dict[str, Run], list[str]]:
    """Return the newest run of ``task`` by each model, and notes on the older ones."""
    runs = [r for r in index_runs(results_dir, rename) if task in (r.data.get("configs") or {})]
    if not runs:
        raise InputError(
            f"{named(results_dir)}: no lm-eval results of {task} "
            f"(run lm_eval --tasks {task} --output_path DIR --log_samples)"
        )
    newest, notes = newest_runs(runs, lambda run: [(run.label, task)])
    return {label: run for (label, _), run in newest.items()}, notes


def _samples(run: Run, task: str) -> list[tuple[str, Any]]:
    path = run.samples_file(task)
    if not path.is_file():
        raise InputError(
            f"{run.results_file}: no samples file {path.name} for {task}: run lm_eval with "
            "--log_samples"
        )
    samples = list(json_lines(path, "samples file"))
    run.check_sample_count(task, len(samples))
    return samples


def _doc(sample: Any, where: str) -> Mapping[str, Any]:
    doc = sample.get("doc") if isinstance(sample, dict) else None
    if not isinstance(doc, dict):
        raise InputError(f"{where}: a sample without its document")
    return doc


def _response(sample: Mapping[str, Any], where: str, pairs: bool = False) -> Any:
    """Return the one response of a sample; with ``pairs``, the value of a (value, flag) pair."""
    found = sample.get("filtered_resps")
    while isinstance(found, list) and len(found) == 1:
        found = found[0]
    if pairs and isinstance(found, list) and len(found) == 2 and str(found[1]) in _FLAGS:
        found = found[0]
    if found is None or isinstance(found, list):
        raise InputError(f"{where}: expected one response, got {sample.get('filtered_resps')!r}")
    return found


_FLAGS = frozenset({"True", "False"})
"""How lm-eval logs the is-greedy flag lm-eval 0.5 pairs with each rolling log-likelihood."""


def _loglik(value: Any, where: str) -> float:
    """Read a log-likelihood as lm-eval logs it (a number, or its text)."""
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        return float(value)
    except ValueError:
        raise InputError(f"{where}: expected a log-likelihood, got {value!r}") from None


def pool_written(
    results_dir: Results, rename: Mapping[str, str] | None = None
) -> tuple[tuple[Passage, ...], list[str]]:
    """Pool every model's ``phylolm_passages_write`` texts into passages, with notes.

    Texts that are empty once stripped are left out, with a note naming the model.
    """
    runs, notes = _runs_of(results_dir, WRITE_TASK, rename)
    passages: list[Passage] = []
    for label, run in sorted(runs.items()):
        empty = 0
        for where, sample in _samples(run, WRITE_TASK):
            written = _response(sample, where)
            if not isinstance(written, str):
                raise InputError(f"{where}: expected the text the model wrote")
            if not written.strip():
                empty += 1
                continue
            doc_id = _string(_doc(sample, where).get("id"), where, "doc id")
            passages.append(Passage(f"{label}/{doc_id}", label, written))
        if empty:
            notes.append(f"{label}: {empty} empty text(s) left out of the passages")
    if len({p.id for p in passages}) != len(passages):
        raise InputError(f"{named(results_dir)}: a model wrote the same prompt twice in one run")
    return tuple(passages), notes


def read_profiles(
    results_dir: Results, rename: Mapping[str, str] | None = None
) -> tuple[Profiles, list[str]]:
    """Every model's log-likelihood of every passage, from its ``phylolm_passages`` samples.

    Raises
    ------
    InputError
        A model scored other passages than the rest (another passages file), a passage twice, or a
        value that is not a log-likelihood.
    """
    runs, notes = _runs_of(results_dir, SCORE_TASK, rename)
    labels = sorted(runs)
    passages: dict[str, str] | None = None
    first = ""
    rows = []
    for label in labels:
        scored: dict[str, float] = {}
        texts: dict[str, str] = {}
        for where, sample in _samples(runs[label], SCORE_TASK):
            doc = _doc(sample, where)
            passage = _string(doc.get("id"), where, "doc id")
            if passage in scored:
                raise InputError(f"{where}: passage {passage!r} scored twice")
            scored[passage] = _loglik(_response(sample, where, pairs=True), where)
            texts[passage] = _string(doc.get("text"), where, "doc text")
        if passages is None:
            passages, first = texts, label
        elif texts != passages:
            raise InputError(
                f"{runs[label].samples_file(SCORE_TASK)}: {label} scored other passages than "
                f"{first} (runs of two passages files?): score every model on one passages file"
            )
        rows.append([scored[p] for p in passages])
    assert passages is not None
    order = list(passages)
    nbytes = np.array([len(passages[p].encode("utf-8")) for p in order], dtype=np.int64)
    return Profiles(tuple(labels), tuple(order), np.array(rows, dtype=np.float64), nbytes), notes
