"""Nei's genetic identity and distance between model populations.

References
----------
.. [1] M. Nei, "Genetic distance between populations", The American Naturalist 106 (1972).
.. [2] M. Nei, "Estimation of average heterozygosity and genetic distance from a small number of
   individuals", Genetics 89 (1978).
.. [3] N. Yax, P.-Y. Oudeyer, S. Palminteri, "PhyloLM", ICLR 2025, arXiv:2404.04671.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from phylolm_harness.core.populations import Populations
from phylolm_harness.errors import InputError

Estimator = Literal["unbiased", "plugin"]
FloatMatrix = NDArray[np.float64]


class Similarity(NamedTuple):
    """Nei's identity between every pair of models, with what it was computed from."""

    similarity: FloatMatrix
    """``(n, n)`` symmetric matrix, ones on the diagonal."""
    shared_genes: NDArray[np.int64]
    """``(n, n)`` number of genes both models were observed on."""
    clipped: int
    """Pairs whose estimate exceeded 1 (sampling noise) and was set to 1."""


def homozygosity(pops: Populations, estimator: Estimator = "unbiased") -> FloatMatrix:
    """Return the within-population term ``J_g = Σ_a P(a|g)²`` of every model and gene.

    Parameters
    ----------
    pops : Populations
        Allele frequencies.
    estimator : {"unbiased", "plugin"}
        ``"plugin"`` squares the observed frequencies, as in [3]_; it over-estimates ``J`` by about
        ``(1 - J) / N`` for ``N`` sampled continuations. ``"unbiased"`` uses Nei's estimate
        ``(N Σ P̂² - 1) / (N - 1)`` [2]_ for sampled genes; exact distributions need no correction,
        except that the draws that estimate their pruned branches are not paired with themselves
        (``Σ P̂² - count · weight²``, see :class:`~phylolm_harness.core.alleles.TailDraws`).

    Returns
    -------
    ndarray
        ``(n_models, n_genes)``; zero where a model was not observed on a gene.
    """
    squares = pops.frequencies.multiply(pops.frequencies).tocsr()
    plugin = np.asarray((squares @ pops.gene_indicator()).toarray(), dtype=np.float64)
    if estimator == "plugin":
        return plugin
    n = pops.probes
    sampled = np.isfinite(n) & (n > 1)
    out = plugin - pops.self_pairs
    out[sampled] = (n[sampled] * plugin[sampled] - 1.0) / (n[sampled] - 1.0)
    single = np.isfinite(n) & (n == 1)
    out[single] = np.nan
    return out


def nei_similarity(pops: Populations, estimator: Estimator = "unbiased") -> Similarity:
    r"""Nei's genetic identity between every pair of models.

    .. math:: S_{ij} = \frac{\sum_g \sum_a P_i(a|g) P_j(a|g)}
              {\sqrt{\sum_g J_i(g) \cdot \sum_g J_j(g)}}

    with sums over the genes both models were observed on, as in [1]_ and [3]_ (summed over
    genes before normalising). Computed with one sparse product; no loop over pairs.

    Parameters
    ----------
    pops : Populations
        Allele frequencies of ``n`` models.
    estimator : {"unbiased", "plugin"}
        Within-population term, see :func:`homozygosity`.

    Returns
    -------
    Similarity
        The matrix, the number of shared genes per pair and how many pairs were clipped at 1.

    Raises
    ------
    InputError
        When two models share fewer than :data:`MIN_SHARED_GENES` genes (all genes when there
        are fewer), share no gene, share no allele on any gene (``S = 0``), or a model's
        within-population term is not positive (one probe per gene, or every probe different).

    Examples
    --------
    >>> from phylolm_harness.core.observations import GeneObservation as Obs
    >>> obs = [Obs("a", "g", "sha256:0", "g-1", {"x": 3, "y": 1}, 4),
    ...        Obs("b", "g", "sha256:0", "g-1", {"x": 0.5, "y": 0.5}, None)]
    >>> nei_similarity(Populations.from_observations(obs), "plugin").similarity.round(3)
    array([[1.   , 0.894],
           [0.894, 1.   ]])
    """
    result = _similarity(
        pops, gram(pops.frequencies), homozygosity(pops, estimator), np.ones(len(pops.genes))
    )
    _check_coverage(pops, result.shared_genes)
    return result


