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
from itertools import chain
from typing import NamedTuple

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
        n_obs = len(observations)
        row = np.fromiter((model_index[o.model] for o in observations), np.int64, n_obs)
        gene = np.fromiter(
            (gene_index[(o.genome, o.fingerprint, o.gene)] for o in observations), np.int64, n_obs
        )
        _check_duplicates(observations, row * len(genes) + gene)
        columns = _Columns.of(observations)
        each = _per_observation(observations, columns)
        shape = (len(models), len(genes))
        probes, tail, self_pairs, sampled = (np.zeros(shape) for _ in range(4))
        probes[row, gene] = each.probes
        tail[row, gene] = each.tail
        self_pairs[row, gene] = [o.self_pairs for o in observations]
        sampled[row, gene] = each.sampled
        kept = columns.values > 0
        owner = columns.owner[kept]
        keys = gene[owner] * len(columns.names) + columns.codes[kept]
        pairs, column = np.unique(keys, return_inverse=True)
        matrix = sp.csr_array(
            (columns.values[kept] * each.scale[owner], (row[owner], column)),
            shape=(len(models), len(pairs)),
        )
        return cls(
            models,
            genes,
            matrix,
            (pairs // max(len(columns.names), 1)).astype(np.int64),
            tuple(columns.names[pairs % max(len(columns.names), 1)].tolist()),
            probes,
            tail,
            self_pairs,
            sampled,
        )


@dataclass(frozen=True)
class _Columns:
    """Every allele of every observation, flat: the observation it is in, its code, its value."""

    owner: NDArray[np.int64]
    codes: NDArray[np.int64]
    names: NDArray[np.object_]
    values: NDArray[np.float64]

    @classmethod
    def of(cls, observations: Sequence[GeneObservation]) -> _Columns:
        sizes = np.fromiter((len(o.alleles) for o in observations), np.int64, len(observations))
        owner = np.repeat(np.arange(len(observations)), sizes)
        names = list(chain.from_iterable(o.alleles for o in observations))
        flat = chain.from_iterable(o.alleles.values() for o in observations)
        try:
            values = np.fromiter(flat, np.float64, len(names))
        except (TypeError, ValueError, OverflowError):  # not a float: NaN, named later
            flat = chain.from_iterable(o.alleles.values() for o in observations)
            values = np.array([_as_float(v) for v in flat], dtype=np.float64)
        lookup = {name: i for i, name in enumerate(dict.fromkeys(names))}
        codes = np.fromiter(map(lookup.__getitem__, names), np.int64, len(names))
        uniques = np.empty(len(lookup), dtype=object)
        uniques[:] = list(lookup)
        return cls(owner, codes, uniques, values)


def _check_duplicates(observations: Sequence[GeneObservation], keys: NDArray[np.int64]) -> None:
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        seen = np.zeros(len(keys), dtype=bool)
        seen[first] = True
        obs = observations[int(np.flatnonzero(~seen)[0])]
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


def _per_observation(observations: Sequence[GeneObservation], columns: _Columns) -> _PerObservation:
    """Check every observation with whole-array operations and return its sizes and masses.

    The first observation that fails is checked again by :func:`_frequencies`, which names what is
    wrong with it.
    """
    n_obs = len(observations)
    values = columns.values
    finite = np.isfinite(values) & (values >= 0)
    total = np.bincount(columns.owner, weights=np.where(finite, values, 0.0), minlength=n_obs)
    bad_value = np.bincount(columns.owner, weights=~finite, minlength=n_obs) > 0
    probes = np.array([np.nan if o.probes is None else _as_float(o.probes) for o in observations])
    exact = np.array([o.probes is None for o in observations], dtype=bool)
    tail = np.array([_as_float(o.tail) for o in observations], dtype=np.float64)
    drawn = np.fromiter(
        (0.0 if o.draws is None else o.draws.count * o.draws.weight for o in observations),
        np.float64,
        n_obs,
    )
    sampled = np.fromiter(
        (0.0 if o.draws is None else o.draws.mass for o in observations), np.float64, n_obs
    )
    mass = total - drawn + sampled + tail
    fractional = np.bincount(
        columns.owner, weights=finite & (values != np.floor(values)), minlength=n_obs
    )
    with np.errstate(invalid="ignore"):
        bad = bad_value | np.where(
            exact,
            ~((tail >= 0) & (tail <= 1) & (np.abs(mass - 1.0) <= _PROBABILITY_SLACK))
            | (total <= 0),
            (fractional > 0)
            | ~(np.isfinite(probes) & (probes >= 1))
            | ~(np.abs(total - probes) <= _PROBABILITY_SLACK * probes),
        )
    if bad.any():
        obs = observations[int(np.flatnonzero(bad)[0])]
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
        sampled,
    )


def _as_float(value: object) -> float:
    """Return a number as a float, and NaN for anything else (text, an integer beyond floats)."""
    if not isinstance(value, (int, float)):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.nan


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
