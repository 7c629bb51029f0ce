"""The one index of lm-eval output folders: runs, model labels and the newest-run rule.

``lm_eval --output_path DIR`` writes ``DIR/<model_name_sanitized>/results_<timestamp>.json`` per
run (with ``--log_samples``, ``samples_<task>_<timestamp>.jsonl`` beside it). Every reader of
those folders (PhyloLM samples, benchmark scores) goes through :func:`index_runs`, which labels
each run's model, and :func:`newest_runs`, which picks one run per model and task.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phylolm_harness.errors import InputError
from phylolm_harness.io.reading import text

__all__ = [
    "TASK_PREFIX",
    "WEIGHT_ARGS",
    "Identity",
    "Run",
    "check_labels",
    "check_renames",
    "index_runs",
    "model_label",
    "newest_runs",
]

TASK_PREFIX = "phylolm_genes"
"""Every PhyloLM task name starts with this; exact-mode tasks also contain ``_exact``."""

WEIGHT_ARGS = (
    "dtype",
    "revision",
    "peft",
    "delta",
    "gguf_file",
    "load_in_8bit",
    "load_in_4bit",
    "quantization",
    "gptq",
    "autogptq",
    "gptqmodel",
)
"""``--model_args`` that change a model's weights or arithmetic, hence its outputs.

Only these (and the backend, mode, temperature, chat template and an exact run's expansion
settings) are read from a run's settings; nothing else of ``model_args`` (paths, addresses,
keys) reaches a label or a report.
"""

_RESULTS_NAME = re.compile(r"results_(?P<stamp>.+)\.json")
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}")


@dataclass(frozen=True, eq=False)
class Run:
    """One lm-eval run of one model: its results file, the model's label and what it holds."""

    results_file: Path
    model_name: str
    label: str
    timestamp: str
    """The time stamp in the file name (``2026-01-01T00-00-00.000000``)."""
    date: float | None
    """When the run started: lm-eval's ``date`` field (seconds since the epoch), if any."""
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

    def check_sample_count(self, task: str, count: int) -> None:
        """Refuse a samples file of ``task`` with other than the lines the results file reports.

        Raises
        ------
        InputError
            Naming the samples file (a truncated file, most likely); nothing when the results
            file does not say how many samples were logged.
        """
        table = self.data.get("n-samples")
        n_samples = table.get(task) if isinstance(table, dict) else None
        expected = n_samples.get("effective") if isinstance(n_samples, dict) else None
        if isinstance(expected, int) and count != expected:
            raise InputError(
                f"{self.samples_file(task)}: {count} sample lines but the results file reports "
                f"{expected} (truncated file?)"
            )

    @property
    def weights(self) -> dict[str, str]:
        """The run's :data:`WEIGHT_ARGS` settings, as text."""
        args = _model_args(self.data.get("config"))
        return {key: _plain(args[key]) for key in WEIGHT_ARGS if key in args}

    def identity(self, task: str) -> Identity:
        """Return what makes this run's population of ``task`` a population of its own."""
        config = self.data.get("config")
        backend = config.get("model") if isinstance(config, dict) else None
        task_config = (self.data.get("configs") or {}).get(task)
        generation = task_config.get("generation_kwargs") if isinstance(task_config, dict) else None
        temperature = generation.get("temperature") if isinstance(generation, dict) else None
        exact = "_exact" in task
        collection = {
            "backend": _plain(backend).removeprefix("phylolm-") if backend else "unknown",
            "mode": "exact" if exact else "sampled",
            "temperature": _plain(temperature) if temperature is not None else "default",
            "chat": "yes" if _chat(self.data, backend) else "no",
        }
        if exact:
            collection["expansion"] = _expansion(generation)
        return Identity(self.label, self.model_name, self.weights, collection)


@dataclass(frozen=True)
class Identity:
    """A model as a population: its label, lm-eval name, weight settings and collection settings."""

    base: str
    """The label of the model name (after renames), without settings."""
    model_name: str
    weights: Mapping[str, str]
    """The :data:`WEIGHT_ARGS` given to lm-eval."""
    collection: Mapping[str, str]
    """Backend, mode (sampled or exact), temperature, chat template and, for exact runs, the
    expansion settings."""

    @property
    def settings(self) -> dict[str, str]:
        """Weight and collection settings together."""
        return {**self.weights, **self.collection}


