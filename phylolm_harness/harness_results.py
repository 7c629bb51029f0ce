"""Read PhyloLM observations from lm-eval output folders.

This is the one module that knows how lm-eval lays out ``--output_path DIR --log_samples``:
``DIR/<model_name_sanitized>/results_<timestamp>.json`` next to
``samples_<task>_<timestamp>.jsonl``, one sample line per gene.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phylolm_harness.alleles import allele_of
from phylolm_harness.errors import InputError
from phylolm_harness.expansion import parse_distribution
from phylolm_harness.observations import GeneObservation

TASK_PREFIX = "phylolm_genes"
"""Every PhyloLM task name starts with this; exact-mode tasks also contain ``_exact``."""

_RESULTS_NAME = re.compile(r"results_(?P<stamp>.+)\.json")


@dataclass(frozen=True)
class Run:
    """One lm-eval run of one model: its results file and what it says."""

    results_file: Path
    model_name: str
    timestamp: str
    tasks: tuple[str, ...]
    """PhyloLM tasks the run holds."""
    data: Mapping[str, Any]
    """The parsed results file."""

    def samples_file(self, task: str) -> Path:
        """Path of the samples file of ``task`` written by this run."""
        return self.results_file.parent / f"samples_{task}_{self.timestamp}.jsonl"


@dataclass(frozen=True)
class Collected:
    """Observations read from a results folder, with notes for the report."""

    observations: tuple[GeneObservation, ...]
    runs: tuple[Run, ...]
    """Runs whose samples were used."""
    notes: tuple[str, ...]
    """Things a reader should know (superseded runs, partial gene coverage)."""


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


def find_runs(results_dir: Path) -> list[Run]:
    """Every lm-eval results file under ``results_dir``, parsed.

    Raises
    ------
    InputError
        When the folder does not exist or a results file is not valid JSON.
    """
    if not results_dir.is_dir():
        raise InputError(f"{results_dir}: not a folder")
    runs = []
    for path in sorted(results_dir.rglob("results_*.json")):
        match = _RESULTS_NAME.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        data = _read_json(path)
        configs = data.get("configs")
        if not isinstance(configs, dict) or "model_name" not in data:
            raise InputError(f"{path}: not an lm-eval results file (no configs or model_name)")
        tasks = tuple(sorted(t for t in configs if str(t).startswith(TASK_PREFIX)))
        runs.append(Run(path, str(data["model_name"]), match["stamp"], tasks, data))
    return runs


def read_observations(
    results_dir: Path,
    rename: Mapping[str, str] | None = None,
    genomes: frozenset[str] | None = None,
) -> Collected:
    """Read the allele observations of every model found under ``results_dir``.

    Parameters
    ----------
    results_dir : Path
        What ``lm_eval --output_path`` was given.
    rename : mapping, optional
        Label overrides, keyed by lm-eval's model name or by the default label.
    genomes : frozenset of str, optional
        Keep only genes of these genome names.

    Returns
    -------
    Collected
        When a model ran a PhyloLM task more than once, the newest run is used and a note says so.

    Raises
    ------
    InputError
        No PhyloLM run, a run without ``--log_samples``, malformed or truncated sample files,
        or two different models that end up with the same label.
    """
    rename = rename or {}
    runs = [r for r in find_runs(results_dir) if r.tasks]
    if not runs:
        raise InputError(
            f"{results_dir}: no lm-eval results of a PhyloLM task "
            "(run lm_eval --tasks phylolm_genes "
            "--output_path DIR --log_samples)"
        )
    newest: dict[tuple[str, str], Run] = {}
    owner: dict[str, str] = {}
    notes = []
    for run in sorted(runs, key=lambda r: r.timestamp):
        label = rename.get(run.model_name, rename.get(model_label(run.model_name), None))
        label = label or model_label(run.model_name)
        if owner.setdefault(label, run.model_name) != run.model_name:
            raise InputError(
                f"models {owner[label]!r} and {run.model_name!r} both get the label {label!r}: "
                "give one another name with --rename OLD=NEW"
            )
        for task in run.tasks:
            previous = newest.get((label, task))
            if previous is not None:
                notes.append(
                    f"{label}: {task} was run more than once; using {run.results_file.name} "
                    f"(newest), ignoring {previous.results_file.name}"
                )
            newest[(label, task)] = run
    observations: list[GeneObservation] = []
    for (label, task), run in sorted(newest.items()):
        observations.extend(_read_samples(run, task, label, genomes))
    used = tuple(sorted({id(r): r for r in newest.values()}.values(), key=lambda r: r.results_file))
    return Collected(tuple(observations), used, tuple(notes))


def _read_samples(
    run: Run, task: str, label: str, genomes: frozenset[str] | None
) -> Iterator[GeneObservation]:
    path = run.samples_file(task)
    if not path.is_file():
        raise InputError(
            f"{run.results_file}: no samples file {path.name} for {task}: "
            "run lm_eval with --log_samples"
        )
    exact = "_exact" in task
    count = 0
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                sample = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{where}: malformed JSON line (truncated file?)") from None
            count += 1
            obs = _observation(sample, label, exact, where)
            if genomes is None or obs.genome in genomes:
                yield obs
    expected = _expected_samples(run.data, task)
    if expected is not None and count != expected:
        raise InputError(
            f"{path}: {count} sample lines but the results file reports {expected} "
            "(truncated file?)"
        )


def _observation(sample: Any, label: str, exact: bool, where: str) -> GeneObservation:
    doc = sample.get("doc") if isinstance(sample, dict) else None
    if not isinstance(doc, dict) or not all(
        isinstance(doc.get(k), str) for k in ("genome", "fingerprint", "gene")
    ):
        raise InputError(f"{where}: sample has no PhyloLM gene (doc.genome/fingerprint/gene)")
    responses = list(_strings(sample.get("resps")))
    if not responses:
        raise InputError(f"{where}: sample has no responses")
    common = {
        "model": label,
        "genome": doc["genome"],
        "fingerprint": doc["fingerprint"],
        "gene": doc["gene"],
        "source": where,
    }
    if not exact:
        counts = Counter(allele_of(r) for r in responses)
        return GeneObservation(alleles=dict(counts), probes=len(responses), **common)
    distribution = parse_distribution(responses[0], f"{where}: exact-mode response")
    alleles, tail = distribution.alleles, distribution.tail
    return GeneObservation(alleles=alleles, probes=None, tail=tail, **common)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _expected_samples(data: Mapping[str, Any], task: str) -> int | None:
    n_samples = data.get("n-samples", {}).get(task)
    if isinstance(n_samples, dict) and isinstance(n_samples.get("effective"), int):
        return int(n_samples["effective"])
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{path}: malformed JSON (truncated file?)") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data
