"""From populations to a phylogeny: similarity, distances, their errors and the tree."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from skbio import TreeNode

from phylolm_harness.core.populations import Populations
from phylolm_harness.core.similarity import (
    Estimator,
    RunningSpread,
    bootstrap_distances,
    nei_distance,
    nei_similarity,
)
from phylolm_harness.core.support import Supports, count_supports
from phylolm_harness.core.tree import MIN_TAXA, Method, build_tree
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

    @property
    def labels(self) -> tuple[str, ...]:
        """Model labels, in matrix order."""
        return self.populations.models


def infer_phylogeny(
    pops: Populations,
    method: Method = "nj",
    estimator: Estimator = "unbiased",
    resamples: int = 100,
    seed: int = 0,
) -> Phylogeny:
    """Compute similarities, distances and (with 3 models or more) a tree.

    With ``resamples`` > 1, genes are resampled that many times (seeded); each resample gives a
    distance matrix, from which the standard errors of the distances come, and a tree, from which
    the supports of the splits come.
    """
    result = nei_similarity(pops, estimator)
    distances = nei_distance(result.similarity)
    n = len(pops.models)
    tree: TreeNode | None = None
    why = ""
    if n < MIN_TAXA:
        why = f"a tree needs at least {MIN_TAXA} models and {n} were found"
    else:
        try:
            tree = build_tree(distances, pops.models, method)
        except InputError as error:
            why = str(error)
    errors = np.full((n, n), np.nan)
    supports = None
    if resamples > 1 and n > 1:
        spread = RunningSpread(n)
        resampled = (spread.add(d) for d in bootstrap_distances(pops, resamples, seed, estimator))
        if tree is not None:
            trees = (build_tree(d, pops.models, method) for d in resampled)
            supports = count_supports(tree, trees, pops.models)
        else:
            for _ in resampled:
                pass
        errors = spread.standard_errors()
    return Phylogeny(
        pops,
        result.similarity,
        distances,
        errors,
        result.shared_genes,
        result.clipped,
        tree,
        why,
        method,
        estimator,
        supports,
    )
