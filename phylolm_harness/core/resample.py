"""Gene resampling (bootstrap): distance matrices on resampled genes, and their spread.

Genes are cut into blocks whose cross products are computed once (:func:`block_products`); each
resample weights the blocks by how often it drew them, so a few resamples together cost one pass
over the blocks (:func:`~phylolm_harness.core.packed.resampled_distances`) instead of a product
over every allele each.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.packed import (
    pack,
    pack_band,
    packed_size,
    resampled_distances,
    spread_add,
    unpack,
)
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.similarity import Distance, Estimator, FloatMatrix, homozygosity
from phylolm_harness.errors import InputError

MIN_BLOCKS = 20
"""Fewest gene blocks a bootstrap is drawn from (or every gene, when there are fewer genes)."""

BLOCK_BYTES = 2**29
"""Memory the bootstrap's per-block cross products would take as full ``n x n`` matrices (see
:func:`gene_blocks`): one block a gene up to 512 models on 256 genes, 67 blocks of 3 or 4 genes
at 1,000 models, and at least :data:`MIN_BLOCKS` up to 1,832 models. They are kept packed, in
half that; each resample reads the blocks it drew once."""


def bootstrap_distances(
    pops: Populations,
    n_resamples: int,
    seed: int,
    estimator: Estimator = "unbiased",
    max_bytes: int = BLOCK_BYTES,
    distance: Distance = "nei",
) -> Iterator[FloatMatrix]:
    """Yield distance matrices computed on genes resampled with replacement.

    Genes are cut into blocks (:func:`gene_blocks`) whose cross products are computed once; a
    resample draws as many blocks as there are, with replacement, and weights every block's terms
    by how often it was drawn, so it costs one pass over the blocks it drew instead of a product
    over every allele. While one block per gene fits in ``max_bytes`` this is exactly the
    gene bootstrap; past that, genes are resampled in blocks of neighbours (genes are independent,
    so block sums are too). Use it for standard errors and branch support. Resamples on which a
    pair's distance is undefined (see :func:`~phylolm_harness.core.similarity.nei_similarity`)
    are left out. ``distance`` ``da`` gives ``1 - S`` instead of ``-ln S`` (of populations made
    by :func:`~phylolm_harness.core.similarity.root_frequencies`).
    """
    bootstrap = GeneBootstrap(pops, n_resamples, estimator, max_bytes, distance)
    for drawn in bootstrap.draws(seed):
        distances = bootstrap.distances(drawn)
        if distances is not None:
            yield distances


class GeneBootstrap:
    """What every resample of :func:`bootstrap_distances` reads, computed once.

    :meth:`draws` gives each resample's block weights in order (seeded); :meth:`distances` turns
    one draw into a distance matrix, :meth:`packed_distances` several at once; both may run on
    several threads at once (their compiled pass releases the GIL).

    Raises
    ------
    InputError
        When ``n_resamples`` > 0 and fewer than :data:`MIN_BLOCKS` gene blocks fit ``max_bytes``.
    """

    def __init__(
        self,
        pops: Populations,
        n_resamples: int,
        estimator: Estimator = "unbiased",
        max_bytes: int = BLOCK_BYTES,
        distance: Distance = "nei",
    ) -> None:
        self.distance = distance
        self.block_of_gene = gene_blocks(len(pops.models), len(pops.genes), max_bytes)
        self.n_blocks = int(self.block_of_gene.max()) + 1 if len(self.block_of_gene) else 0
        self.n_resamples = n_resamples
        if n_resamples > 0 and self.n_blocks < min(MIN_BLOCKS, len(pops.genes)):
            need = 8 * len(pops.models) ** 2 * min(MIN_BLOCKS, len(pops.genes)) / 2**30
            raise InputError(
                f"resampling genes at {len(pops.models)} models needs {need:.1f} GiB for "
                f"{MIN_BLOCKS} gene blocks (at most {max_bytes / 2**30:.1f} GiB are used): "
                "use --resamples 0, or compare fewer models"
            )
        j = homozygosity(pops, estimator)
        self.undefined = bool(np.isnan(j).any())
        """Every resample is undefined, as the full similarity is (see homozygosity)."""
        self.j = np.nan_to_num(j)
        self.observed = pops.observed
        self.partial = np.flatnonzero(~self.observed.all(axis=1))
        self.partial_column = np.full(len(pops.models), -1, dtype=np.int64)
        self.partial_column[self.partial] = np.arange(len(self.partial))
        empty = np.empty((0, packed_size(len(pops.models))))
        self.cross = empty if self.undefined else block_products(pops, self.block_of_gene)

    def draws(self, seed: int) -> Iterator[NDArray[np.float64]]:
        """Yield how often each block is drawn, resample after resample (none if undefined)."""
        rng = np.random.default_rng(seed)
        uniform = np.full(self.n_blocks, 1.0 / max(self.n_blocks, 1))
        for _ in range(self.n_resamples if not self.undefined else 0):
            yield rng.multinomial(self.n_blocks, uniform).astype(np.float64)

    def distances(self, drawn: NDArray[np.float64]) -> FloatMatrix | None:
        """Distances on the genes of one draw, or ``None`` when a pair's is undefined."""
        packed, defined = self.packed_distances(drawn[None, :])
        return unpack(packed[0], len(self.j)) if defined[0] else None

    def packed_distances(
        self, drawn: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Packed distances of several draws ``(R, B)`` in one pass over the blocks.

        Returns the ``(R, n (n + 1) / 2)`` distances and whether each resample's are defined
        (see :func:`~phylolm_harness.core.packed.resampled_distances`). Each resample's numbers
        are the same whatever draws it is computed with.
        """
        n, n_partial = len(self.j), len(self.partial)
        within = np.empty((len(drawn), n))
        within_partial = np.empty((len(drawn), n, n_partial))
        unshared = np.zeros(len(drawn), dtype=bool)
        for r, weights in enumerate(drawn):
            gene_weights = weights[self.block_of_gene]
            within[r] = self.j @ gene_weights
            if n_partial:
                unshared[r] = _unshared(self.observed, self.partial, gene_weights > 0)
                within_partial[r] = self.j @ (self.observed[self.partial] * gene_weights).T
        weights = np.where(unshared[:, None], 0.0, drawn)  # not summed: undefined anyway
        packed, defined = resampled_distances(
            self.cross, weights, within, within_partial, self.partial_column
        )
        if self.distance == "da":  # 1 - S = 1 - exp(-D)
            np.negative(np.expm1(np.negative(packed, out=packed), out=packed), out=packed)
        return packed, defined & ~unshared


def _unshared(
    observed: NDArray[np.bool_], partial: NDArray[np.intp], drawn: NDArray[np.bool_]
) -> bool:
    """Whether a partly observed model shares no drawn gene with some other model."""
    rows = observed[partial].astype(np.float32)  # counts: exact in float32
    shared = rows @ (observed & drawn).astype(np.float32).T
    shared[np.arange(len(partial)), partial] = 1.0  # a model with itself does not count
    return bool((shared == 0).any())


def gene_blocks(n_models: int, n_genes: int, max_bytes: int = BLOCK_BYTES) -> NDArray[np.int64]:
    """Block of every gene: one gene a block while ``n_genes`` products of ``n x n`` fit.

    Otherwise as many blocks of consecutive genes (sizes differing by at most one) as fit in
    ``max_bytes``, and never fewer than 1.

    Examples
    --------
    >>> gene_blocks(10, 4).tolist(), gene_blocks(1000, 6, max_bytes=3 * 8 * 1000**2).tolist()
    ([0, 1, 2, 3], [0, 0, 1, 1, 2, 2])
    """
    fit = max(1, max_bytes // (8 * max(n_models, 1) ** 2))
    n_blocks = min(n_genes, fit)
    return np.arange(n_genes, dtype=np.int64) * n_blocks // max(n_genes, 1)


def block_products(pops: Populations, block_of_gene: NDArray[np.int64]) -> FloatMatrix:
    """Return the cross products ``Σ_a P_i(a) P_j(a)`` of each block of genes, packed.

    ``(B, n (n + 1) / 2)``: the upper triangle of each block's symmetric ``n x n`` product
    (:func:`~phylolm_harness.core.packed.pack`), half the memory of the full products. Only the
    upper triangle is computed, a band of :data:`BAND` rows at a time, each band packed while
    it is in cache.
    """
    n = len(pops.models)
    n_blocks = int(block_of_gene.max()) + 1 if len(block_of_gene) else 0
    block_of_column = block_of_gene[pops.column_gene]
    order = np.argsort(block_of_column, kind="stable")
    columns = pops.frequencies.tocsc()[:, order]
    bounds = np.searchsorted(block_of_column[order], np.arange(n_blocks + 1))
    cross = np.empty((n_blocks, packed_size(n)))
    for b in range(n_blocks):
        dense = columns[:, bounds[b] : bounds[b + 1]].toarray()
        for top in range(0, n, BAND):
            band = dense[top : top + BAND] @ dense[top:].T
            pack_band(band, top, cross[b])
    return cross


BAND = 128
"""Rows of a block product computed at once by :func:`block_products`."""


def distance_standard_errors(
    pops: Populations,
    n_resamples: int = 100,
    seed: int = 0,
    estimator: Estimator = "unbiased",
    max_bytes: int = BLOCK_BYTES,
) -> FloatMatrix:
    """Estimate the standard error of every pairwise distance by resampling genes (bootstrap).

    Streams the resamples, so memory stays at the blocks of :func:`bootstrap_distances` and a few
    ``n x n`` matrices.
    """
    spread = RunningSpread(len(pops.models))
    for distances in bootstrap_distances(pops, n_resamples, seed, estimator, max_bytes):
        spread.add(distances)
    return spread.standard_errors()


class RunningSpread:
    """Running standard deviation of symmetric ``n x n`` matrices (Welford's update).

    Only upper triangles are kept (:func:`~phylolm_harness.core.resample.pack`).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.mean = np.zeros(packed_size(n))
        self.m2 = np.zeros(packed_size(n))
        self.count = 0

    def add(self, matrix: FloatMatrix) -> FloatMatrix:
        """Account for one matrix; return it unchanged (so it can sit in a generator)."""
        self.add_packed(pack(matrix))
        return matrix

    def add_packed(self, packed: NDArray[np.float64]) -> None:
        """Account for one matrix given as its upper triangle (:func:`pack`)."""
        self.count += 1
        spread_add(packed, self.mean, self.m2, self.count)

    def standard_errors(self) -> FloatMatrix:
        """Sample standard deviation of the matrices seen (NaN with fewer than 2)."""
        if self.count < 2:
            return np.full((self.n, self.n), np.nan)
        return unpack(np.sqrt(self.m2 / (self.count - 1)), self.n)
