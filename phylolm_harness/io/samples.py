"""Read PhyloLM allele observations from the samples files of lm-eval runs.

Runs are found and labelled by :mod:`phylolm_harness.io.runs`; this module reads
``samples_<task>_<timestamp>.jsonl`` (one line per gene) of the newest run of every PhyloLM task
and every model identity.

A model's identity is its name plus the settings that change what it writes (the weight settings
of ``--model_args`` such as ``dtype`` or ``revision``, the backend, sampled or exact mode, the
temperature and the chat template). Runs of one model name with different identities are different
populations: their labels get the settings that tell them apart, as in ``m [dtype=bfloat16]`` and
``m [dtype=float32]``. Runs of one identity are repeated runs: the newest is used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from phylolm_harness.core.alleles import allele_of, parse_distribution
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.errors import InputError
from phylolm_harness.io.reading import json_lines, text
from phylolm_harness.io.runs import (
    TASK_PREFIX,
    Identity,
    Results,
    Run,
    index_runs,
    model_label,
    named,
    newest_runs,
    results_files,
)

__all__ = ["Collected", "read_observations"]


def _renamed(run: Run, rename: Mapping[str, str]) -> bool:
    """Whether ``index_runs`` already renamed a run (by its model name or default label)."""
    return run.model_name in rename or model_label(run.model_name) in rename


@dataclass(frozen=True)
class Collected:
    """Observations read from a results folder, with notes for the report."""

    observations: tuple[GeneObservation, ...]
    runs: tuple[Run, ...]
    """Runs whose samples were used."""
    notes: tuple[str, ...]
    """Things a reader should know (superseded runs)."""
    identities: Mapping[str, Identity] = field(default_factory=dict)
    """Label -> what the label stands for."""
    default_labels: frozenset[str] = frozenset()
    """The labels before ``rename`` (names ``rename`` may use)."""


def read_observations(
    results_dir: Results,
    rename: Mapping[str, str] | None = None,
    genomes: frozenset[str] | None = None,
    runs: Sequence[Run] | None = None,
) -> Collected:
    """Read the allele observations of every model found under ``results_dir``.

    Parameters
    ----------
    results_dir : Path or sequence of Path
        What ``lm_eval --output_path`` was given (or several such folders).
    rename : mapping, optional
        Label overrides, keyed by lm-eval's model name or by the default label.
    genomes : frozenset of str, optional
        Keep only genes of these genome names.
    runs : sequence of Run, optional
        The folder's runs from :func:`~phylolm_harness.io.runs.index_runs`, if already read.

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
    if runs is None:
        runs = index_runs(results_dir, rename)
    left_out = _left_out(results_dir, runs)
    runs = [r for r in runs if r.phylolm_tasks]
    if not runs:
        raise InputError(
            f"{named(results_dir)}: no lm-eval results of a PhyloLM task "
            "(run lm_eval --tasks phylolm_genes "
            "--output_path DIR --log_samples)"
        )
    of = {(run, task): run.identity(task) for run in runs for task in run.phylolm_tasks}
    defaults = _population_labels(of)
    rename = rename or {}
    # One simultaneous mapping: a run renamed by its model name or label (in index_runs) is not
    # renamed again by its new label, so `--rename a=b --rename b=a` swaps the two.
    labels = {
        key: label if _renamed(key[0], rename) else rename.get(label, label)
        for key, label in defaults.items()
    }
    identities: dict[str, Identity] = {}
    for key, label in labels.items():
        identity, run = of[key], key[0]
        first = identities.setdefault(label, identity)
        if first != identity:
            raise InputError(
                f"{run.results_file}: two different models would share the label {label!r} "
                f"({_describe(first)}; {_describe(identity)}): give one another name with "
                "--rename OLD=NEW"
            )
    newest, notes = newest_runs(
        runs, lambda run: [(labels[(run, task)], task) for task in run.phylolm_tasks]
    )
    notes = left_out + notes
    observations: list[GeneObservation] = []
    for (label, task), run in sorted(newest.items()):
        observations.extend(_read_samples(run, task, label, genomes))
    used = tuple(sorted({id(r): r for r in newest.values()}.values(), key=lambda r: r.results_file))
    return Collected(
        tuple(observations), used, tuple(notes), identities, frozenset(defaults.values())
    )


def _left_out(results_dir: Results, runs: Sequence[Run]) -> list[str]:
    """Say what is in the folder but not in the tree."""
    notes = []
    with_genes = {r.label for r in runs if r.phylolm_tasks}
    others = sorted({r.label for r in runs} - with_genes)
    if others:
        notes.append(
            f"{len(others)} model(s) with lm-eval results but no PhyloLM task are not in the "
            f"tree: {', '.join(others)}"
        )
    stamps = {(r.results_file.parent, r.timestamp) for r in runs}
    orphans = sorted(
        path
        for path in results_files(results_dir, f"samples_{TASK_PREFIX}*.jsonl")
        if (path.parent, path.stem.rpartition("_")[2]) not in stamps
    )
    if orphans:
        notes.append(
            f"{len(orphans)} PhyloLM samples file(s) without their results file were not read "
            f"(an interrupted lm_eval run?): {', '.join(str(p) for p in orphans)}"
        )
    return notes


_OWN_SETTINGS = frozenset({"expansion"})
"""Settings that only some runs have (exact ones)."""


def _population_labels(of: Mapping[tuple[Run, str], Identity]) -> dict[tuple[Run, str], str]:
    """Label of every (run, PhyloLM task): the model's label, plus the settings that differ."""
    settings = {key: identity.settings for key, identity in of.items()}
    by_base: dict[str, list[dict[str, str]]] = {}
    for (run, _), values in settings.items():
        by_base.setdefault(run.label, []).append(values)
    labels = {}
    for (run, task), values in settings.items():
        group = by_base[run.label]
        keys = sorted({key for other in group for key in other})
        differ = [k for k in keys if len({other.get(k, "default") for other in group}) > 1]
        # Settings only some runs have (an exact run's expansion) tell apart only those runs.
        differ = [
            k
            for k in differ
            if k in values
            and len({other[k] for other in group if k in other}) > 1
            or k not in _OWN_SETTINGS
        ]
        label = run.label
        if differ:
            label += " [" + ", ".join(f"{k}={values.get(k, 'default')}" for k in differ) + "]"
        labels[(run, task)] = label
    return labels


def _describe(identity: Identity) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in sorted(identity.settings.items()))
    return f"{identity.model_name} with {settings}"


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
    run.check_sample_count(task, count)


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
    return GeneObservation(
        alleles=alleles, probes=None, tail=distribution.tail, draws=distribution.draws, **common
    )


def _strings(value: Any, where: str) -> Iterator[str]:
    """Yield the continuations in lm-eval's ``resps`` (a list of lists of strings)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, where)
    else:
        raise InputError(f"{where}: a response is {type(value).__name__}, not text")
