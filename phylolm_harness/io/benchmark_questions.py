"""Per-question results of benchmark runs, from lm-eval's samples files (``--log_samples``).

Each line of ``samples_<task>_<timestamp>.jsonl`` holds one question (``doc_id``), the filter its
responses went through, and the value of every metric on it: a number (``acc``: 0 or 1) or a
``[log-likelihood, size]`` pair (``bits_per_byte``, perplexities). MMLU's group has one file a
subject. These feed the random-questions baseline of :mod:`phylolm_harness.core.subsample`;
anything that keeps it from being computed is said in a note, never an error: the baseline is a
yardstick beside the predictions, not an input to them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from phylolm_harness.core.subsample import QuestionScores
from phylolm_harness.errors import InputError
from phylolm_harness.io.mmlu import SUBJECTS, mmlu_group
from phylolm_harness.io.reading import json_lines
from phylolm_harness.io.runs import Run

__all__ = ["read_question_scores"]


def read_question_scores(
    benchmark: str, task: str, key: str, runs: Mapping[str, Run]
) -> tuple[QuestionScores | None, str | None]:
    """Per-question results of ``task``'s ``key`` (``"acc,none"``) in each model's run.

    Parameters
    ----------
    benchmark : str
        The benchmark's name, for the note.
    task : str
        lm-eval's task, or ``"mmlu"`` for either MMLU group (read subject by subject).
    key : str
        ``metric,filter``.
    runs : mapping
        Model label -> the run its score comes from.

    Returns
    -------
    questions : QuestionScores or None
        On the questions every model answered; ``None`` when they cannot be read.
    note : str or None
        Why not, when they cannot.
    """
    metric, _, kept = key.partition(",")
    answers: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
    missing, kinds = [], set()
    for label, run in sorted(runs.items()):
        tasks = _tasks(run, task)
        files = [run.samples_file(t) for t in tasks]
        if not files or not all(path.is_file() for path in files):
            missing.append(label)
            continue
        answers[label] = {}
        try:
            for name, path in zip(tasks, files, strict=True):
                for where, row in json_lines(path, "samples file"):
                    if not isinstance(row, dict) or row.get("filter", kept) != kept:
                        continue
                    pair = _pair(row.get(metric))
                    if pair is None:
                        return None, (
                            f"{benchmark}: the random-questions baseline is left out: {where}: "
                            f"{metric} is not a number or a [value, size] pair"
                        )
                    kinds.add("pair" if isinstance(row[metric], list) else "")
                    answers[label][(name, str(row.get("doc_id")))] = pair
        except InputError as error:
            return None, f"{benchmark}: the random-questions baseline is left out: {error}"
    if missing:
        return None, (
            f"{benchmark}: the random-questions baseline needs every scored model's per-question "
            f"results (lm_eval --log_samples); none for {', '.join(missing)}"
        )
    aggregate = _aggregate(metric, kinds)
    if aggregate is None:
        return None, (
            f"{benchmark}: the random-questions baseline is left out: how lm-eval aggregates "
            f"{metric} from per-question results is not known here"
        )
    labels = tuple(answers)
    common = sorted(set.intersection(*(set(a) for a in answers.values()))) if labels else []
    values = np.array([[answers[m][q][0] for q in common] for m in labels], dtype=np.float64)
    sizes = np.array([[answers[m][q][1] for q in common] for m in labels], dtype=np.float64)
    return QuestionScores(labels, values.reshape(len(labels), len(common)),
                          sizes.reshape(len(labels), len(common)), aggregate), None  # fmt: skip


def _tasks(run: Run, task: str) -> list[str]:
    if task != "mmlu":
        return [task]
    group = mmlu_group(run.data)
    return [f"{group}_{s}" for s in SUBJECTS] if group else []


def _pair(value: Any) -> tuple[float, float] | None:
    """Return a per-question value as ``(value, size)``; ``None`` when it is neither kind."""
    if isinstance(value, bool):
        return float(value), 1.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value), 1.0
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) for v in value)
        and value[1] > 0
    ):
        return float(value[0]), float(value[1])
    return None


def _aggregate(metric: str, kinds: set[str]) -> str | None:
    if kinds <= {""}:
        return "mean"
    if kinds != {"pair"}:
        return None
    if metric == "bits_per_byte":
        return "bits_per_byte"
    if metric.endswith("perplexity"):
        return "perplexity"
    return None