EXPANSION_KEYS = ("top_p", "top_k", "min_mass", "max_tokens", "tail_samples")
"""Settings of an exact run that change what its distributions estimate (the seed does not)."""


def _chat(data: Mapping[str, Any], backend: Any) -> bool:
    """Whether a run probed the model as a chat.

    lm-eval writes ``chat_template`` as ``null`` without ``--apply_chat_template`` and as the
    template text otherwise, which is ``""`` for API models (the server applies its own).
    Chat-completions endpoints are chats whatever was asked.
    """
    return isinstance(data.get("chat_template"), str) or str(backend).endswith("chat-completions")


def _expansion(generation: Any) -> str:
    """Write an exact run's expansion settings as one text, ``top_p=0.9,top_k=10,...``.

    Runs made before tail draws existed record no ``tail_samples``: they left the pruned mass out,
    which ``tail_samples=0`` says.
    """
    found = generation if isinstance(generation, dict) else {}
    parts = []
    for key in EXPANSION_KEYS:
        value = found.get(key)
        if value is None:
            parts.append(f"{key}={'0' if key == 'tail_samples' else 'default'}")
        else:
            parts.append(f"{key}={_plain(value)}")
    return ",".join(parts)


def _model_args(config: Any) -> dict[str, Any]:
    """``config.model_args`` of a results file: a mapping, or lm-eval's ``k=v,k=v`` string."""
    args = config.get("model_args") if isinstance(config, dict) else None
    if isinstance(args, dict):
        return args
    if isinstance(args, str):
        pairs = (item.partition("=") for item in args.split(","))
        return {key.strip(): value.strip() for key, sep, value in pairs if sep}
    return {}


def _plain(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:80]


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


Results = Path | Sequence[Path]
"""One results folder, or several read as if they sat under one parent folder."""


def folders(results: Results) -> tuple[Path, ...]:
    """Return the folders of :data:`Results`."""
    return (results,) if isinstance(results, Path) else tuple(results)


def named(results: Results) -> str:
    """Return the folders of :data:`Results` as they are named in messages."""
    return ", ".join(str(folder) for folder in folders(results))


def results_files(results: Results, pattern: str) -> list[Path]:
    """Every file matching ``pattern`` below the folders, once each (folders may nest), sorted.

    Linked folders are followed (each folder once). Nothing is passed over unseen: a folder that
    cannot be read could hide a run, and a file of the pattern that is a link to nothing (or to
    itself) cannot be read, so either is refused.

    Raises
    ------
    InputError
        Naming the folder or link.
    """
    found: dict[str, Path] = {}
    seen: set[str] = set()
    for folder in folders(results):
        for top, subfolders, names in os.walk(folder, onerror=_unreadable, followlinks=True):
            real = os.path.realpath(top)
            if real in seen:
                subfolders.clear()
                continue
            seen.add(real)
            for name in fnmatch.filter(names, pattern):
                path = os.path.join(top, name)
                if os.path.islink(path) and not os.path.exists(path):
                    raise InputError(
                        f"{path}: a link to nothing (or to itself); remove it or fix it"
                    )
                found.setdefault(os.path.realpath(path), Path(path))
    return sorted(found.values())


def _unreadable(error: OSError) -> None:
    reason = error.strerror or type(error).__name__
    raise InputError(f"{error.filename}: cannot read this folder ({reason}); it may hold runs")


