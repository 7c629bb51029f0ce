"""Per-question results of benchmark runs, from lm-eval's samples files (``--log_samples``).

Each line of ``samples_<task>_<timestamp>.jsonl`` holds one question (``doc_id``), the filter its
responses went through, and the value of every metric on it: a number (``acc``: 0 or 1) or a
``[log-likelihood, size]`` pair (``bits_per_byte``, perplexities). MMLU's group has one file a
subject. These feed the random-questions baseline of :mod:`phylolm_harness.core.subsample`;
anything that keeps it from being computed is said in a note, never an error: the baseline is a
yardstick beside the predictions, not an input to them. Per-question results are summed as the
results file's task config says lm-eval aggregates the metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from phylolm_harness.core.subsample import QuestionScores
from phylolm_harness.errors import InputError
from phylolm_harness.io.mmlu import GROUPS, SUBJECTS, mmlu_group
from phylolm_harness.io.reading import json_lines
from phylolm_harness.io.runs import Run

__all__ = ["leaf_tasks", "read_question_scores"]


def read_question_scores(
    benchmark: str, task: str, key: str, runs: Mapping[str, Run]
) -> tuple[QuestionScores | None, list[str]]:
    """Per-question results of ``task``'s ``key`` (``"acc,none"``) in each model's run.

    Parameters
    ----------
    benchmark : str
        The benchmark's name, for the notes.
    task : str
        lm-eval's task or group (read task by task, through the results file's
        ``group_subtasks``), or ``"mmlu"`` for either MMLU group.
    key : str
        ``metric,filter``.
    runs : mapping
        Model label -> the run its score comes from.

    Returns
    -------
    questions : QuestionScores or None
        The models whose runs logged them, on the questions all of those answered; ``None`` when
        they cannot be read.
    notes : list of str
        What was left out, and why.
    """
    metric, _, kept = key.partition(",")
    answers: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
    missing, aggregates = [], set()
    lead = f"{benchmark}: the random-questions baseline is left out:"
    for label, run in sorted(runs.items()):
        tasks = leaf_tasks(run, task)
        files = [run.samples_file(t) for t in tasks]
        if not files or not all(path.is_file() for path in files):
            missing.append(label)
            continue
        answers[label] = {}
        try:
            for name, path in zip(tasks, files, strict=True):
                aggregates.add(_aggregation(run, name, metric))
                count = 0
                for where, row in json_lines(path, "samples file"):
                    if not isinstance(row, dict):
                        return None, [f"{lead} {where}: not a JSON object"]
                    if row.get("filter", kept) != kept:
                        continue
                    count += 1
                    doc = row.get("doc_id")
                    pair = _pair(row.get(metric))
                    if not isinstance(doc, int) or isinstance(doc, bool) or pair is None:
                        what = "doc_id" if pair is not None else metric
                        return None, [f"{lead} {where}: {what} is not usable ({row.get(what)!r})"]
                    if (name, str(doc)) in answers[label]:
                        return None, [f"{lead} {where}: question {doc} of {name} logged twice"]
                    answers[label][(name, str(doc))] = pair
                run.check_sample_count(name, count)
        except InputError as error:
            return None, [f"{lead} {error}"]
    notes = []
    if missing:
        notes.append(
            f"{benchmark}: no per-question results (lm_eval --log_samples) for "
            f"{', '.join(missing)}: the random-questions baseline cannot include them"
        )
    aggregate = _aggregate(aggregates)
    if not answers or aggregate is None:
        if answers:
            notes.append(f"{lead} lm-eval aggregates {metric} in a way not summed here")
        return None, notes
    labels = tuple(answers)
    common = sorted(set.intersection(*(set(a) for a in answers.values())))
    values = np.array([[answers[m][q][0] for q in common] for m in labels], dtype=np.float64)
    sizes = np.array([[answers[m][q][1] for q in common] for m in labels], dtype=np.float64)
    shape = (len(labels), len(common))
    values, sizes = values.reshape(shape), sizes.reshape(shape)
    with np.errstate(over="ignore"):
        finite = np.isfinite(values.sum(axis=1)).all() and np.isfinite(sizes.sum(axis=1)).all()
    if not finite:
        return None, [*notes, f"{lead} per-question values too large to add up"]
    return QuestionScores(labels, values, sizes, aggregate), notes


def leaf_tasks(run: Run, task: str) -> list[str]:
    """Return the tasks (leaves of ``group_subtasks``) whose samples hold ``task``'s questions."""
    if task == "mmlu":
        group = mmlu_group(run.data)
        if group is None:
            return []
        task = group
    table = run.data.get("group_subtasks")
    groups = table if isinstance(table, dict) else {}
    if task not in groups:
        return [f"{task}_{s}" for s in SUBJECTS] if task in GROUPS else [task]
    leaves, pending, seen = [], [task], set()
    while pending:
        name = pending.pop(0)
        members = groups.get(name)
        if isinstance(members, list) and name not in seen:
            seen.add(name)
            pending += [str(m) for m in members]
        elif name not in seen:
            leaves.append(name)
    return sorted(set(leaves))


def _aggregation(run: Run, task: str, metric: str) -> str | None:
    """How lm-eval aggregates ``metric`` of ``task``, as the results file's config says."""
    configs = run.data.get("configs")
    config = configs.get(task) if isinstance(configs, dict) else None
    metrics = config.get("metric_list") if isinstance(config, dict) else None
    for entry in metrics if isinstance(metrics, list) else []:
        if isinstance(entry, dict) and entry.get("metric") == metric:
            aggregation = entry.get("aggregation")
            return aggregation if isinstance(aggregation, str) else None
    # tasks written in Python (no metric_list): lm-eval's defaults for these metrics
    return _DEFAULTS.get(metric)


_DEFAULTS = {
    "acc": "mean", "acc_norm": "mean", "exact_match": "mean", "mcc": None, "f1": None,
    "perplexity": "perplexity", "word_perplexity": "weighted_perplexity",
    "byte_perplexity": "weighted_perplexity", "bits_per_byte": "bits_per_byte",
}  # fmt: skip
_SUMMED = {
    "mean": "mean",
    "perplexity": "perplexity",  # exp(-mean of log-likelihoods)
    "weighted_perplexity": "perplexity",  # exp(-Σ ll / Σ size)
    "bits_per_byte": "bits_per_byte",
}


def _aggregate(aggregations: set[str | None]) -> str | None:
    """Our aggregate of lm-eval's aggregation, when every task agrees and we sum it."""
    found = {_SUMMED.get(a) if a is not None else None for a in aggregations}
    return found.pop() if len(found) == 1 else None


def _pair(value: Any) -> tuple[float, float] | None:
    """Return a per-question value as ``(value, size)``; ``None`` when it is neither kind."""
    numbers = value if isinstance(value, list) and len(value) == 2 else [value, 1.0]
    if not all(isinstance(v, int | float) for v in numbers):
        return None
    if isinstance(value, list) and any(isinstance(v, bool) for v in numbers):
        return None  # a flag is no log-likelihood or size
    try:
        low, size = float(numbers[0]), float(numbers[1])
    except OverflowError:  # an integer beyond floats
        return None
    if not (math.isfinite(low) and math.isfinite(size) and size > 0):
        return None
    return low, size
