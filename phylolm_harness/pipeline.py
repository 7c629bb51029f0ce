"""The commands as functions: read the inputs, infer, predict, and say what to write.

``tree`` and ``predict`` run the data path end to end and return results objects; the command
line, the demo and library users call these functions and write the files the results render
(:meth:`TreeResult.files`, :meth:`PredictResult.files`) with
:func:`phylolm_harness.io.files.write_outputs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phylolm_harness.core.crossval import Evaluation
from phylolm_harness.core.families import families_from_tree
from phylolm_harness.core.observations import GeneObservation, collapsed_probes
from phylolm_harness.core.phylogeny import Phylogeny, infer_phylogeny
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.predict import Predictions, paper_reference, predict_scores
from phylolm_harness.core.similarity import Estimator
from phylolm_harness.core.tree import Method
from phylolm_harness.errors import InputError
from phylolm_harness.io.benchmark_scores import BenchmarkScores, read_benchmark_scores
from phylolm_harness.io.populations_file import read_populations_file
from phylolm_harness.io.runs import Identity, Run, check_renames, index_runs
from phylolm_harness.io.samples import read_observations
from phylolm_harness.io.tables import read_families
from phylolm_harness.report.markdown import identities_section, prediction_section
from phylolm_harness.report.outputs import (
    figures_of,
    render_prediction_outputs,
    render_tree_outputs,
)

__all__ = [
    "DEFAULT_BENCHMARKS",
    "Inputs",
    "PredictResult",
    "TreeResult",
    "predict",
    "read_inputs",
    "tree",
]

DEFAULT_BENCHMARKS = ("mmlu", "arc_challenge")
"""Benchmarks ``predict`` looks for when none is named (those present in the results are used)."""


@dataclass(frozen=True)
class TreeResult:
    """What ``tree`` found: the phylogeny, the observations it came from and notes."""

    phylogeny: Phylogeny
    observations: tuple[GeneObservation, ...]
    notes: tuple[str, ...] = ()
    """Things a reader should know (superseded runs)."""
    sections: tuple[str, ...] = ()
    """Extra Markdown sections of ``report.md``."""
    identities: Mapping[str, Identity] = field(default_factory=dict)
    """Label -> the model and settings it stands for (models read from lm-eval results)."""
    rename: Mapping[str, str] = field(default_factory=dict)
    """The label overrides the models were read with."""

    def files(self) -> dict[str, bytes]:
        """Every output file (name -> bytes)."""
        return _tree_files(self, self.sections)


@dataclass(frozen=True)
class PredictResult:
    """What ``predict`` found: the tree and the predictions of every benchmark."""

    tree: TreeResult
    predictions: tuple[Predictions, ...]
    references: Mapping[str, Sequence[Evaluation]]
    """Benchmark -> the paper's reference predictor, evaluated for comparison."""
    families_source: str
    notes: tuple[str, ...] = ()

    def files(self) -> dict[str, bytes]:
        """Every output of ``tree`` (its report with a prediction section) and the predictions."""
        section = prediction_section(
            self.predictions,
            self.references,
            self.families_source,
            self.notes,
            figures_of(self.predictions),
        )
        files = _tree_files(self.tree, [section])
        files.update(render_prediction_outputs(self.predictions))
        return files


def _tree_files(found: TreeResult, sections: Sequence[str]) -> dict[str, bytes]:
    """Render the files of ``tree``; a table of run settings comes first for lm-eval models."""
    runs = [identities_section(found.identities)] if found.identities else []
    return render_tree_outputs(found.phylogeny, found.observations, found.notes, [*runs, *sections])


@dataclass(frozen=True)
class Inputs:
    """Every observation of a results folder and populations files, with what was learnt."""

    observations: tuple[GeneObservation, ...]
    notes: tuple[str, ...]
    identities: Mapping[str, Identity]
    runs: tuple[Run, ...]


def read_inputs(
    results_dir: Path | None,
    populations: Sequence[Path] = (),
    *,
    rename: Mapping[str, str] | None = None,
    genomes: frozenset[str] | None = None,
) -> Inputs:
    """Read the observations of a results folder and of populations files (see :func:`tree`)."""
    if results_dir is None and not populations:
        raise InputError("give a RESULTS_DIR, a --populations file, or both")
    observations: list[GeneObservation] = []
    notes: list[str] = []
    identities: Mapping[str, Identity] = {}
    runs: list[Run] = []
    if results_dir is not None:
        runs = index_runs(results_dir, rename)
        collected = read_observations(results_dir, rename, genomes, runs)
        observations.extend(collected.observations)
        notes.extend(collected.notes)
        identities = collected.identities
        check_renames(rename or {}, runs, {*identities, *collected.default_labels})
    for path in populations:
        observations.extend(
            o for o in read_populations_file(path) if genomes is None or o.genome in genomes
        )
    if genomes is not None and not observations:
        raise InputError(f"no observation of genome(s) {', '.join(sorted(genomes))}")
    notes.extend(collapsed_probes(observations))
    return Inputs(tuple(observations), tuple(notes), identities, tuple(runs))


