"""Read real benchmark scores from lm-eval results files, and model families from a CSV file.

lm-eval writes one ``results_<timestamp>.json`` per run under ``<output_path>/<model>/``. This
module collects, for each requested benchmark, one score per model:

- ``mmlu``: lm-eval's own ``mmlu`` group or the offline ``phylolm_mmlu`` one, as the mean of
  the 57 subject accuracies (the paper's definition) or lm-eval's size-weighted group score,
  see :mod:`phylolm_harness.io.mmlu`;
- ``arc_challenge``: ``results["arc_challenge"]["acc_norm,none"]``;
- any ``task:metric``: ``results[task]["metric,none"]`` (``"acc_norm"``) or the full key
  (``"acc_norm,none"``); a bare ``task`` uses ``acc``.

Runs are found, labelled and de-duplicated by :mod:`phylolm_harness.io.runs`, exactly as the
PhyloLM samples are: when a model ran a benchmark several times the newest run wins and a note
says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phylolm_harness.core.subsample import QUESTIONS as SUBSET
from phylolm_harness.core.subsample import QuestionScores
from phylolm_harness.errors import InputError
from phylolm_harness.io.benchmark_questions import leaf_tasks, read_question_scores
from phylolm_harness.io.mmlu import AVERAGES, QUESTIONS, mmlu_group, mmlu_score
from phylolm_harness.io.runs import Results, Run, check_labels, index_runs, newest_runs

__all__ = [
    "BenchmarkScores",
    "BenchmarkSpec",
    "parse_benchmark",
    "read_benchmark_scores",
]

_DEFAULT_METRIC = {"mmlu": "acc", "arc_challenge": "acc_norm", "arc_easy": "acc_norm"}


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where a benchmark's score lives in a results file.

    Attributes
    ----------
    name : str
        Name as the user gave it (``"mmlu"``, ``"phylolm_arith_mc:acc"``).
    task : str
        Task or group name in ``results``.
    key : str
        Metric key with its filter, e.g. ``"acc,none"``.
    """

    name: str
    task: str
    key: str


def parse_benchmark(spec: str) -> BenchmarkSpec:
    """Parse ``task`` or ``task:metric`` into where its score is stored.

    Parameters
    ----------
    spec : str
        ``"mmlu"``, ``"arc_challenge"``, ``"task:acc_norm"`` or ``"task:acc_norm,none"``.

    Returns
    -------
    BenchmarkSpec
        Task and metric key.

    Examples
    --------
    >>> parse_benchmark("arc_challenge").key, parse_benchmark("x:acc_norm").key
    ('acc_norm,none', 'acc_norm,none')
    """
    task, _, metric = spec.strip().partition(":")
    if not task or (":" in spec and not metric):
        raise InputError(f"benchmark {spec!r}: expected TASK or TASK:METRIC")
    metric = metric or _DEFAULT_METRIC.get(task, "acc")
    key = metric if "," in metric else f"{metric},none"
    return BenchmarkSpec(spec.strip(), task, key)


@dataclass(frozen=True)
class BenchmarkScores:
    """Scores read from a results folder.

    Attributes
    ----------
    scores : Mapping[str, Mapping[str, float]]
        Benchmark name -> model label -> score.
    sources : Mapping[str, Mapping[str, str]]
        Benchmark name -> model label -> results file the score came from.
    notes : tuple of str
        Readable remarks (older runs that were ignored, subsets, differing shots).
    """

    scores: Mapping[str, Mapping[str, float]]
    sources: Mapping[str, Mapping[str, str]]
    notes: tuple[str, ...]
    weights: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    """Benchmark name -> model label -> the run's weight settings (see ``Run.weights``)."""
    definitions: Mapping[str, str] = field(default_factory=dict)
    """Benchmark name -> what its score is (``"mmlu"``: which average)."""
    questions: Mapping[str, QuestionScores] = field(default_factory=dict)
    """Benchmark name -> per-question results of the scored models, where every run logged them
    (for the random-questions baseline)."""


def _value(entry: Mapping[str, Any], spec: BenchmarkSpec, path: Path, model: str) -> float:
    if spec.key not in entry:
        metrics = sorted(k for k in entry if "," in k and "_stderr" not in k)
        raise InputError(
            f"{path}: model {model} has no {spec.key!r} for {spec.task} "
            f"(metrics there: {', '.join(metrics) or 'none'})"
        )
    raw = entry[spec.key]
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise InputError(f"{path}: model {model} has score {raw!r} for {spec.name}, not a number")
    return float(raw)


def _holds(run: Run, spec: BenchmarkSpec) -> bool:
    if spec.task == "mmlu":
        return mmlu_group(run.data) is not None
    return run.entry(spec.task) is not None


def _shots(run: Run, task: str) -> int | None:
    table = run.data.get("n-shot")
    shots = table.get(task) if isinstance(table, dict) else None
    return shots if isinstance(shots, int) and not isinstance(shots, bool) else None


def _definition(spec: BenchmarkSpec, mmlu_average: str, runs: Sequence[Run]) -> str:
    if spec.task == "mmlu":
        text = f"MMLU {spec.key.split(',')[0]}, {AVERAGES[mmlu_average]}"
    else:
        text = f"{spec.task} {spec.key}"
    return text + _direction(spec, runs)


