"""From populations to a phylogeny: similarity, distances, their errors and the tree."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from skbio import TreeNode
from threadpoolctl import threadpool_limits

from phylolm_harness.core.nj import nj_linkage
from phylolm_harness.core.packed import unpack
from phylolm_harness.core.pairs import KnownPairs, cross_products, model_fingerprints
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.resample import GeneBootstrap, RunningSpread, bootstrap_distances
from phylolm_harness.core.similarity import (
    Distance,
    Estimator,
    FloatMatrix,
    distance_of,
    nei_similarity,
    root_frequencies,
)
from phylolm_harness.core.support import SupportCounter, Supports, count_supports
from phylolm_harness.core.tree import MIN_TAXA, Method, MethodChoice, build_tree, method_for
from phylolm_harness.core.treelikeness import TreeFit, tree_fit
from phylolm_harness.errors import InputError


@dataclass(frozen=True, eq=False)
class Phylogeny:
    """Everything ``phylolm-harness tree`` reports about a set of models."""

    populations: Populations
    similarity: NDArray[np.float64]
    distances: NDArray[np.float64]
    standard_errors: NDArray[np.float64]
    """Bootstrap (genes resampled) standard error of each distance; NaN when not computed."""
    shared_genes: NDArray[np.int64]
    clipped: int
    tree: TreeNode | None
    why_no_tree: str
    method: Method
    estimator: Estimator
    supports: Supports | None = None
    """Branch supports of the tree's splits, from the same gene resamples as the errors."""
    resample_note: str = ""
    """Why the resamples were skipped, when they were ("" otherwise)."""
    pairs: KnownPairs | None = None
    """The cross products of the models, kept for a grown tree (see :mod:`.pairs`)."""
    reused: int = 0
    """Models whose cross products came from an earlier result."""
    resampled: int = 0
    """Gene resamples drawn for the errors and supports (0: none, the errors are NaN)."""
    distance: Distance = "nei"
    """What the distances are (:data:`~phylolm_harness.core.similarity.Distance`)."""
    fit: TreeFit | None = None
    """How well the distances fit the tree (δ-score, quartet concordance of each split); ``None``
    without a tree or with fewer than 4 models."""

    @property
    def labels(self) -> tuple[str, ...]:
        """Model labels, in matrix order."""
        return self.populations.models


DEFAULT_RESAMPLES = 100
"""Gene resamples when none are asked for, up to :data:`RESAMPLE_MAX_MODELS` models."""

MAX_RESAMPLES = 10_000
"""Most gene resamples asked for (each costs a tree; 100 give supports to a few percent)."""

RESAMPLE_MAX_MODELS = 1500
"""Most models resampled by default (100 resamples take about 5 s at 1,500 models on 2 cores);
past about 1,800 models the gene blocks of :func:`~phylolm_harness.core.resample.gene_blocks` get
too few."""


def resamples_for(asked: int | None, n_models: int) -> tuple[int, str]:
    """Resamples to draw (``None`` asks for the default) and a note when none are drawn.

    Examples
    --------
    >>> resamples_for(None, 50), resamples_for(7, 5000)
    ((100, ''), (7, ''))
    >>> resamples_for(None, 5000)[1][:40]
    'standard errors and branch supports were'
    """
    if asked is not None:
        return asked, ""
    if n_models <= RESAMPLE_MAX_MODELS:
        return DEFAULT_RESAMPLES, ""
    return 0, (
        f"standard errors and branch supports were not computed: {n_models} models is more than "
        f"{RESAMPLE_MAX_MODELS}, past which the gene blocks that fit in memory become too few "
        "for a faithful bootstrap; ask for them with --resamples K (refused below 20 blocks)"
    )


TREE_THREADS = 2
"""Threads computing resampled distances and Neighbour-Joining trees."""

RESAMPLE_BATCH = 8
"""Resamples whose distances one pass over the gene blocks computes (memory: this many packed
distance matrices per thread, 32 MB at 1,000 models)."""

_Counted = list[tuple[FloatMatrix, FloatMatrix, FloatMatrix] | None]