def index_runs(results_dir: Results, rename: Mapping[str, str] | None = None) -> list[Run]:
    """Every lm-eval results file under ``results_dir``, parsed and labelled.

    Parameters
    ----------
    results_dir : Path or sequence of Path
        What ``lm_eval --output_path`` was given (searched recursively), or several such folders.
    rename : mapping, optional
        Label overrides, keyed by lm-eval's model name or by the default label.

    Returns
    -------
    list of Run
        In path order.

    Raises
    ------
    InputError
        When the folder does not exist, or a results file is not valid JSON or names no model.
    """
    for folder in folders(results_dir):
        if not folder.is_dir():
            raise InputError(f"{folder}: results folder not found")
    rename = rename or {}
    runs = []
    for path in results_files(results_dir, "results_*.json"):
        match = _RESULTS_NAME.fullmatch(path.name)
        if match is None:
            continue
        if not path.is_file():  # a FIFO or device: never read (it may block), never skipped
            raise InputError(f"{path}: not a regular file; remove it or move it out of the folder")
        data = _read_json(path)
        model_name = data.get("model_name")
        if not isinstance(model_name, str) or not model_name.strip():
            raise InputError(f"{path}: no 'model_name' in the results file")
        text(model_name, str(path), "model_name")
        default = model_label(model_name)
        label = rename.get(model_name) or rename.get(default) or default
        runs.append(Run(path, model_name, label, match["stamp"], _run_date(data), data))
    return runs


def check_labels(runs: Iterable[Run]) -> None:
    """Refuse two different model names that end up with one label."""
    owner: dict[str, Run] = {}
    for run in runs:
        first = owner.setdefault(run.label, run)
        if first.model_name != run.model_name:
            raise InputError(
                f"{run.results_file}: models {run.model_name!r} and {first.model_name!r} (in "
                f"{first.results_file}) share the label {run.label!r}: give one another name "
                "with --rename OLD=NEW"
            )


def check_renames(rename: Mapping[str, str], runs: Iterable[Run], labels: Iterable[str]) -> None:
    """Refuse renames that name no model: neither a model name, a default label nor a label."""
    runs = list(runs)
    known = {r.model_name for r in runs} | {model_label(r.model_name) for r in runs} | set(labels)
    unknown = sorted(set(rename) - known)
    if unknown:
        raise InputError(
            f"no model named {unknown[0]!r} to rename (--rename, --labels); "
            f"models: {', '.join(sorted(known)) or 'none'}"
        )


def newest_runs(
    runs: Iterable[Run], holds: Callable[[Run], Iterable[tuple[str, str]]]
) -> tuple[dict[tuple[str, str], Run], list[str]]:
    """Pick the newest run of every model and task; say which were superseded.

    Runs are ordered by lm-eval's ``date``, then by the time stamp in their file name; when a
    run has no ``date``, its group is ordered by the time stamps alone (lm-eval writes them in
    local time, ``YYYY-MM-DDTHH-MM-SS``, so they sort as text).

    Parameters
    ----------
    runs : iterable of Run
        From :func:`index_runs`.
    holds : callable
        ``holds(run)`` yields ``(label, name)`` for what the run holds (tasks, benchmarks).

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
        for key in holds(run):
            competing.setdefault(key, []).append(run)
    newest: dict[tuple[str, str], Run] = {}
    notes: list[str] = []
    for (label, name), group in sorted(competing.items()):
        if len(group) > 1:
            dated = all(r.date is not None for r in group)
            if not dated:
                odd = [r for r in group if not _STAMP.match(r.timestamp)]
                if odd:
                    raise InputError(
                        f"{odd[0].results_file}: no run date (no 'date' field, no time stamp in "
                        f"the file name): cannot tell which run of {name} by {label} is newest"
                    )
            group = sorted(group, key=lambda run: _order(run, dated))
            if _order(group[-1], dated) == _order(group[-2], dated):
                raise InputError(
                    f"{group[-1].results_file}: model {label} has two runs of {name} with the "
                    f"same date (also {group[-2].results_file}); remove one"
                )
            ignored = ", ".join(str(r.results_file) for r in group[:-1])
            notes.append(
                f"{label}: {name} was run {len(group)} times; using the newest, "
                f"{group[-1].results_file.name}, and ignoring {ignored}"
            )
        newest[(label, name)] = group[-1]
    return newest, notes


def _order(run: Run, dated: bool) -> tuple[float, str]:
    """Sort key of a run among its group: date then stamp, or the stamp alone."""
    return (run.date if dated and run.date is not None else 0.0, run.timestamp)


def _run_date(data: Mapping[str, Any]) -> float | None:
    date = data.get("date")
    if isinstance(date, (int, float)) and not isinstance(date, bool) and math.isfinite(date):
        return float(date)
    return None


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