MIN_SHARED_GENES = 8
"""Two models are compared on at least this many common genes (or all genes, if fewer)."""


def _check_coverage(pops: Populations, shared: NDArray[np.int64]) -> None:
    needed = min(MIN_SHARED_GENES, len(pops.genes))
    few = np.triu(shared < needed, k=1)
    if few.any():
        a, b = (int(x) for x in np.argwhere(few)[0])
        raise InputError(
            f"models {pops.models[a]!r} and {pops.models[b]!r} share only {int(shared[a, b])} "
            f"gene(s) of {len(pops.genes)}; at least {needed} are needed to compare two models "
            "(collect both on the same genes)"
        )


def nei_distance(similarity: FloatMatrix) -> FloatMatrix:
    """Nei's standard genetic distance ``D = -ln S``, exactly zero on the diagonal."""
    with np.errstate(divide="ignore"):
        distance = -np.log(similarity)
    np.fill_diagonal(distance, 0.0)
    return np.maximum(distance, 0.0)


MIN_BLOCKS = 20
"""Fewest gene blocks a bootstrap is drawn from (or every gene, when there are fewer genes)."""

BLOCK_BYTES = 2**29
"""Memory the bootstrap's per-block cross products may take (see :func:`gene_blocks`): one block
a gene up to 512 models on 256 genes, 67 blocks of 3 or 4 genes at 1,000 models, and at least
:data:`MIN_BLOCKS` up to 1,832 models. Each resample reads it
all once, so it also sets the time of a resample."""


def bootstrap_distances(
    pops: Populations,
    n_resamples: int,
    seed: int,
    estimator: Estimator = "unbiased",
    max_bytes: int = BLOCK_BYTES,
) -> Iterator[FloatMatrix]:
    """Yield distance matrices computed on genes resampled with replacement.

    Genes are cut into blocks (:func:`gene_blocks`) whose cross products are computed once; a
    resample draws as many blocks as there are, with replacement, and weights every block's terms
    by how often it was drawn, so it costs a weighted sum of ``n x n`` matrices instead of a
    product over every allele. While one block per gene fits in ``max_bytes`` this is exactly the
    gene bootstrap; past that, genes are resampled in blocks of neighbours (genes are independent,
    so block sums are too). Use it for standard errors and branch support.
    """
    block_of_gene = gene_blocks(len(pops.models), len(pops.genes), max_bytes)
    n_blocks = int(block_of_gene.max()) + 1 if len(block_of_gene) else 0
    if n_resamples > 0 and n_blocks < min(MIN_BLOCKS, len(pops.genes)):
        need = 8 * len(pops.models) ** 2 * min(MIN_BLOCKS, len(pops.genes)) / 2**30
        raise InputError(
            f"resampling genes at {len(pops.models)} models needs {need:.1f} GiB for "
            f"{MIN_BLOCKS} gene blocks (at most {max_bytes / 2**30:.1f} GiB are used): "
            "use --resamples 0, or compare fewer models"
        )
    rng = np.random.default_rng(seed)
    j = homozygosity(pops, estimator)
    cross = block_products(pops, block_of_gene)
    for _ in range(n_resamples):
        drawn = rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks)).astype(np.float64)
        try:
            result = _similarity(pops, np.tensordot(drawn, cross, axes=1), j, drawn[block_of_gene])
        except InputError:
            continue
        yield nei_distance(result.similarity)


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
    """Return the cross product ``Σ_a P_i(a) P_j(a)`` of each block of genes, ``(B, n, n)``."""
    n_blocks = int(block_of_gene.max()) + 1 if len(block_of_gene) else 0
    block_of_column = block_of_gene[pops.column_gene]
    order = np.argsort(block_of_column, kind="stable")
    columns = pops.frequencies.tocsc()[:, order]
    bounds = np.searchsorted(block_of_column[order], np.arange(n_blocks + 1))
    n = len(pops.models)
    cross = np.empty((n_blocks, n, n))
    for b in range(n_blocks):
        cross[b] = gram(columns[:, bounds[b] : bounds[b + 1]])
    return cross


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
    """Running standard deviation of ``n x n`` matrices (Welford's update)."""

    def __init__(self, n: int) -> None:
        self.mean = np.zeros((n, n))
        self.m2 = np.zeros((n, n))
        self.count = 0

    def add(self, matrix: FloatMatrix) -> FloatMatrix:
        """Account for one matrix; return it unchanged (so it can sit in a generator)."""
        self.count += 1
        delta = matrix - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (matrix - self.mean)
        return matrix

    def standard_errors(self) -> FloatMatrix:
        """Sample standard deviation of the matrices seen (NaN with fewer than 2)."""
        if self.count < 2:
            return np.full_like(self.mean, np.nan)
        return np.sqrt(self.m2 / (self.count - 1))