def _nj_resamples(
    pops: Populations,
    resamples: int,
    seed: int,
    estimator: Estimator,
    counter: SupportCounter,
    spread: RunningSpread,
    distance: Distance,
) -> Supports:
    """Errors and supports from resampled Neighbour-Joining trees, a batch of resamples a task.

    Each task (the distances of :data:`RESAMPLE_BATCH` resamples in one pass over the gene
    blocks, then each one's joins by :func:`~phylolm_harness.core.nj.nj_linkage` and their
    counts) runs compiled without the GIL on one of :data:`TREE_THREADS` threads; the draws are
    made in order beforehand and the results taken in order, so the spread and the supports are
    those of one resample after another (the supports are sums of whole counts anyway).
    """
    bootstrap = GeneBootstrap(pops, resamples, estimator, distance=distance)
    n = len(pops.models)

    def run(drawn: FloatMatrix) -> _Counted:
        packed, defined = bootstrap.packed_distances(drawn)
        counted: _Counted = []
        for distances, ok in zip(packed, defined, strict=True):
            linkage = nj_linkage(unpack(distances, n), overwrite=True) if ok else None
            counted.append(
                None if linkage is None else (distances, *counter.linkage_counts(linkage))
            )
        return counted

    def take(future: Future[_Counted]) -> None:
        for result in future.result():
            if result is not None:
                spread.add_packed(result[0])
                counter.add_counts(result[1], result[2])

    draws = list(bootstrap.draws(seed))
    # One BLAS thread for the small products of each resample: idle BLAS threads spin, and would
    # take the cores the resamples run on.
    with threadpool_limits(1, "blas"), ThreadPoolExecutor(TREE_THREADS) as pool:
        pending: deque[Future[_Counted]] = deque()
        for start in range(0, len(draws), RESAMPLE_BATCH):
            batch = np.array(draws[start : start + RESAMPLE_BATCH])
            pending.append(pool.submit(run, batch))
            if len(pending) > TREE_THREADS:
                take(pending.popleft())
        for future in pending:
            take(future)
    return counter.supports()


def infer_phylogeny(
    pops: Populations,
    method: MethodChoice = "auto",
    estimator: Estimator = "unbiased",
    resamples: int | None = None,
    seed: int = 0,
    known: KnownPairs | None = None,
    keep_pairs: bool = True,
    distance: Distance = "nei",
) -> Phylogeny:
    """Compute similarities, distances and (with 3 models or more) a tree.

    ``distance`` ``nei`` is Nei's standard distance ``-ln S`` of the allele frequencies, as in
    PhyloLM; ``da`` is Nei's ``D_A``, ``1 - S`` of their square roots with the plug-in estimator
    (:func:`~phylolm_harness.core.similarity.root_frequencies`; ``estimator`` is then unused),
    where every gene weighs the same.

    The cross products of models found in ``known`` (an earlier result's) are reused; with
    ``keep_pairs`` they are returned in :attr:`Phylogeny.pairs` for the next one.

    With ``resamples`` > 1 (by default :func:`resamples_for` the number of models), genes are
    resampled that many times (seeded); each resample gives a distance matrix, from which the
    standard errors of the distances come, and a tree, from which the supports of the splits
    come. ``method`` ``auto`` picks the tree-building method by size (:func:`method_for`).
    """
    given = pops
    if distance == "da":
        pops, estimator = root_frequencies(pops), "plugin"
    prints = model_fingerprints(pops) if known is not None or keep_pairs else ()
    cross, reused = cross_products(pops, known, prints)
    pairs = KnownPairs(prints, cross.copy()) if keep_pairs else None
    result = nei_similarity(pops, estimator, cross)
    distances = distance_of(result.similarity, distance)
    n = len(pops.models)
    chosen: Method = method_for(method, n)
    resamples, note = resamples_for(resamples, n)
    tree: TreeNode | None = None
    why = ""
    if n < MIN_TAXA:
        why = f"a tree needs at least {MIN_TAXA} models and {n} were found"
    else:
        try:
            tree = build_tree(distances, pops.models, chosen)
        except InputError as error:
            why = str(error)
    errors: NDArray[np.float64] = np.broadcast_to(np.float64(np.nan), (n, n))  # no memory
    supports = None
    if resamples > 1 and n > 1:
        spread = RunningSpread(n)
        resampled = (
            spread.add(d)
            for d in bootstrap_distances(pops, resamples, seed, estimator, distance=distance)
        )
        if tree is not None and chosen == "nj":
            counter = SupportCounter(tree, pops.models)
            supports = _nj_resamples(pops, resamples, seed, estimator, counter, spread, distance)
        elif tree is not None:
            trees = (build_tree(d, pops.models, chosen, ladderized=False) for d in resampled)
            supports = count_supports(tree, trees, pops.models)
        else:
            for _ in resampled:
                pass
        errors = spread.standard_errors()
    else:
        resamples = 0
    return Phylogeny(
        given,
        result.similarity,
        distances,
        errors,
        result.shared_genes,
        result.clipped,
        tree,
        why,
        chosen,
        estimator,
        supports,
        note,
        pairs,
        reused,
        resamples,
        distance,
        tree_fit(distances, tree, pops.models, seed) if tree is not None and n >= 4 else None,
    )
