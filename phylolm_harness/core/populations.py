"""Allele frequencies of many models on one gene set, as a sparse matrix.

A :class:`Populations` holds ``P(allele | gene, model)`` for every model (rows) and every observed
(gene, allele) pair (columns). Everything downstream (similarity, trees, predictions) is computed
from it with sparse matrix products.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.table import ObservationTable, positions
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

        ``observations`` may be an :class:`~phylolm_harness.core.table.ObservationTable` (what
        the readers return), read without making an object per observation.

        Raises
        ------
        InputError
            On duplicate (model, gene) observations, negative counts or probabilities, exact
            distributions whose probabilities and tail do not add up to 1, fractional counts,
            sampled counts that disagree with the number of probes, genomes that differ between
            models, or fewer than one model.
        """
        table = ObservationTable.of(observations)
        if not len(table):
            raise InputError("no PhyloLM observations to build populations from")
        _check_genomes(table)
        model_codes, row = _sorted_codes(table.models, table.model)
        gene_codes, gene = _sorted_codes(table.genes, table.gene)
        models = tuple(table.models[c] for c in model_codes)
        genes = tuple(Gene(*table.genes[c]) for c in gene_codes)
        _check_duplicates(table, row * len(genes) + gene, len(models) * len(genes))
        owner = table.owner
        each = _per_observation(table, owner)
        shape = (len(models), len(genes))
        probes, tail, self_pairs, sampled = (np.zeros(shape) for _ in range(4))
        probes[row, gene] = each.probes
        tail[row, gene] = each.tail
        self_pairs[row, gene] = each.self_pairs
        sampled[row, gene] = each.sampled
        n_names = max(len(table.allele_names), 1)
        kept = table.values > 0
        owner = owner[kept]  # the row of each kept allele
        keys = gene[owner] * n_names + table.allele[kept]
        pairs, column = _distinct(keys, len(genes) * n_names)
        matrix = sp.csr_array(
            (table.values[kept] * each.scale[owner], (row[owner], column)),
            shape=(len(models), len(pairs)),
        )
        names = np.empty(len(table.allele_names), dtype=object)
        names[:] = table.allele_names
        return cls(
            models,
            genes,
            matrix,
            (pairs // n_names).astype(np.int64),
            tuple(names[pairs % n_names].tolist()),
            probes,
            tail,
            self_pairs,
            sampled,
        )


def _sorted_codes(
    names: Sequence[Any], codes: NDArray[np.int64]
) -> tuple[list[int], NDArray[np.int64]]:
    """Return the codes in use, sorted by their names, and each row's rank among them."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(names))).tolist()
    order = sorted(used, key=names.__getitem__)
    rank = np.zeros(len(names), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return order, rank[codes]


def _distinct(keys: NDArray[np.int64], bound: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return ``np.unique(keys, return_inverse=True)`` for keys in ``[0, bound)``.

    By marking the keys in a table of ``bound`` entries, without sorting, when that table is no
    larger than the keys (25 million alleles of 10,000 models fall on 3 million gene x allele
    pairs); by sorting otherwise.

    >>> [a.tolist() for a in _distinct(np.array([7, 2, 7, 5]), 8)]
    [[2, 5, 7], [2, 0, 2, 1]]
    """
    if bound > max(len(keys), 1 << 16):
        distinct, inverse = np.unique(keys, return_inverse=True)
        return distinct, inverse.reshape(-1)
    present = np.zeros(bound, dtype=bool)
    present[keys] = True
    distinct = np.flatnonzero(present)
    return distinct, positions(distinct, keys)


def _check_duplicates(table: ObservationTable, keys: NDArray[np.int64], bound: int) -> None:
    """Refuse a key (below ``bound``) given twice, naming the first row that repeats one."""
    if len(keys) and np.bincount(keys, minlength=bound).max() > 1:
        _, first = np.unique(keys, return_index=True)
        seen = np.zeros(len(keys), dtype=bool)
        seen[first] = True
        obs = table[int(np.flatnonzero(~seen)[0])]
        raise InputError(
            f"{_where(obs)}: model {obs.model!r} has gene {obs.gene!r} of genome "
            f"{obs.genome!r} twice"
        )


class _PerObservation(NamedTuple):
    probes: NDArray[np.float64]
    """Sample size, ``inf`` for exact distributions."""
    scale: NDArray[np.float64]
    """What the allele values are multiplied by to give frequencies."""
    tail: NDArray[np.float64]
    sampled: NDArray[np.float64]
    """Mass estimated by tail draws (0 without)."""
    self_pairs: NDArray[np.float64]
    """``count · weight²`` of the tail draws (0 without)."""


def _per_observation(table: ObservationTable, owner: NDArray[np.int64]) -> _PerObservation:
    """Check every observation with whole-array operations and return its sizes and masses.

    The first observation that fails is checked again by :func:`_frequencies`, which names what is
    wrong with it.
    """
    n_obs = len(table)
    values = table.values
    finite = np.isfinite(values) & (values >= 0)
    total = np.bincount(owner, weights=np.where(finite, values, 0.0), minlength=n_obs)
    bad_value = np.bincount(owner, weights=~finite, minlength=n_obs) > 0
    probes, exact, tail = table.probes, table.exact, table.tail
    draws = np.nan_to_num(table.draws, nan=0.0)
    mass, count, weight = draws[:, 0], draws[:, 1], draws[:, 2]
    fractional = np.bincount(owner, weights=finite & (values != np.floor(values)), minlength=n_obs)
    with np.errstate(invalid="ignore"):
        whole = mass - count * weight + tail
        bad = bad_value | np.where(
            exact,
            ~((tail >= 0) & (tail <= 1) & (np.abs(total + whole - 1.0) <= _PROBABILITY_SLACK))
            | (total <= 0),
            (fractional > 0)
            | ~(np.isfinite(probes) & (probes >= 1))
            | ~(np.abs(total - probes) <= _PROBABILITY_SLACK * probes),
        )
    if bad.any():
        obs = table[int(np.flatnonzero(bad)[0])]
        with contextlib.suppress(OverflowError, TypeError):
            _frequencies(obs)  # names what is wrong, in most cases
        raise InputError(
            f"{_where(obs)}: model {obs.model!r}, gene {obs.gene!r}: allele values, probes and "
            "tail must be finite numbers"
        )
    return _PerObservation(
        np.where(exact, np.inf, probes),
        np.where(exact, 1.0, 1.0 / np.where(exact, 1, probes)),
        tail,
        mass,
        count * weight * weight,
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


def _check_genomes(table: ObservationTable) -> None:
    """Refuse to compare models collected on different genomes."""
    codes: dict[tuple[str, str], int] = {}
    genome_of = np.array([codes.setdefault(g[:2], len(codes)) for g in table.genes], np.int64)
    names = list(codes)
    per_model: dict[str, set[tuple[str, str]]] = defaultdict(set)
    fingerprints: dict[str, set[str]] = defaultdict(set)
    for key in np.unique(table.model * len(names) + genome_of[table.gene]).tolist():
        model, genome = divmod(key, len(names))
        name, fingerprint = names[genome]
        per_model[table.models[model]].add((name, fingerprint))
        fingerprints[name].add(fingerprint)
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