def _similarity(
    pops: Populations,
    cross: FloatMatrix,
    j: FloatMatrix,
    gene_weights: NDArray[np.float64],
) -> Similarity:
    """Kernel: ``cross`` is already weighted by gene; ``j`` is unweighted."""
    observed = pops.observed.astype(np.float64)
    shared = observed @ (observed * (gene_weights > 0)).T
    within = np.nan_to_num(j) @ (observed * gene_weights).T  # Σ_g w_g J_i(g) over genes j saw
    denominator = within * within.T
    _check_pairs(pops, shared, cross, denominator, j)
    with np.errstate(divide="ignore", invalid="ignore"):  # only the diagonal can be 0/0 here
        similarity = cross / np.sqrt(denominator)
    np.fill_diagonal(similarity, 1.0)
    clipped = int(np.count_nonzero(np.triu(similarity > 1.0, k=1)))
    return Similarity(np.minimum(similarity, 1.0), shared.astype(np.int64), clipped)


def gram(matrix: sp.csr_array | sp.csc_array, chunk_bytes: int = 256 * 2**20) -> FloatMatrix:
    """Dense ``matrix @ matrix.T``, memory-bounded.

    Allele matrices are dense in practice (every model writes several alleles on every gene), and
    for them a dense BLAS product over column chunks is 20x faster than a sparse-sparse product;
    truly sparse matrices keep the sparse product.
    """
    n_rows, n_cols = matrix.shape
    if n_rows * n_cols == 0 or matrix.nnz < _DENSE_FROM * n_rows * n_cols:
        return np.asarray((matrix @ matrix.T).toarray(), dtype=np.float64)
    step = max(1, chunk_bytes // (8 * max(n_rows, 1)))
    csc = matrix.tocsc()
    out = np.zeros((n_rows, n_rows))
    for start in range(0, n_cols, step):
        block = csc[:, start : start + step].toarray()
        out += block @ block.T
    return out


_DENSE_FROM = 0.01
"""Density from which :func:`gram` uses dense BLAS."""


def _check_pairs(
    pops: Populations,
    shared: FloatMatrix,
    cross: FloatMatrix,
    denominator: FloatMatrix,
    j: FloatMatrix,
) -> None:
    if np.isnan(j).any():
        i = int(np.argwhere(np.isnan(j))[0][0])
        raise InputError(
            f"model {pops.models[i]!r} has a gene with a single probe: the unbiased estimator "
            "needs at least 2 (or use --estimator plugin)"
        )
    upper = np.triu(np.ones_like(shared, dtype=bool), k=1)
    for mask, why in (
        ((shared == 0) & upper, "share no gene"),
        (
            (denominator <= 0) & upper,
            "have no repeated allele within a model on their shared genes",
        ),
        ((cross <= 0) & upper, "share no allele on any of their common genes (similarity 0)"),
    ):
        if mask.any():
            a, b = (int(x) for x in np.argwhere(mask)[0])
            extra = f", {int(mask.sum()) - 1} more pairs alike" if mask.sum() > 1 else ""
            raise InputError(
                f"models {pops.models[a]!r} and {pops.models[b]!r} {why}{extra}: their distance is "
                "undefined; check that both were collected on the same genome and settings"
            )
