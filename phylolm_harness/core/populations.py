"""Allele frequencies of many models on one gene set, as a sparse matrix.

A :class:`Populations` holds ``P(allele | gene, model)`` for every model (rows) and every observed
(gene, allele) pair (columns). Everything downstream (similarity, trees, predictions) is computed
from it with sparse matrix products.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.errors import InputError

_PROBABILITY_SLACK = 1e-6


@dataclass(frozen=True)
class Gene:
    """A gene as the populations see it: the genome it belongs to and its id there."""

    genome: str
    fingerprint: str
    id: str


@dataclass(frozen=True, eq=False)
class Populations:
    """Allele frequencies of models on genes.

    Attributes
    ----------
    models : tuple of str
        Model labels, one per row.
    genes : tuple of Gene
        Genes, in a stable order (genome name, fingerprint, gene id).
    frequencies : scipy.sparse.csr_array
        ``(n_models, n_columns)`` matrix of ``P(allele | gene, model)``.
    column_gene : ndarray of int64
        Gene index of each column.
    column_allele : tuple of str
        Allele of each column.
    probes : ndarray of float64
        ``(n_models, n_genes)``: number of sampled continuations, ``inf`` for exact
        distributions, ``0`` where the model was not observed on the gene.
    tail : ndarray of float64
        ``(n_models, n_genes)``: probability mass an exact distribution left unexpanded.
    self_pairs : ndarray of float64
        ``(n_models, n_genes)``: for exact distributions whose pruned branches were sampled,
        ``count · weight²`` of the draws (see :class:`~phylolm_harness.core.alleles.TailDraws`);
        0 elsewhere.
    sampled : ndarray of float64
        ``(n_models, n_genes)``: probability mass an exact distribution estimated by draws.
    """

    models: tuple[str, ...]
    genes: tuple[Gene, ...]
    frequencies: sp.csr_array
    column_gene: NDArray[np.int64]
    column_allele: tuple[str, ...]
    probes: NDArray[np.float64]
    tail: NDArray[np.float64]
    self_pairs: NDArray[np.float64]
    sampled: NDArray[np.float64]

    @property
    def observed(self) -> NDArray[np.bool_]:
        """``(n_models, n_genes)`` mask of the genes each model was observed on."""
        return np.asarray(self.probes > 0)

    @property
    def genomes(self) -> tuple[tuple[str, str], ...]:
        """Distinct ``(name, fingerprint)`` genomes, sorted."""
        return tuple(sorted({(g.genome, g.fingerprint) for g in self.genes}))

    def gene_indicator(self) -> sp.csr_array:
        """``(n_columns, n_genes)`` 0/1 matrix mapping each column to its gene."""
        n_cols = len(self.column_allele)
        return sp.csr_array(
            (np.ones(n_cols), (np.arange(n_cols), self.column_gene)),
            shape=(n_cols, len(self.genes)),
        )

    @classmethod
    def from_observations(cls, observations: Sequence[GeneObservation]) -> Populations:
        """Build populations from per-(model, gene) observations, validating them.

        Raises
        ------
        InputError
            On duplicate (model, gene) observations, negative counts or probabilities, exact
            distributions whose probabilities and tail do not add up to 1, fractional counts,
            sampled counts that disagree with the number of probes, genomes that differ between
            models, or fewer than one model.
        """
        if not observations:
            raise InputError("no PhyloLM observations to build populations from")
        _check_genomes(observations)
        models = tuple(sorted({o.model for o in observations}))
        genes = tuple(
            Gene(*key) for key in sorted({(o.genome, o.fingerprint, o.gene) for o in observations})
        )
        model_index = {m: i for i, m in enumerate(models)}
        gene_index = {(g.genome, g.fingerprint, g.id): i for i, g in enumerate(genes)}
        probes = np.zeros((len(models), len(genes)))
        tail = np.zeros((len(models), len(genes)))
        self_pairs = np.zeros((len(models), len(genes)))
        sampled = np.zeros((len(models), len(genes)))
        column_index: dict[tuple[int, str], int] = {}
        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for obs in observations:
            i = model_index[obs.model]
            g = gene_index[(obs.genome, obs.fingerprint, obs.gene)]
            if probes[i, g] != 0:
                raise InputError(
                    f"{_where(obs)}: model {obs.model!r} has gene {obs.gene!r} of genome "
                    f"{obs.genome!r} twice"
                )
            freqs, n = _frequencies(obs)
            probes[i, g] = n
            tail[i, g] = obs.tail
            self_pairs[i, g] = obs.self_pairs
            sampled[i, g] = obs.draws.mass if obs.draws is not None else 0.0
            for allele, p in freqs.items():
                if p:
                    rows.append(i)
                    cols.append(column_index.setdefault((g, allele), len(column_index)))
                    values.append(p)
        column_gene = np.empty(len(column_index), dtype=np.int64)
        column_allele = [""] * len(column_index)
        for (g, allele), col in column_index.items():
            column_gene[col] = g
            column_allele[col] = allele
        matrix = sp.csr_array(
            (np.asarray(values, dtype=np.float64), (rows, cols)),
            shape=(len(models), len(column_index)),
        )
        return cls(
            models,
            genes,
            matrix,
            column_gene,
            tuple(column_allele),
            probes,
            tail,
            self_pairs,
            sampled,
        )


def _where(obs: GeneObservation) -> str:
    return obs.source or "input"


def _frequencies(obs: GeneObservation) -> tuple[dict[str, float], float]:
    """Return P(allele) and the sample size (``inf`` for exact) of one observation."""
    values = obs.alleles.values()
    if not all(isinstance(v, (int, float)) and 0 <= v < math.inf for v in values):
        raise InputError(
            f"{_where(obs)}: model {obs.model!r}, gene {obs.gene!r}: allele values must be "
            "finite and non-negative"
        )
    total = float(sum(values))
    if obs.probes is None:
        drawn, sampled = 0.0, 0.0
        if obs.draws is not None:
            drawn, sampled = obs.draws.count * obs.draws.weight, obs.draws.mass
        mass = total - drawn + sampled + obs.tail
        if not 0 <= obs.tail <= 1 or abs(mass - 1.0) > _PROBABILITY_SLACK or total <= 0:
            more = f", {sampled:.6g} sampled by {drawn:.6g} of draws" if obs.draws else ""
            raise InputError(
                f"{_where(obs)}: model {obs.model!r}, gene {obs.gene!r}: exact probabilities sum "
                f"to {total:.6g} with tail {obs.tail:.6g}{more}; they must add up to 1"
            )
        return dict(obs.alleles), math.inf
    if not all(float(v).is_integer() for v in values):
        raise InputError(
            f"{_where(obs)}: model {obs.model!r}, gene {obs.gene!r}: sampled allele counts must "
            "be whole numbers"
        )
    if obs.probes < 1 or abs(total - obs.probes) > _PROBABILITY_SLACK * obs.probes:
        raise InputError(
            f"{_where(obs)}: model {obs.model!r}, gene {obs.gene!r}: allele counts sum to "
            f"{total:g} but {obs.probes} probes were recorded"
        )
    scale = 1.0 / obs.probes
    return {a: c * scale for a, c in obs.alleles.items()}, float(obs.probes)


def _check_genomes(observations: Sequence[GeneObservation]) -> None:
    """Refuse to compare models collected on different genomes."""
    per_model: dict[str, set[tuple[str, str]]] = defaultdict(set)
    fingerprints: dict[str, set[str]] = defaultdict(set)
    for obs in observations:
        per_model[obs.model].add((obs.genome, obs.fingerprint))
        fingerprints[obs.genome].add(obs.fingerprint)
    for name, prints in fingerprints.items():
        if len(prints) > 1:
            users = sorted(
                f"{m} ({fp[:15]}…)" for m, gs in per_model.items() for n, fp in gs if n == name
            )
            raise InputError(
                f"genome {name!r} has {len(prints)} different contents across models "
                f"({', '.join(users)}): collect every model on the same genome"
            )
    reference = max(per_model.values(), key=len)
    for model, genomes in sorted(per_model.items()):
        if genomes != reference:
            have = ", ".join(sorted(n for n, _ in genomes))
            want = ", ".join(sorted(n for n, _ in reference))
            raise InputError(
                f"model {model!r} was collected on genomes [{have}] but others on [{want}]: "
                "select common genomes with --genome"
            )
