"""The commands as functions: read the inputs, infer, predict, and say what to write.

``tree`` and ``predict`` run the data path end to end and return results objects; the command
line, the demo and library users call these functions and write the files the results render
(:meth:`TreeResult.files`, :meth:`PredictResult.files`) with
:func:`phylolm_harness.io.files.write_outputs`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phylolm_harness.core.collapse import collapsed_probes
from phylolm_harness.core.likelihood import LikelihoodTree, infer_likelihood_tree
from phylolm_harness.core.pairs import UntrustedPairs
from phylolm_harness.core.phylogeny import (
    DEFAULT_RESAMPLES,
    MAX_RESAMPLES,
    Phylogeny,
    infer_phylogeny,
)
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.similarity import DEFAULT_DISTANCE, Distance, Estimator
from phylolm_harness.core.table import ObservationTable
from phylolm_harness.core.tree import Method, MethodChoice
from phylolm_harness.errors import InputError
from phylolm_harness.io.benchmark_scores import read_benchmark_scores
from phylolm_harness.io.files import Content, FileStamp
from phylolm_harness.io.pairs_file import read_known_pairs
from phylolm_harness.io.passages_file import read_profiles
from phylolm_harness.io.populations_file import read_populations_file
from phylolm_harness.io.populations_parquet import is_parquet
from phylolm_harness.io.runs import Identity, Results, Run, check_renames, folders, index_runs
from phylolm_harness.io.samples import read_observations
from phylolm_harness.report.markdown import identities_section
from phylolm_harness.report.outputs import (
    render_tree_outputs,
)

__all__ = [
    "DEFAULT_BENCHMARKS",
    "Inputs",
    "TreeResult",
    "lineage",
    "read_inputs",
    "tree",
    "tree_files",
]

DEFAULT_BENCHMARKS = ("mmlu", "arc_challenge")
"""Benchmarks ``predict`` looks for when none is named (those present in the results are used)."""


@dataclass(frozen=True)
class TreeResult:
    """What ``tree`` found: the phylogeny, the observations it came from and notes."""

    phylogeny: Phylogeny
    observations: ObservationTable
    notes: tuple[str, ...] = ()
    """Things a reader should know (superseded runs)."""
    sections: tuple[str, ...] = ()
    """Extra Markdown sections of ``report.md``."""
    identities: Mapping[str, Identity] = field(default_factory=dict)
    """Label -> the model and settings it stands for (models read from lm-eval results)."""
    rename: Mapping[str, str] = field(default_factory=dict)
    """The label overrides the models were read with."""
    populations_file: FileStamp | None = None
    """The one populations file every observation was read from, all of it (copied as it is)."""

    def files(self) -> dict[str, Content]:
        """Every output file (name -> bytes)."""
        return tree_files(self, self.sections)


def tree_files(found: TreeResult, sections: Sequence[str]) -> dict[str, Content]:
    """Render the files of ``tree``; a table of run settings comes first for lm-eval models."""
    runs = [identities_section(found.identities)] if found.identities else []
    copied = found.populations_file.copy() if found.populations_file is not None else None
    return render_tree_outputs(
        found.phylogeny, found.observations, found.notes, [*runs, *sections], copied
    )


@dataclass(frozen=True)
class Inputs:
    """Every observation of a results folder and populations files, with what was learnt."""

    observations: ObservationTable
    notes: tuple[str, ...]
    identities: Mapping[str, Identity]
    runs: tuple[Run, ...]
    populations_file: FileStamp | None = None
    """Set when the observations are all of one populations file, unfiltered."""


def read_inputs(
    results_dir: Results | None,
    populations: Sequence[Path] = (),
    *,
    rename: Mapping[str, str] | None = None,
    genomes: frozenset[str] | None = None,
) -> Inputs:
    """Read the observations of a results folder and of populations files (see :func:`tree`)."""
    if results_dir is None and not populations:
        raise InputError("give a RESULTS_DIR, a --populations file, or both")
    tables: list[ObservationTable] = []
    notes: list[str] = []
    identities: Mapping[str, Identity] = {}
    runs: list[Run] = []
    # one Parquet file given whole is copied into the outputs as it is; others are written
    whole = _stamp(populations[0]) if len(populations) == 1 and is_parquet(populations[0]) else None
    if results_dir is not None:
        runs = index_runs(results_dir, rename)
        if populations and not any(run.phylolm_tasks for run in runs):
            check_renames(rename or {}, runs, ())  # benchmark runs only: genes from the files
        else:
            collected = read_observations(results_dir, rename, genomes, runs)
            tables.append(ObservationTable.of(collected.observations))
            notes.extend(collected.notes)
            identities = collected.identities
            check_renames(rename or {}, runs, {*identities, *collected.default_labels})
    for path in populations:
        table = read_populations_file(path)
        if genomes is not None:
            wanted = np.array([genome in genomes for genome, _, _ in table.genes], dtype=bool)
            table = table.select(wanted[table.gene] if len(wanted) else wanted)
        tables.append(table)
    observations = ObservationTable.concat(tables)
    if genomes is not None and not len(observations):
        raise InputError(f"no observation of genome(s) {', '.join(sorted(genomes))}")
    notes.extend(collapsed_probes(observations))
    whole = whole if genomes is None and len(tables) == 1 else None  # all of the one file
    return Inputs(observations, tuple(notes), identities, tuple(runs), whole)


def _stamp(path: Path) -> FileStamp | None:
    """Stamp a file before it is read (``None`` when it cannot be: reading it will say why)."""
    try:
        return FileStamp.of(path) if path.is_file() else None
    except OSError:
        return None


def tree(
    results_dir: Results | None,
    populations: Sequence[Path] = (),
    *,
    rename: Mapping[str, str] | None = None,
    genomes: frozenset[str] | None = None,
    method: MethodChoice = "auto",
    estimator: Estimator = "unbiased",
    resamples: int | None = None,
    seed: int = 0,
    benchmarks_hint: bool = True,
    reuse: Path | None = None,
    distance: Distance = DEFAULT_DISTANCE,
) -> TreeResult:
    """Read every observation and infer the phylogeny.

    Parameters
    ----------
    results_dir : Path, sequence of Path, or None
        What ``lm_eval --output_path`` was given; several folders are read as one.
    populations : sequence of Path
        Populations files (JSON Lines) to add.
    rename : mapping, optional
        Label overrides, keyed by lm-eval's model name or by the default label.
    genomes : frozenset of str, optional
        Use only genes of these genomes.
    method, estimator, resamples, seed, distance
        See :func:`phylolm_harness.core.phylogeny.infer_phylogeny`.
    benchmarks_hint : bool
        Add a report section pointing to ``predict`` when benchmark results sit next to the genes.
    reuse : Path, optional
        A folder where an earlier tree was written: the cross products of models it already had
        are taken from its ``pairs.npy`` (see :mod:`phylolm_harness.core.pairs`).

    Returns
    -------
    TreeResult

    Raises
    ------
    InputError
        Missing inputs, bad files, and the checks of the populations and similarities.
    """
    if resamples is not None and not 0 <= resamples <= MAX_RESAMPLES:
        raise InputError(f"--resamples must be between 0 and {MAX_RESAMPLES}, got {resamples}")
    if not 0 <= seed < 2**63:
        raise InputError(f"--seed must be between 0 and 2**63 - 1, got {seed}")
    inputs = read_inputs(results_dir, populations, rename=rename, genomes=genomes)
    known, note = read_known_pairs(reuse) if reuse is not None else (None, "")
    pops = Populations.from_observations(inputs.observations)
    try:
        phylogeny = infer_phylogeny(
            pops, method, estimator, resamples, seed, known, distance=distance
        )
    except UntrustedPairs as error:
        note = (
            f"{reuse}: the pairs kept there do not belong to these models ({error}); every pair "
            "was computed"
        )
        phylogeny = infer_phylogeny(pops, method, estimator, resamples, seed, distance=distance)
    notes = [*inputs.notes, *([note] if note else [])]
    if phylogeny.reused:
        n = len(pops.models)
        rest = (
            "only pairs with the others were computed"
            if phylogeny.reused < n
            else "no pair was computed"
        )
        notes.append(
            f"the cross products of {phylogeny.reused} of {n} models were reused from the earlier "
            f"tree in {reuse} (pairs.npy); {rest}"
        )
    sections: tuple[str, ...] = ()
    if benchmarks_hint and results_dir is not None:
        hint = _benchmarks_hint(results_dir, rename, inputs.runs)
        sections = (hint,) if hint else ()
    return TreeResult(
        phylogeny,
        inputs.observations,
        tuple(notes),
        sections,
        inputs.identities,
        dict(rename or {}),
        inputs.populations_file,
    )


def _benchmarks_hint(
    results_dir: Results, rename: Mapping[str, str] | None, runs: Sequence[Run]
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
    where = " ".join(shlex.quote(str(folder)) for folder in folders(results_dir))
    return (
        "## Benchmarks\n\n"
        f"Real lm-eval results found: {counts}. Run `phylolm-harness predict {where}` to "
        "predict them for every model from the distances (`predictions.csv`, with held-out "
        "evaluation), next to the real scores.\n"
    )


def lineage(
    results_dir: Results,
    *,
    rename: Mapping[str, str] | None = None,
    method: Method = "nj",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[LikelihoodTree, list[str]]:
    """Read every model's ``phylolm_passages`` scores and build the tree of likelihood profiles.

    See :mod:`phylolm_harness.core.likelihood`; ``resamples`` passage resamples give the standard
    errors and branch supports.
    """
    if not 0 <= resamples <= MAX_RESAMPLES:
        raise InputError(f"--resamples must be between 0 and {MAX_RESAMPLES}, got {resamples}")
    if not 0 <= seed < 2**63:
        raise InputError(f"--seed must be between 0 and 2**63 - 1, got {seed}")
    profiles, notes = read_profiles(results_dir, rename)
    return infer_likelihood_tree(profiles, method, resamples, seed), notes
