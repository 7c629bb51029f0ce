"""Read real benchmark scores from lm-eval results files, and model families from a CSV file.

lm-eval writes one ``results_<timestamp>.json`` per run under ``<output_path>/<model>/``. This
module collects, for each requested benchmark, one score per model:

- ``mmlu``: ``results["mmlu"]["acc,none"]`` (MMLU is a group: the same entry is under
  ``groups`` too, which is read when ``results`` lacks it);
- ``arc_challenge``: ``results["arc_challenge"]["acc_norm,none"]``;
- any ``task:metric``: ``results[task]["metric,none"]`` (``"acc_norm"``) or the full key
  (``"acc_norm,none"``); a bare ``task`` uses ``acc``.

When a model ran a benchmark several times the newest run wins (by the ``date`` lm-eval
records, else the timestamp in the file name) and a note says so. Models are labelled as the
PhyloLM populations read from the same folders are, with
:func:`phylolm_harness.harness_results.model_label` and the same optional renames.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from phylolm_harness.errors import InputError
from phylolm_harness.harness_results import model_label

__all__ = [
    "BenchmarkScores",
    "BenchmarkSpec",
    "parse_benchmark",
    "read_benchmark_scores",
    "read_families",
]

_DEFAULT_METRIC = {"mmlu": "acc", "arc_challenge": "acc_norm", "arc_easy": "acc_norm"}
_TS = re.compile(r"results_(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.json$")


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
        Readable remarks (older runs that were ignored).
    """

    scores: Mapping[str, Mapping[str, float]]
    sources: Mapping[str, Mapping[str, str]]
    notes: tuple[str, ...]


def _run_time(path: Path, data: Mapping[str, Any]) -> float:
    date = data.get("date")
    if isinstance(date, (int, float)) and math.isfinite(date):
        return float(date)
    match = _TS.search(path.name)
    if match:
        stamp = datetime.strptime(match.group(1).split(".")[0], "%Y-%m-%dT%H-%M-%S")
        return stamp.replace(tzinfo=timezone.utc).timestamp()
    raise InputError(f"{path}: no run date (no 'date' field, no timestamp in the file name)")


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a readable lm-eval results file ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise InputError(f"{path}: not an lm-eval results file (no 'results' table)")
    return data


def _entry(data: Mapping[str, Any], task: str) -> Mapping[str, Any] | None:
    for table in ("results", "groups"):
        section = data.get(table)
        if isinstance(section, dict) and isinstance(section.get(task), dict):
            entry: Mapping[str, Any] = section[task]
            return entry
    return None


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


def read_benchmark_scores(
    results_dir: Path, benchmarks: Sequence[str], rename: Mapping[str, str] | None = None
) -> BenchmarkScores:
    """Collect real benchmark scores from every lm-eval results file under a folder.

    Parameters
    ----------
    results_dir : Path
        lm-eval's ``--output_path`` (searched recursively for ``results_*.json``).
    benchmarks : sequence of str
        Benchmarks as accepted by :func:`parse_benchmark`.
    rename : Mapping[str, str], optional
        Label overrides keyed by lm-eval's model name or by the default label, as for
        :func:`phylolm_harness.harness_results.read_observations`.

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
        an error here (see :func:`phylolm_harness.predict.predict_scores`).
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise InputError(f"{root}: results folder not found")
    specs = [parse_benchmark(b) for b in benchmarks]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"benchmark given twice: {', '.join(names)}")
    owner: dict[str, tuple[str, Path]] = {}  # label -> (model_name, first file)
    best: dict[tuple[str, str], tuple[float, Path, float]] = {}
    counts: dict[tuple[str, str], int] = {}
    for path in sorted(root.rglob("results_*.json")):
        data = _load(path)
        model_name = data.get("model_name")
        if not isinstance(model_name, str) or not model_name.strip():
            raise InputError(f"{path}: no 'model_name' in the results file")
        default = model_label(model_name)
        label = (rename or {}).get(model_name, (rename or {}).get(default, default))
        seen = owner.setdefault(label, (model_name, path))
        if seen[0] != model_name:
            raise InputError(
                f"{path}: model {model_name} and {seen[0]} ({seen[1]}) share the label {label}"
            )
        when = None
        for spec in specs:
            entry = _entry(data, spec.task)
            if entry is None:
                continue
            value = _value(entry, spec, path, label)
            when = _run_time(path, data) if when is None else when
            key = (spec.name, label)
            counts[key] = counts.get(key, 0) + 1
            previous = best.get(key)
            if previous is not None and previous[0] == when:
                raise InputError(
                    f"{path}: model {label} has two runs of {spec.name} with the same date "
                    f"(also {previous[1]}); remove one"
                )
            if previous is None or when > previous[0]:
                best[key] = (when, path, value)
    scores: dict[str, dict[str, float]] = {name: {} for name in names}
    sources: dict[str, dict[str, str]] = {name: {} for name in names}
    notes: list[str] = []
    for (bench, label), (_, path, value) in sorted(best.items()):
        scores[bench][label] = value
        sources[bench][label] = str(path)
        if counts[(bench, label)] > 1:
            notes.append(
                f"{label}: {counts[(bench, label)]} runs of {bench}; used the newest, {path.name}"
            )
    return BenchmarkScores(scores, sources, tuple(notes))


def read_families(path: Path) -> dict[str, str]:
    """Read a ``model,family`` CSV file (with that header).

    Parameters
    ----------
    path : Path
        CSV file; extra columns are ignored.

    Returns
    -------
    dict
        Model label -> family name.

    Raises
    ------
    InputError
        Missing file or columns, an empty model or family, or a model listed twice with
        different families.
    """
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            fields = list(reader.fieldnames or [])
    except OSError as err:
        raise InputError(f"{path}: cannot read the families file ({err})") from err
    if not rows or "model" not in fields or "family" not in fields:
        raise InputError(f"{path}: expected a CSV file with columns 'model' and 'family'")
    families: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        model = (row.get("model") or "").strip()
        family = (row.get("family") or "").strip()
        if not model or not family:
            raise InputError(f"{path}:{line}: empty model or family")
        if families.setdefault(model, family) != family:
            raise InputError(
                f"{path}:{line}: model {model} is in two families ({families[model]}, {family})"
            )
    return families
