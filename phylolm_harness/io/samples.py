"""Read PhyloLM allele observations from the samples files of lm-eval runs.

Runs are found, labelled and de-duplicated by :mod:`phylolm_harness.io.runs`; this module reads
``samples_<task>_<timestamp>.jsonl`` (one line per gene) of the newest run of every PhyloLM task.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phylolm_harness.core.alleles import allele_of, parse_distribution
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.errors import InputError
from phylolm_harness.io.reading import json_lines, text
from phylolm_harness.io.runs import Run, index_runs, newest_runs

__all__ = ["Collected", "read_observations"]


@dataclass(frozen=True)
class Collected:
    """Observations read from a results folder, with notes for the report."""

    observations: tuple[GeneObservation, ...]
    runs: tuple[Run, ...]
    """Runs whose samples were used."""
    notes: tuple[str, ...]
    """Things a reader should know (superseded runs)."""


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
    runs = [r for r in index_runs(results_dir, rename) if r.phylolm_tasks]
    if not runs:
        raise InputError(
            f"{results_dir}: no lm-eval results of a PhyloLM task "
            "(run lm_eval --tasks phylolm_genes "
            "--output_path DIR --log_samples)"
        )
    newest, notes = newest_runs(runs, lambda run: run.phylolm_tasks)
    observations: list[GeneObservation] = []
    for (label, task), run in sorted(newest.items()):
        observations.extend(_read_samples(run, task, label, genomes))
    used = tuple(sorted({id(r): r for r in newest.values()}.values(), key=lambda r: r.results_file))
    return Collected(tuple(observations), used, tuple(notes))


def _read_samples(
    run: Run, task: str, label: str, genomes: frozenset[str] | None
) -> Iterator[GeneObservation]:
    path = run.samples_file(task)
    if not path.exists():
        raise InputError(
            f"{run.results_file}: no samples file {path.name} for {task}: "
            "run lm_eval with --log_samples"
        )
    exact = "_exact" in task
    count = 0
    for where, sample in json_lines(path, "samples file"):
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
    responses = list(_strings(sample.get("resps") or [], where))
    if not responses:
        raise InputError(f"{where}: sample has no responses")
    common: dict[str, Any] = {
        "model": label,
        "genome": text(doc["genome"], where, "genome"),
        "fingerprint": text(doc["fingerprint"], where, "fingerprint"),
        "gene": text(doc["gene"], where, "gene"),
        "source": where,
    }
    if not exact:
        counts = Counter(text(allele_of(r), where, "allele") for r in responses)
        return GeneObservation(alleles=dict(counts), probes=len(responses), **common)
    distribution = parse_distribution(responses[0], f"{where}: exact-mode response")
    alleles = {text(a, where, "allele"): p for a, p in distribution.alleles.items()}
    tail = distribution.tail
    return GeneObservation(alleles=alleles, probes=None, tail=tail, **common)


def _strings(value: Any, where: str) -> Iterator[str]:
    """Yield the continuations in lm-eval's ``resps`` (a list of lists of strings)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, where)
    else:
        raise InputError(f"{where}: a response is {type(value).__name__}, not text")


def _expected_samples(data: Mapping[str, Any], task: str) -> int | None:
    table = data.get("n-samples")
    n_samples = table.get(task) if isinstance(table, dict) else None
    if isinstance(n_samples, dict) and isinstance(n_samples.get("effective"), int):
        return int(n_samples["effective"])
    return None
