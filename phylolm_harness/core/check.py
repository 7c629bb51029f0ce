"""Statistics of regression checks: is a model still the one a baseline recorded.

Two collections of one model are compared gene by gene through the three sums Nei's identity is
made of: the cross term ``Σ_a P(a) Q(a)`` and each side's within term ``J`` (unbiased for sampled
genes, as in :mod:`phylolm_harness.core.similarity`). From per-gene terms, distances on resampled
genes are matrix products, and the null distribution of the distance is drawn by permutation.

*Sampled* collections are tested by permutation: under the hypothesis that both collections come
from one model, the pooled continuations of each gene are exchangeable, so re-splitting them at
random (a multivariate hypergeometric draw per gene) gives the exact null distribution of the
distance, whatever the model, the number of genes or the number of probes. The p-value is
``(1 + #{null >= observed}) / (1 + permutations)``, which is never below its nominal level.

*Exact* collections have no sampling noise: an unchanged model gives the same distributions up to
floating point, and the distance is compared with a small tolerance instead (see
:data:`EXACT_TOLERANCE`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.similarity import Estimator
from phylolm_harness.errors import InputError

FloatArray = NDArray[np.float64]
GeneKey = tuple[str, str, str]
"""(genome, fingerprint, gene id)."""

EXACT_TOLERANCE = 1e-5
"""Largest Nei distance between two exact collections still read as the same model.

Kernel-level floating-point differences (batch size and padding, thread count) move exact
distributions of an unchanged model by far less (see docs/checks.md); the smallest change
the benchmarks show a check should catch, an int8 round-trip, moves them by far more.
"""


def by_gene(observations: Sequence[GeneObservation]) -> dict[GeneKey, GeneObservation]:
    """Index one model's observations by gene."""
    return {(o.genome, o.fingerprint, o.gene): o for o in observations}


@dataclass(frozen=True, eq=False)
class GeneTerms:
    """Per-gene terms of Nei's identity between two collections, on their common genes."""

    genes: tuple[GeneKey, ...]
    cross: FloatArray
    """``Σ_a P(a|g) Q(a|g)`` per gene."""
    within_a: FloatArray
    within_b: FloatArray

    def restrict(self, genes: Sequence[GeneKey]) -> GeneTerms:
        """Keep the terms of some of the genes, in the given order."""
        where = {g: i for i, g in enumerate(self.genes)}
        index = np.array([where[g] for g in genes], dtype=np.int64)
        return GeneTerms(
            tuple(genes), self.cross[index], self.within_a[index], self.within_b[index]
        )

    def distance(self, weights: FloatArray | None = None) -> FloatArray:
        """Nei's distance from the terms summed over genes (``weights``: ``(r, genes)``)."""
        if weights is None:
            return nei_from_sums(
                np.atleast_1d(self.cross.sum()),
                np.atleast_1d(self.within_a.sum()),
                np.atleast_1d(self.within_b.sum()),
            )
        return nei_from_sums(weights @ self.cross, weights @ self.within_a, weights @ self.within_b)


def nei_from_sums(cross: FloatArray, within_a: FloatArray, within_b: FloatArray) -> FloatArray:
    """``-ln(cross / sqrt(within_a within_b))``, elementwise; ``inf`` where it is undefined.

    Not clipped at 0: with unbiased within terms, two collections of one model give small
    negative values as often as small positive ones, which keeps the statistic continuous.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        value = -np.log(cross / np.sqrt(within_a * within_b))
    bad = (within_a <= 0) | (within_b <= 0) | ~np.isfinite(value)
    return np.where(bad, np.inf, value)


def gene_terms(
    a: Mapping[GeneKey, GeneObservation],
    b: Mapping[GeneKey, GeneObservation],
    estimator: Estimator = "unbiased",
) -> GeneTerms:
    """Per-gene terms between two models' observations, on the genes both were observed on."""
    genes = tuple(sorted(set(a) & set(b)))
    cross = np.empty(len(genes))
    within_a = np.empty(len(genes))
    within_b = np.empty(len(genes))
    for i, gene in enumerate(genes):
        p, q = _probabilities(a[gene]), _probabilities(b[gene])
        cross[i] = sum(v * q[k] for k, v in p.items() if k in q)
        within_a[i] = _within(a[gene], p, estimator)
        within_b[i] = _within(b[gene], q, estimator)
    return GeneTerms(genes, cross, within_a, within_b)


def _probabilities(obs: GeneObservation) -> dict[str, float]:
    if obs.exact:
        return {k: float(v) for k, v in obs.alleles.items() if v}
    n = float(obs.probes or 0)
    return {k: float(v) / n for k, v in obs.alleles.items() if v}


def _within(obs: GeneObservation, p: Mapping[str, float], estimator: Estimator) -> float:
    plugin = float(sum(v * v for v in p.values()))
    if estimator == "plugin":
        return plugin
    if obs.exact:
        return plugin - obs.self_pairs
    n = float(obs.probes or 0)
    if n < 2:
        raise InputError(
            f"model {obs.model!r}, gene {obs.gene!r}: a single probe; the unbiased estimator "
            "needs at least 2"
        )
    return (n * plugin - 1.0) / (n - 1.0)


