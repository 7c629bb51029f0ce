"""Nei's genetic identity and distance between model populations.

References
----------
.. [1] M. Nei, "Genetic distance between populations", The American Naturalist 106 (1972).
.. [2] M. Nei, "Estimation of average heterozygosity and genetic distance from a small number of
   individuals", Genetics 89 (1978).
.. [3] N. Yax, P.-Y. Oudeyer, S. Palminteri, "PhyloLM", ICLR 2025, arXiv:2404.04671.
.. [4] M. Nei, F. Tajima, Y. Tateno, "Accuracy of estimated phylogenetic trees from molecular
   data. II. Gene frequency data", Journal of Molecular Evolution 19 (1983).
.. [5] N. Takezaki, M. Nei, "Genetic distances and reconstruction of phylogenetic trees from
   microsatellite DNA", Genetics 144 (1996).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from phylolm_harness.core.populations import Populations
from phylolm_harness.errors import InputError

Estimator = Literal["unbiased", "plugin"]
Distance = Literal["nei", "da"]
"""Distances between models: Nei's standard distance (the paper's) or Nei's ``D_A``."""
DEFAULT_DISTANCE: Distance = "nei"
"""The distance ``tree``, ``predict`` and ``baseline`` use unless told otherwise."""
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


def nei_similarity(
    pops: Populations, estimator: Estimator = "unbiased", cross: FloatMatrix | None = None
) -> Similarity:
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
    cross : ndarray, optional
        The cross products ``gram(pops.frequencies)`` when already known (overwritten).

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
    if cross is None:
        cross = gram(pops.frequencies)
    result = _similarity(pops, cross, homozygosity(pops, estimator))
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


def root_frequencies(pops: Populations) -> Populations:
    r"""Return populations whose frequencies are the square roots of each gene's distribution.

    Each model's alleles on a gene are first renormalised to the mass they hold (what an exact
    expansion left unexpanded, or its draws, is not a separate allele), then square-rooted; the
    per-model terms that only Nei's estimators read (tails, draws) are cleared. Nei's identity of
    these, with the plug-in estimator, is the mean over shared genes of the Bhattacharyya
    coefficient ``Σ_a sqrt(P_i(a|g) P_j(a|g))``, since every gene's within term is then 1:

    .. math:: 1 - S_{ij} = D_A = 1 - \frac{1}{G_{ij}} \sum_g \sum_a \sqrt{P_i(a|g) P_j(a|g)}

    which is Nei, Tajima and Tateno's ``D_A`` distance [4]_ (each gene weighs the same, however
    peaked its alleles; with gene frequency data it recovers the true topology more often than
    the standard distance [5]_).

    Examples
    --------
    >>> from phylolm_harness.core.observations import GeneObservation as Obs
    >>> obs = [Obs("a", "g", "sha256:0", "g-1", {"x": 3, "y": 1}, 4),
    ...        Obs("b", "g", "sha256:0", "g-1", {"x": 0.5, "y": 0.5}, None)]
    >>> roots = root_frequencies(Populations.from_observations(obs))
    >>> sim = nei_similarity(roots, "plugin").similarity
    >>> bhattacharyya = (0.75 ** 0.5 + 0.25 ** 0.5) * 0.5 ** 0.5
    >>> round(float(1 - sim[0, 1]), 6) == round(1 - bhattacharyya, 6)
    True
    """
    freq = sp.csr_array(pops.frequencies)
    mass = np.asarray((freq @ pops.gene_indicator()).toarray())
    coo = freq.tocoo()
    with np.errstate(divide="ignore", invalid="ignore"):
        data = np.sqrt(coo.data / mass[coo.row, pops.column_gene[coo.col]])
    zero = np.zeros_like(pops.tail)
    return dataclasses.replace(
        pops,
        frequencies=sp.csr_array((data, (coo.row, coo.col)), shape=freq.shape),
        tail=zero,
        self_pairs=zero,
        sampled=zero,
    )


def distance_of(similarity: FloatMatrix, distance: Distance) -> FloatMatrix:
    """Return the distances of an identity matrix: ``-ln S`` (``nei``) or ``1 - S`` (``da``)."""
    if distance == "nei":
        return nei_distance(similarity)
    out = np.subtract(1.0, similarity)
    np.fill_diagonal(out, 0.0)
    return np.maximum(out, 0.0, out=out)


def nei_distance(similarity: FloatMatrix) -> FloatMatrix:
    """Nei's standard genetic distance ``D = -ln S``, exactly zero on the diagonal."""
    with np.errstate(divide="ignore"):
        distance = np.log(similarity)
    np.negative(distance, out=distance)
    np.fill_diagonal(distance, 0.0)
    return np.maximum(distance, 0.0, out=distance)


