r"""How well a distance matrix fits a tree: the δ-score and the quartet concordance of each split.

A tree's path lengths satisfy the four-point condition: for any four models, of the three sums
``d(a,b) + d(c,d)``, ``d(a,c) + d(b,d)`` and ``d(a,d) + d(b,c)`` the two largest are equal.
Distances that fit no tree (convergence, reticulation such as merges, noise) break it. Two
measures follow:

- the **δ-score** of Holland et al. (2002) [1]_: for each quartet, with the sums sorted
  ``s1 >= s2 >= s3``, ``δ = (s1 - s2) / (s1 - s3)``; 0 for a tree-like quartet, 1 for a star
  that fits no tree. The matrix's δ is the mean over quartets, each model's the mean over the
  quartets that hold it. Gallagher et al. (2025) [2]_ found it predicts when trees built from
  model outputs can be trusted.
- the **quartet concordance** of a split ``A | B`` of the tree: the share of quartets with two
  models on each side whose smallest sum pairs them as the split does. 1 when every quartet
  agrees, about 1/3 when the split is arbitrary. Unlike a bootstrap support, which measures how
  much the tree moves when the genes are resampled, it asks the distances themselves.

References
----------
.. [1] B. R. Holland, K. T. Huber, A. Dress, V. Moulton, "δ plots: a tool for analyzing
   phylogenetic distance data", Molecular Biology and Evolution 19 (2002).
.. [2] Gallagher et al., "Weights have traits", on the four-point condition as a test of trees
   of fine-tuned language models built from their outputs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
from numpy.typing import NDArray
from skbio import TreeNode

from phylolm_harness.core.support import split_matrix

__all__ = [
    "UNTRUSTED_DELTA",
    "WEAK_CONCORDANCE",
    "WEAK_SUPPORT",
    "TreeFit",
    "TreeLikeness",
    "is_weak",
    "quartet_concordance",
    "tree_fit",
    "tree_likeness",
]

MAX_QUARTETS = 200_000
"""Quartets drawn at random (seeded) when there are more; all of them otherwise."""

SPLIT_QUARTETS = 2_000
"""Quartets drawn for each split's concordance when it has more."""


@dataclass(frozen=True)
class TreeLikeness:
    """The δ-score of a distance matrix, overall and per model.

    Attributes
    ----------
    delta : float
        Mean δ over the quartets (0: the distances fit a tree, stars included; NaN with fewer
        than 4 models).
    per_model : ndarray
        Mean δ of the quartets holding each model.
    quartets : int
        Quartets the means are over (all of them, or :data:`MAX_QUARTETS` drawn).
    """

    delta: float
    per_model: NDArray[np.float64]
    quartets: int


def _sums(d: NDArray[np.float64], q: NDArray[np.int64]) -> NDArray[np.float64]:
    """Return the sums of each quartet's three pairings ``(a, b, c, d)``: ab|cd, ac|bd, ad|bc."""
    a, b, c, e = q.T
    return np.stack([d[a, b] + d[c, e], d[a, c] + d[b, e], d[a, e] + d[b, c]], axis=1)


def _all_quartets(n: int) -> NDArray[np.int64]:
    """Every quartet ``i < j < k < l`` of ``n`` models."""
    flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n), 4)), np.int64)
    return flat.reshape(-1, 4)