def gene_resamples(n_genes: int, resamples: int, seed: int) -> FloatArray:
    """Return ``(resamples, n_genes)`` bootstrap weights: how often each gene is drawn."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_genes, np.full(n_genes, 1.0 / n_genes), size=resamples).astype(
        np.float64
    )


@dataclass(frozen=True)
class SameModel:
    """Outcome of the same-model test of one model against its baseline entry."""

    distance: float
    """Nei's distance between the two collections (unclipped; see :func:`nei_from_sums`)."""
    noise: float
    """Standard deviation of the distance under the null (0 for exact collections)."""
    critical: float
    """Distance above which the test rejects at its level (the tolerance for exact ones)."""
    p_value: float | None
    """Permutation p-value; ``None`` for exact collections (deterministic comparison)."""
    genes: int
    exact: bool


def same_model_test(
    baseline: Mapping[GeneKey, GeneObservation],
    current: Mapping[GeneKey, GeneObservation],
    *,
    level: float,
    permutations: int,
    seed: int,
    estimator: Estimator = "unbiased",
    tolerance: float = EXACT_TOLERANCE,
) -> SameModel:
    """Test whether two collections of a model come from the same model.

    Parameters
    ----------
    baseline, current : mapping
        Gene -> observation of the model in the baseline and in the new run; both sampled or
        both exact.
    level : float
        Test level, used here only for the reported critical value.
    permutations : int
        Random re-splits of the pooled continuations (sampled collections).
    seed : int
        Seed of the permutations.
    estimator : {"unbiased", "plugin"}
        Within term of sampled genes.
    tolerance : float
        Largest distance read as "same" between exact collections.

    Returns
    -------
    SameModel
    """
    exact = all(baseline[g].exact and current[g].exact for g in set(baseline) & set(current))
    # Exact collections are compared as numbers. Their tail draws are keyed by the weights, so
    # unchanged weights draw the same continuations; the raw squares are then what makes two
    # identical collections 0 apart (the unbiased term leaves out each draw's pairing with
    # itself, which the cross term of identical draws keeps).
    terms = gene_terms(baseline, current, "plugin" if exact else estimator)
    observed = float(terms.distance()[0])
    if exact:
        return SameModel(observed, 0.0, tolerance, None, len(terms.genes), True)
    null = _permutation_null(baseline, current, terms.genes, permutations, seed, estimator)
    p = (1.0 + np.count_nonzero(null >= observed - 1e-12)) / (1.0 + len(null))
    finite = null[np.isfinite(null)]
    noise = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
    critical = float(np.quantile(null, 1.0 - level)) if len(null) else float("nan")
    return SameModel(observed, noise, critical, float(p), len(terms.genes), False)


def _permutation_null(
    a: Mapping[GeneKey, GeneObservation],
    b: Mapping[GeneKey, GeneObservation],
    genes: Sequence[GeneKey],
    permutations: int,
    seed: int,
    estimator: Estimator,
) -> FloatArray:
    """Distances between random re-splits of the pooled continuations, gene by gene."""
    rng = np.random.default_rng(seed)
    cross = np.zeros(permutations)
    within_a = np.zeros(permutations)
    within_b = np.zeros(permutations)
    for gene in genes:
        oa, ob = a[gene], b[gene]
        if oa.exact or ob.exact:
            raise InputError(
                f"model {oa.model!r}, gene {oa.gene!r}: one collection is exact and the other "
                "sampled; a check compares collections made in the same mode"
            )
        if (oa.probes or 0) + (ob.probes or 0) > _MAX_PROBES:
            raise InputError(
                f"model {oa.model!r}, gene {oa.gene!r}: more than {_MAX_PROBES:,} probes; "
                "use fewer, or exact mode"
            )
        alleles = sorted(set(oa.alleles) | set(ob.alleles))
        ca = np.array([int(oa.alleles.get(k, 0)) for k in alleles], dtype=np.int64)
        cb = np.array([int(ob.alleles.get(k, 0)) for k in alleles], dtype=np.int64)
        na, nb = int(ca.sum()), int(cb.sum())
        draws_b = rng.multivariate_hypergeometric(ca + cb, nb, size=permutations)
        draws_a = (ca + cb)[None, :] - draws_b
        cross += (draws_a * draws_b).sum(axis=1) / (na * nb)
        within_a += _within_counts(draws_a, na, estimator)
        within_b += _within_counts(draws_b, nb, estimator)
    return nei_from_sums(cross, within_a, within_b)


_MAX_PROBES = 10**8
"""Most probes per gene a permutation test takes (both collections together)."""


def _within_counts(counts: NDArray[np.int64], n: int, estimator: Estimator) -> FloatArray:
    squares: FloatArray = (counts.astype(np.float64) ** 2).sum(axis=1)
    if estimator == "plugin":
        return squares / (n * n)
    return (squares - n) / (n * (n - 1.0))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (family-wise error rate), in the input order.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return [round(float(v), 15) for v in adjusted]