def _similarity(pops: Populations, cross: FloatMatrix, j: FloatMatrix) -> Similarity:
    """Kernel, in place: ``cross`` (``n x n``, consumed) becomes the similarity.

    Besides ``cross``, it holds one ``n x n`` float matrix (the within terms, then their products,
    then their square roots) and the ``n x n`` shared gene counts.
    """
    observed = pops.observed
    shared = _shared_genes(observed)
    denominator = np.nan_to_num(j) @ observed.T.astype(np.float64)  # Σ_g J_i(g) over j's genes
    _symmetric_product(denominator)  # W_ij W_ji
    if (
        np.isnan(j).any()
        or any(
            _upper_any(matrix, test)
            for matrix, test in ((shared, _zero), (denominator, _nonpositive))
        )
        or _upper_any(cross, _nonpositive)
    ):
        _check_pairs(pops, shared, cross, denominator, j)
    similarity = cross
    with np.errstate(divide="ignore", invalid="ignore"):  # only the diagonal can be 0/0 here
        np.divide(similarity, np.sqrt(denominator, out=denominator), out=similarity)
    del denominator
    np.fill_diagonal(similarity, 1.0)
    clipped = sum(
        int(np.count_nonzero(np.triu(similarity[rows] > 1.0, k=rows.start + 1)))
        for rows in _row_blocks(len(similarity))
    )
    return Similarity(np.minimum(similarity, 1.0, out=similarity), shared, clipped)


_ROWS = 1024
"""Rows of an ``n x n`` matrix handled at once by the in-place steps of :func:`_similarity`."""


def _row_blocks(n: int) -> list[slice]:
    return [slice(start, min(start + _ROWS, n)) for start in range(0, n, _ROWS)]


def _shared_genes(observed: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Genes each pair of models was both observed on, a block of rows at a time."""
    genes = observed.T.astype(np.float32)  # counts: exact in float32 below 2**24 genes
    shared = np.empty((len(observed), len(observed)), dtype=np.int64)
    for rows in _row_blocks(len(observed)):
        shared[rows] = observed[rows].astype(np.float32) @ genes
    return shared


def _symmetric_product(matrix: FloatMatrix) -> None:
    """Replace ``M`` by ``M * M.T`` in place, a block of rows at a time."""
    for rows in _row_blocks(len(matrix)):
        for cols in _row_blocks(len(matrix)):
            if cols.start < rows.start:
                continue
            product = matrix[rows, cols] * matrix[cols, rows].T
            matrix[rows, cols] = product
            matrix[cols, rows] = product.T


def _zero(block: NDArray[Any]) -> NDArray[np.bool_]:
    return np.asarray(block == 0)


def _nonpositive(block: NDArray[Any]) -> NDArray[np.bool_]:
    return np.asarray(block <= 0)


def _upper_any(matrix: NDArray[Any], test: Callable[..., NDArray[np.bool_]]) -> bool:
    """Whether ``test`` holds anywhere above the diagonal, a block of rows at a time."""
    return any(
        bool(np.triu(test(matrix[rows]), k=rows.start + 1).any())
        for rows in _row_blocks(len(matrix))
    )


def gram(
    matrix: sp.csr_array | sp.csc_array,
    chunk_bytes: int = 256 * 2**20,
    out: FloatMatrix | None = None,
    rows: NDArray[np.int64] | None = None,
) -> FloatMatrix:
    """Dense ``matrix @ matrix.T``, memory-bounded; into ``out`` (``n x n``) when given.

    With ``rows``, only those rows of the product (``matrix[rows] @ matrix.T``).

    Allele matrices are dense in practice (every model writes several alleles on every gene), and
    for them a dense BLAS product over column chunks is 20x faster than a sparse-sparse product;
    truly sparse matrices keep the sparse product.
    """
    n_rows, n_cols = matrix.shape
    if n_rows * n_cols == 0 or matrix.nnz < _DENSE_FROM * n_rows * n_cols:
        picked = matrix if rows is None else sp.csr_array(matrix)[rows]
        product = np.asarray((picked @ matrix.T).toarray(), dtype=np.float64)
        if out is None:
            return product
        out[...] = product
        return out
    step = max(1, chunk_bytes // (8 * max(n_rows, 1)))
    csc = matrix.tocsc()
    for start in range(0, n_cols, step):
        block = csc[:, start : start + step].toarray()
        left = block if rows is None else block[rows]
        if start == 0:  # as 0 + it: products of frequencies are never -0.0
            out = np.matmul(left, block.T, out=out)
        else:
            assert out is not None
            out += left @ block.T
        del block
    assert out is not None
    return out


_DENSE_FROM = 0.01
"""Density from which :func:`gram` uses dense BLAS."""


def _check_pairs(
    pops: Populations,
    shared: NDArray[np.int64],
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
