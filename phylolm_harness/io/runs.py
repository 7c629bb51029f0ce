"""The one index of lm-eval output folders: runs, model labels and the newest-run rule.

``lm_eval --output_path DIR`` writes ``DIR/<model_name_sanitized>/results_<timestamp>.json`` per
run (with ``--log_samples``, ``samples_<task>_<timestamp>.jsonl`` beside it). Every reader of
those folders (PhyloLM samples, benchmark scores) goes through :func:`index_runs`, which labels
each run's model, and :func:`newest_runs`, which picks one run per model and task.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from phylolm_harness.errors import InputError
from phylolm_harness.io.reading import text

__all__ = ["TASK_PREFIX", "Run", "index_runs", "model_label", "newest_runs"]

TASK_PREFIX = "phylolm_genes"
"""Every PhyloLM task name starts with this; exact-mode tasks also contain ``_exact``."""

_RESULTS_NAME = re.compile(r"results_(?P<stamp>.+)\.json")
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Run:
    """One lm-eval run of one model: its results file, the model's label and what it holds."""

    results_file: Path
    model_name: str
    label: str
    timestamp: str
    """The time stamp in the file name (``2026-01-01T00-00-00.000000``)."""
    date: float | None
    """When the run happened: lm-eval's ``date`` field, else the file name's stamp (UTC)."""
    data: Mapping[str, Any]
    """The parsed results file."""

    @property
    def phylolm_tasks(self) -> tuple[str, ...]:
        """PhyloLM tasks the run holds, sorted."""
        configs = self.data.get("configs")
        names = configs if isinstance(configs, dict) else {}
        return tuple(sorted(t for t in names if str(t).startswith(TASK_PREFIX)))

    def entry(self, task: str) -> Mapping[str, Any] | None:
        """Metrics of a task or group (``results``, else ``groups``), or ``None``."""
        for table in ("results", "groups"):
            section = self.data.get(table)
            if isinstance(section, dict) and isinstance(section.get(task), dict):
                entry: Mapping[str, Any] = section[task]
                return entry
        return None

    def samples_file(self, task: str) -> Path:
        """Path of the samples file of ``task`` written by this run."""
        return self.results_file.parent / f"samples_{task}_{self.timestamp}.jsonl"


def model_label(model_name: str) -> str:
    """Label of a model: the last path component of a local folder, else lm-eval's name.

    Examples
    --------
    >>> model_label("/models/smollm2-135m/")
    'smollm2-135m'
    >>> model_label("HuggingFaceTB/SmolLM2-135M")
    'HuggingFaceTB/SmolLM2-135M'
    """
    stripped = model_name.rstrip("/\\")
    local = stripped.startswith((".", "~")) or os.path.isabs(stripped) or stripped.count("/") > 1
    return os.path.basename(stripped) if local and os.path.basename(stripped) else model_name


def index_runs(results_dir: Path, rename: Mapping[str, str] | None = None) -> list[Run]:
    """Every lm-eval results file under ``results_dir``, parsed and labelled.

    Parameters
    ----------
    results_dir : Path
        What ``lm_eval --output_path`` was given (searched recursively).
    rename : mapping, optional
        Label overrides, keyed by lm-eval's model name or by the default label.

    Returns
    -------
    list of Run
        In path order.

    Raises
    ------
    InputError
        When the folder does not exist, a results file is not valid JSON or names no model, or
        two different models end up with the same label.
    """
    if not results_dir.is_dir():
        raise InputError(f"{results_dir}: results folder not found")
    rename = rename or {}
    runs = []
    owner: dict[str, Run] = {}
    for path in sorted(results_dir.rglob("results_*.json")):
        match = _RESULTS_NAME.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        data = _read_json(path)
        model_name = data.get("model_name")
        if not isinstance(model_name, str) or not model_name.strip():
            raise InputError(f"{path}: no 'model_name' in the results file")
        text(model_name, str(path), "model_name")
        default = model_label(model_name)
        label = rename.get(model_name) or rename.get(default) or default
        run = Run(path, model_name, label, match["stamp"], _run_date(data, match["stamp"]), data)
        first = owner.setdefault(label, run)
        if first.model_name != model_name:
            raise InputError(
                f"{path}: models {first.model_name!r} and {model_name!r} ({first.results_file}) "
                f"share the label {label!r}: give one another name with --rename OLD=NEW"
            )
        runs.append(run)
    known = {run.model_name for run in runs} | {model_label(run.model_name) for run in runs}
    unknown = sorted(set(rename) - known)
    if unknown:
        raise InputError(
            f"{results_dir}: no model named {unknown[0]!r} to rename (--rename, --labels); "
            f"models there: {', '.join(sorted(known)) or 'none'}"
        )
    return runs


def newest_runs(
    runs: Iterable[Run], holds: Callable[[Run], Iterable[str]]
) -> tuple[dict[tuple[str, str], Run], list[str]]:
    """Pick the newest run of every model and task; say which were superseded.

    Runs are ordered by their date, then by the time stamp in their file name.

    Parameters
    ----------
    runs : iterable of Run
        From :func:`index_runs`.
    holds : callable
        ``holds(run)`` names what the run holds (tasks, benchmarks).

    Returns
    -------
    newest : dict
        ``(label, name) -> Run``.
    notes : list of str
        One line per model and name that was run more than once.

    Raises
    ------
    InputError
        When two competing runs cannot be ordered (same date and stamp, or no date at all).
    """
    competing: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        for name in holds(run):
            competing.setdefault((run.label, name), []).append(run)
    newest: dict[tuple[str, str], Run] = {}
    notes: list[str] = []
    for (label, name), group in sorted(competing.items()):
        if len(group) > 1:
            undated = [r for r in group if r.date is None]
            if undated:
                raise InputError(
                    f"{undated[0].results_file}: no run date (no 'date' field, no time stamp in "
                    f"the file name): cannot tell which run of {name} by {label} is newest"
                )
            group = sorted(group, key=_order)
            if _order(group[-1]) == _order(group[-2]):
                raise InputError(
                    f"{group[-1].results_file}: model {label} has two runs of {name} with the "
                    f"same date (also {group[-2].results_file}); remove one"
                )
            notes.append(
                f"{label}: {name} was run {len(group)} times; using the newest, "
                f"{group[-1].results_file.name}"
            )
        newest[(label, name)] = group[-1]
    return newest, notes


def _order(run: Run) -> tuple[float, str]:
    return (run.date if run.date is not None else -math.inf, run.timestamp)


def _run_date(data: Mapping[str, Any], stamp: str) -> float | None:
    date = data.get("date")
    if isinstance(date, (int, float)) and not isinstance(date, bool) and math.isfinite(date):
        return float(date)
    match = _STAMP.match(stamp)
    if match is None:
        return None
    try:
        moment = datetime.strptime(match.group(0), "%Y-%m-%dT%H-%M-%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc).timestamp()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError:
        what = "malformed JSON; truncated file?"
    except UnicodeDecodeError:
        what = "not UTF-8 text"
    except RecursionError:
        what = "JSON nested too deeply"
    except (OSError, ValueError) as err:
        what = str(err)
    else:
        if not isinstance(data, dict):
            raise InputError(f"{path}: not an lm-eval results file (expected a JSON object)")
        return data
    raise InputError(f"{path}: not a readable lm-eval results file ({what})")