def tree_likeness(
    distances: NDArray[np.float64], seed: int = 0, max_quartets: int = MAX_QUARTETS
) -> TreeLikeness:
    """δ-score of a distance matrix (see the module's description).

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` symmetric, zero diagonal.
    seed : int
        Seed of the quartets drawn when there are more than ``max_quartets``.
    max_quartets : int
        Most quartets looked at.

    Returns
    -------
    TreeLikeness

    Examples
    --------
    Path lengths on the tree ``((a,b),(c,d))`` fit it exactly; four models on a cycle, each
    at 1 from its two neighbours and 2 from the opposite one, fit no tree:

    >>> tree = np.array([[0, 2, 5, 5], [2, 0, 5, 5], [5, 5, 0, 2], [5, 5, 2, 0.]])
    >>> cycle = np.array([[0, 1, 2, 1], [1, 0, 1, 2], [2, 1, 0, 1], [1, 2, 1, 0.]])
    >>> tree_likeness(tree).delta, tree_likeness(cycle).delta
    (0.0, 1.0)
    """
    n = len(distances)
    if n < 4:
        return TreeLikeness(float("nan"), np.full(n, np.nan), 0)
    total = comb(n, 4)
    if total <= max_quartets:
        quartets = _all_quartets(n)
    else:
        rng = np.random.default_rng(seed)
        keys = rng.random((max_quartets, n)).argpartition(4, axis=1)[:, :4]
        quartets = np.sort(keys, axis=1).astype(np.int64)
    sums = np.sort(_sums(distances, quartets), axis=1)  # s3 <= s2 <= s1
    spread = sums[:, 2] - sums[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(spread > 0, (sums[:, 2] - sums[:, 1]) / spread, 0.0)
    counts = np.bincount(quartets.ravel(), minlength=n).astype(np.float64)
    sums_of = np.bincount(quartets.ravel(), weights=np.repeat(delta, 4), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_model: NDArray[np.float64] = sums_of / counts
    return TreeLikeness(float(delta.mean()), per_model, len(quartets))


def quartet_concordance(
    distances: NDArray[np.float64],
    sides: Sequence[NDArray[np.bool_]],
    seed: int = 0,
    max_quartets: int = SPLIT_QUARTETS,
) -> NDArray[np.float64]:
    """Share of quartets across each split whose distances pair them as the split does.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` symmetric, zero diagonal.
    sides : sequence of ndarray of bool
        Each split as the mask of one of its sides (each side needs 2 models or more).
    seed : int
        Seed of the quartets drawn for splits with more than ``max_quartets``.
    max_quartets : int
        Most quartets looked at per split.

    Returns
    -------
    ndarray
        One share per split, in ``[0, 1]`` (ties count half); NaN where a side has fewer
        than 2 models.

    Examples
    --------
    >>> tree = np.array([[0, 2, 5, 5], [2, 0, 5, 5], [5, 5, 0, 2], [5, 5, 2, 0.]])
    >>> quartet_concordance(tree, [np.array([True, True, False, False]),
    ...                            np.array([True, False, True, False])]).tolist()
    [1.0, 0.0]
    """
    rng = np.random.default_rng(seed)
    out = np.full(len(sides), np.nan)
    for k, side in enumerate(sides):
        inside, outside = np.flatnonzero(side), np.flatnonzero(~side)
        if len(inside) < 2 or len(outside) < 2:
            continue
        left, right = _pairs(inside, rng, max_quartets), _pairs(outside, rng, max_quartets)
        if len(left) * len(right) <= max_quartets:
            li, ri = np.meshgrid(np.arange(len(left)), np.arange(len(right)), indexing="ij")
            quartets = np.concatenate([left[li.ravel()], right[ri.ravel()]], axis=1)
        else:
            quartets = np.concatenate(
                [left[rng.integers(len(left), size=max_quartets)],
                 right[rng.integers(len(right), size=max_quartets)]], axis=1,
            )  # fmt: skip
        sums = _sums(distances, quartets)
        best = sums[:, 0:1] <= sums[:, 1:]
        strict = sums[:, 0:1] < sums[:, 1:]
        out[k] = float((strict.all(axis=1) + 0.5 * (best.all(axis=1) & ~strict.all(axis=1))).mean())
    return out


def _pairs(members: NDArray[np.intp], rng: np.random.Generator, most: int) -> NDArray[np.int64]:
    """Pairs of distinct members: all of them, or ``most`` drawn."""
    m = len(members)
    if m * (m - 1) // 2 <= most:
        i, j = np.triu_indices(m, 1)
    else:
        i = rng.integers(m, size=most)
        j = (i + 1 + rng.integers(m - 1, size=most)) % m
    return np.stack([members[i], members[j]], axis=1).astype(np.int64)


WEAK_SUPPORT = 0.7
"""Splits with less gene-resampling support are weak."""

WEAK_CONCORDANCE = 0.6
"""Splits with a lower quartet concordance are weak."""

UNTRUSTED_DELTA = 0.3
"""Above this δ-score the report says the tree shows families, not lineages."""


def is_weak(support: float, concordance: float) -> bool:
    """Whether a split is weak: low support (when known) or low quartet concordance.

    >>> is_weak(0.95, 0.9), is_weak(0.5, 0.9), is_weak(float("nan"), 0.4)
    (False, True, True)
    """
    return bool(support < WEAK_SUPPORT or concordance < WEAK_CONCORDANCE)


CONCORDANCE_MAX_MODELS = 2_000
"""Largest tree whose every split gets a quartet concordance (each costs up to
:data:`SPLIT_QUARTETS` quartets)."""


@dataclass(frozen=True, eq=False)
class TreeFit:
    """How well the distances fit the tree built from them.

    Attributes
    ----------
    likeness : TreeLikeness
        The δ-score of the distances.
    splits : ndarray of bool
        ``(k, n)`` the tree's splits (:func:`~phylolm_harness.core.support.split_matrix`); empty
        past :data:`CONCORDANCE_MAX_MODELS` models.
    concordance : ndarray of float64
        ``(k,)`` quartet concordance of each split.
    """

    likeness: TreeLikeness
    splits: NDArray[np.bool_]
    concordance: NDArray[np.float64]

    def lookup(self, labels: Sequence[str]) -> dict[frozenset[str], float]:
        """Split (named by its side without ``labels[0]``) -> quartet concordance."""
        names = np.asarray(labels, dtype=object)
        return {
            frozenset(names[row].tolist()): float(c)
            for row, c in zip(self.splits, self.concordance, strict=True)
        }


def tree_fit(
    distances: NDArray[np.float64], tree: TreeNode, labels: Sequence[str], seed: int = 0
) -> TreeFit:
    """δ-score of the distances and quartet concordance of every split of their tree.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` distances the tree was built from, rows in ``labels`` order.
    tree : skbio.TreeNode
        The tree, whose tips are ``labels``.
    labels : sequence of str
        Model labels.
    seed : int
        Seed of the quartets drawn where there are too many.

    Returns
    -------
    TreeFit
    """
    likeness = tree_likeness(distances, seed)
    if len(labels) > CONCORDANCE_MAX_MODELS:
        return TreeFit(likeness, np.zeros((0, len(labels)), dtype=bool), np.zeros(0))
    splits = split_matrix(tree, labels)
    return TreeFit(likeness, splits, quartet_concordance(distances, list(splits), seed))