def tree(
    results_dir: Path | None,
    populations: Sequence[Path] = (),
    *,
    rename: Mapping[str, str] | None = None,
    genomes: frozenset[str] | None = None,
    method: Method = "nj",
    estimator: Estimator = "unbiased",
    resamples: int = 100,
    seed: int = 0,
    benchmarks_hint: bool = True,
) -> TreeResult:
    """Read every observation and infer the phylogeny.

    Parameters
    ----------
    results_dir : Path or None
        What ``lm_eval --output_path`` was given.
    populations : sequence of Path
        Populations files (JSON Lines) to add.
    rename : mapping, optional
        Label overrides, keyed by lm-eval's model name or by the default label.
    genomes : frozenset of str, optional
        Use only genes of these genomes.
    method, estimator, resamples, seed
        See :func:`phylolm_harness.core.phylogeny.infer_phylogeny`.
    benchmarks_hint : bool
        Add a report section pointing to ``predict`` when benchmark results sit next to the genes.

    Returns
    -------
    TreeResult

    Raises
    ------
    InputError
        Missing inputs, bad files, and the checks of the populations and similarities.
    """
    if resamples < 0:
        raise InputError("--resamples must be 0 or more")
    if not 0 <= seed < 2**63:
        raise InputError(f"--seed must be between 0 and 2**63 - 1, got {seed}")
    inputs = read_inputs(results_dir, populations, rename=rename, genomes=genomes)
    phylogeny = infer_phylogeny(
        Populations.from_observations(inputs.observations), method, estimator, resamples, seed
    )
    sections: tuple[str, ...] = ()
    if benchmarks_hint and results_dir is not None:
        hint = _benchmarks_hint(results_dir, rename, inputs.runs)
        sections = (hint,) if hint else ()
    return TreeResult(
        phylogeny,
        inputs.observations,
        inputs.notes,
        sections,
        inputs.identities,
        dict(rename or {}),
    )


def predict(
    found: TreeResult,
    results_dir: Path,
    benchmarks: Sequence[str] = (),
    *,
    families_file: Path | None = None,
    predictor: str = "auto",
) -> PredictResult:
    """Predict benchmark scores of every model of a tree from its distances.

    Parameters
    ----------
    found : TreeResult
        From :func:`tree`; its label overrides apply to the benchmark runs too.
    results_dir : Path
        lm-eval output folder with the benchmark runs (``results_*.json``).
    benchmarks : sequence of str
        ``task`` or ``task:metric``; empty means those of :data:`DEFAULT_BENCHMARKS` that some
        model ran.
    families_file : Path, optional
        ``model,family`` CSV; by default clades of the UPGMA tree of the distances.
    predictor : {"auto", "paper", "kernel", "knn"}
        See :mod:`phylolm_harness.core.predict`.

    Returns
    -------
    PredictResult

    Raises
    ------
    InputError
        Bad results or families file, a benchmark run by fewer than 2 models, scores of models
        with no population, and the other checks of ``predict_scores``.
    """
    distances = found.phylogeny.distances
    labels = list(found.phylogeny.labels)
    wanted = list(benchmarks) or list(DEFAULT_BENCHMARKS)
    scores = read_benchmark_scores(results_dir, wanted, found.rename)
    if not benchmarks:
        wanted = [b for b in wanted if scores.scores[b]]
        if not wanted:
            raise InputError(
                f"{results_dir}: no results for {' or '.join(DEFAULT_BENCHMARKS)}; name "
                "benchmarks with --benchmark TASK[:METRIC]"
            )
    if families_file is not None:
        families = read_families(families_file)
        source = f"`{families_file.name}`"
    else:
        families = families_from_tree(np.asarray(distances, dtype=np.float64), labels)
        source = f"{len(set(families.values()))} clades of the UPGMA tree (no families file given)"
    all_preds = []
    references: dict[str, tuple[Evaluation, ...]] = {}
    notes = list(scores.notes)
    for bench in wanted:
        real = _scores_of_populations(found, scores, bench, notes)
        preds = predict_scores(distances, labels, real, families, predictor, benchmark=bench)
        all_preds.append(preds)
        if predictor != "paper":
            references[bench] = paper_reference(distances, preds, families)
    return PredictResult(found, tuple(all_preds), references, source, tuple(notes))


def _scores_of_populations(
    found: TreeResult, scores: BenchmarkScores, bench: str, notes: list[str]
) -> dict[str, float]:
    """Give each population the score of its model, when the benchmark ran the same weights.

    A model collected in several ways (sampled and exact, say) is several populations with one
    score. A score from a run with other weight settings (another dtype, revision, adapter ...)
    is not used, and a note says so.
    """
    by_model = scores.scores[bench]
    bases = {identity.base for identity in found.identities.values()}
    out = {label: value for label, value in by_model.items() if label not in bases}
    for label, identity in sorted(found.identities.items()):
        if identity.base not in by_model:
            continue
        weights = dict(scores.weights.get(bench, {}).get(identity.base, {}))
        if weights == dict(identity.weights):
            out[label] = by_model[identity.base]
        else:
            notes.append(
                f"{bench}: the score of {identity.base} ({_settings_text(weights)}) is not used "
                f"for {label} ({_settings_text(identity.weights)}): other weight settings"
            )
    return out


def _settings_text(weights: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(weights.items())) or "no weight settings"


def _benchmarks_hint(
    results_dir: Path, rename: Mapping[str, str] | None, runs: Sequence[Run]
) -> str:
    """Point to ``predict`` when benchmark results sit next to the genes (else "")."""
    try:
        found = read_benchmark_scores(results_dir, DEFAULT_BENCHMARKS, rename, runs)
    except InputError:
        return ""
    present = {b: len(found.scores[b]) for b in DEFAULT_BENCHMARKS if found.scores[b]}
    if not present:
        return ""
    counts = ", ".join(f"{b} for {n} model(s)" for b, n in present.items())
    return (
        "## Benchmarks\n\n"
        f"Real lm-eval results found: {counts}. Run `phylolm-harness predict {results_dir}` to "
        "predict them for every model from the distances (`predictions.csv`, with held-out "
        "evaluation), next to the real scores.\n"
    )