def _direction(spec: BenchmarkSpec, runs: Sequence[Run]) -> str:
    """Whether higher scores are better, as lm-eval's results files say (``""`` when unsaid)."""
    said = set()
    metric = spec.key.split(",")[0]
    for run in runs:
        table = run.data.get("higher_is_better")
        table = table if isinstance(table, dict) else {}
        task = (mmlu_group(run.data) or spec.task) if spec.task == "mmlu" else spec.task
        # lm-eval keys a group's entry by the group's own name; older releases list only tasks
        tasks = [task] if isinstance(table.get(task), dict) else leaf_tasks(run, task)
        for name in tasks:
            metrics = table.get(name)
            value = metrics.get(metric) if isinstance(metrics, dict) else None
            said.add(value if isinstance(value, bool) else None)
    if said == {True}:
        return " (higher is better)"
    if said == {False}:
        return " (lower is better)"
    return ""


def _mixed_shots(name: str, shots: Mapping[str, int | None]) -> list[str]:
    by_shots: dict[str, list[str]] = {}
    for label, n in sorted(shots.items()):
        by_shots.setdefault("unknown" if n is None else str(n), []).append(label)
    if len(by_shots) < 2:
        return []
    parts = "; ".join(f"{n}-shot: {', '.join(labels)}" for n, labels in sorted(by_shots.items()))
    return [f"{name}: models ran with different numbers of shots ({parts}); scores compare badly"]


def read_benchmark_scores(
    results_dir: Results,
    benchmarks: Sequence[str],
    rename: Mapping[str, str] | None = None,
    runs: Sequence[Run] | None = None,
    mmlu_average: str = "subjects",
) -> BenchmarkScores:
    """Collect real benchmark scores from every lm-eval results file under a folder.

    Parameters
    ----------
    results_dir : Path or sequence of Path
        lm-eval's ``--output_path`` (searched recursively for ``results_*.json``), or several.
    benchmarks : sequence of str
        Benchmarks as accepted by :func:`parse_benchmark`.
    rename : Mapping[str, str], optional
        Label overrides keyed by lm-eval's model name or by the default label, as for
        :func:`phylolm_harness.io.samples.read_observations`.
    runs : sequence of Run, optional
        The folder's runs from :func:`~phylolm_harness.io.runs.index_runs`, if already read.
    mmlu_average : {"subjects", "questions"}
        Which MMLU score, see :data:`phylolm_harness.io.mmlu.AVERAGES`.

    Returns
    -------
    BenchmarkScores
        One score per (benchmark, model); models that did not run a benchmark are absent.

    Raises
    ------
    InputError
        A results file that is not JSON or has no ``model_name``; a score that is missing,
        NaN or not a number (``"N/A"``); two different models with the same label; two runs
        of one model on one benchmark with the same date. No model having a benchmark is not
        an error here (see :func:`phylolm_harness.core.predict.predict_scores`).
    """
    if mmlu_average not in AVERAGES:
        raise InputError(f"unknown MMLU average {mmlu_average!r}; expected {sorted(AVERAGES)}")
    specs = [parse_benchmark(b) for b in benchmarks]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"benchmark given twice: {', '.join(names)}")
    if runs is None:
        runs = index_runs(results_dir, rename)
    by_name = {spec.name: spec for spec in specs}

    def holds(run: Run) -> list[tuple[str, str]]:
        return [(run.label, spec.name) for spec in specs if _holds(run, spec)]

    check_labels(run for run in runs if holds(run))
    newest, notes = newest_runs(runs, holds)
    scores: dict[str, dict[str, float]] = {name: {} for name in names}
    sources: dict[str, dict[str, str]] = {name: {} for name in names}
    weights: dict[str, dict[str, Mapping[str, str]]] = {name: {} for name in names}
    shots: dict[str, dict[str, int | None]] = {name: {} for name in names}
    subsets: dict[str, list[str]] = {name: [] for name in names}
    for (label, name), run in sorted(newest.items(), key=lambda item: (item[0][1], item[0][0])):
        spec = by_name[name]
        if spec.task == "mmlu":
            where = f"{run.results_file}: model {label}"
            mmlu = mmlu_score(run.data, spec.key, mmlu_average, where)
            scores[name][label] = mmlu.value
            shots[name][label] = mmlu.shots
            if mmlu.subset:
                subsets[name].append(f"{label} ({mmlu.questions})")
        else:
            scores[name][label] = _value(run.entry(spec.task) or {}, spec, run.results_file, label)
            shots[name][label] = _shots(run, spec.task)
        sources[name][label] = str(run.results_file)
        weights[name][label] = run.weights
    for name in names:
        notes.extend(_mixed_shots(name, shots[name]))
        if subsets[name]:
            notes.append(
                f"{name}: scores from a subset of the {QUESTIONS:,} questions (lm_eval --limit): "
                f"{', '.join(subsets[name])}"
            )
    used = {name: {m: run for (m, n), run in newest.items() if n == name} for name in names}
    definitions = {
        spec.name: _definition(spec, mmlu_average, list(used[spec.name].values())) for spec in specs
    }
    questions = {}
    for spec in specs:
        if len(used[spec.name]) < 2:
            continue
        found, said = read_question_scores(spec.name, spec.task, spec.key, used[spec.name])
        notes += said
        if found is not None and found.values.shape[1] <= 2 * SUBSET:
            notes.append(
                f"{spec.name}: the random-questions baseline is left out: "
                f"{found.values.shape[1]} questions answered by every scored model, not more "
                f"than twice the {SUBSET} it samples"
            )
        elif found is not None:
            questions[spec.name] = found
    return BenchmarkScores(scores, sources, tuple(notes), weights, definitions, questions)
