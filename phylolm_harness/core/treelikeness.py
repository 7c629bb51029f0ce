r"""How well a distance matrix fits a tree: the δ-score and the quartet concordance of each split.

A tree's path lengths satisfy the four-point condition: for any four models, of the three sums
``d(a,b) + d(c,d)``, ``d(a,c) + d(b,d)`` and ``d(a,d) + d(b,c)`` the two largest are equal.
Distances that fit no tree (convergence, merges, noise) break it. The **δ-score** of Holland et al.
[1]_ measures that per quartet: with the sums sorted ``s1 >= s2 >= s3``, ``δ = (s1 - s2) /
(s1 - s3)``, 0 for a tree-like quartet; a matrix's δ is the mean over its quartets, which
Gallagher et al. [2]_ found predicts when trees built from model outputs can be trusted. Around
one branch of the tree, the quartets with one model in each of the four subtrees it joins give
its **quartet concordance** (the share pairing as the branch does, as concordance factors do for
gene trees [3]_) and its **branch δ**. Unlike a bootstrap support, which measures how much the
tree moves when the genes are resampled, both ask the distances themselves.

References
----------
.. [1] B. R. Holland, K. T. Huber, A. Dress, V. Moulton, "δ plots: a tool for analyzing
   phylogenetic distance data", Molecular Biology and Evolution 19 (2002).
.. [2] Gallagher et al., "Weights have traits", on the four-point condition as a test of trees
   of fine-tuned language models built from their outputs.
.. [3] B. Q. Minh, M. W. Hahn, R. Lanfear, "New methods to calculate concordance factors for
   phylogenomic datasets", Molecular Biology and Evolution 37 (2020).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from skbio import TreeNode

from phylolm_harness.core.support import split_matrix

__all__ = [
    "UNTRUSTED_DELTA",
    "BranchQuartets",
    "branch_groups",
    "branch_quartets",
    "WEAK_BRANCH_DELTA",
    "WEAK_CONCORDANCE",
    "WEAK_SUPPORT",
    "TreeFit",
    "TreeLikeness",
    "is_weak",
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


def _deltas(sums: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the δ of each quartet from its three sums (0 where all three are equal)."""
    ordered = np.sort(sums, axis=1)  # s3 <= s2 <= s1
    spread = ordered[:, 2] - ordered[:, 0]
    safe = np.where(spread > 0, spread, 1.0)
    out: NDArray[np.float64] = np.where(spread > 0, (ordered[:, 2] - ordered[:, 1]) / safe, 0.0)
    return out


def _all_quartets(n: int) -> NDArray[np.int64]:
    """Every quartet ``i < j < k < l`` of ``n`` models."""
    flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n), 4)), np.int64)
    return flat.reshape(-1, 4)


def _drawn_quartets(n: int, count: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Draw ``count`` quartets of distinct models uniformly, in ``4 * count`` integers of memory.

    Whatever ``n``: rows with a repeated model are drawn again.
    """
    out = np.empty((0, 4), dtype=np.int64)
    while len(out) < count:
        draw = np.sort(rng.integers(n, size=(count - len(out), 4)), axis=1)
        distinct = (draw[:, 1:] != draw[:, :-1]).all(axis=1)
        out = np.concatenate([out, draw[distinct]])
    return out


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
    total = math.comb(n, 4)
    if total <= max_quartets:
        quartets = _all_quartets(n)
    else:
        quartets = _drawn_quartets(n, max_quartets, np.random.default_rng(seed))
    delta = _deltas(_sums(distances, quartets))
    counts = np.bincount(quartets.ravel(), minlength=n).astype(np.float64)
    sums_of = np.bincount(quartets.ravel(), weights=np.repeat(delta, 4), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_model: NDArray[np.float64] = sums_of / counts
    return TreeLikeness(float(delta.mean()), per_model, len(quartets))


class BranchQuartets(NamedTuple):
    """What the quartets around each branch say (see :func:`branch_quartets`)."""

    concordance: NDArray[np.float64]
    """Share pairing the quartets as the branch does (ties count half)."""
    delta: NDArray[np.float64]
    """Their mean δ: 0 where they fit a tree, whichever way they pair."""


def branch_quartets(
    distances: NDArray[np.float64],
    groups: Sequence[tuple[NDArray[np.intp], ...]],
    seed: int = 0,
    max_quartets: int = SPLIT_QUARTETS,
) -> BranchQuartets:
    """Quartet concordance and δ of the quartets around each branch.

    A branch of an unrooted binary tree joins four subtrees, ``A1`` and ``A2`` on one side,
    ``B1`` and ``B2`` on the other. A quartet of one model from each tests the branch: the
    four-point condition pairs them ``A1 A2 | B1 B2`` (the branch), or in one of the two other
    ways (the trees one nearest-neighbour interchange away). Quartets with two models from one
    subtree say nothing about the branch and are not drawn.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` symmetric, zero diagonal.
    groups : sequence of 4-tuples of index arrays
        ``(A1, A2, B1, B2)`` of each branch (:func:`branch_groups`).
    seed : int
        Seed of the quartets drawn where there are more than ``max_quartets``.
    max_quartets : int
        Most quartets looked at per branch.

    Returns
    -------
    BranchQuartets
        Per branch, the share of its quartets that pair as it does, in ``[0, 1]`` (about 1/3
        when the distances do not favour the branch over its two alternatives), and their mean
        δ-score (the branch's own tree-likeness: a branch inside a group of models that
        converged has quartets that fit no tree).

    Examples
    --------
    >>> tree = np.array([[0, 2, 5, 5], [2, 0, 5, 5], [5, 5, 0, 2], [5, 5, 2, 0.]])
    >>> a, b, c, d = (np.array([i]) for i in range(4))
    >>> branch_quartets(tree, [(a, b, c, d), (a, c, b, d)]).concordance.tolist()
    [1.0, 0.0]
    """
    rng = np.random.default_rng(seed)
    out = np.full(len(groups), np.nan)
    deltas = np.full(len(groups), np.nan)
    for k, four in enumerate(groups):
        sizes = [len(g) for g in four]
        if min(sizes) == 0:
            continue
        if math.prod(sizes) <= max_quartets:
            grids = np.meshgrid(*[np.asarray(g) for g in four], indexing="ij")
            quartets = np.stack([grid.ravel() for grid in grids], axis=1).astype(np.int64)
        else:
            quartets = np.stack(
                [np.asarray(g)[rng.integers(len(g), size=max_quartets)] for g in four], axis=1
            ).astype(np.int64)
        sums = _sums(distances, quartets)
        best = sums[:, 0:1] <= sums[:, 1:]
        strict = sums[:, 0:1] < sums[:, 1:]
        out[k] = float((strict.all(axis=1) + 0.5 * (best.all(axis=1) & ~strict.all(axis=1))).mean())
        deltas[k] = float(_deltas(sums).mean())
    return BranchQuartets(out, deltas)


def branch_groups(
    tree: TreeNode, labels: Sequence[str]
) -> tuple[NDArray[np.bool_], list[tuple[NDArray[np.intp], ...]]]:
    """Return the splits of a tree and the four subtrees around each of their branches.

    Parameters
    ----------
    tree : skbio.TreeNode
        A tree whose tips are exactly ``labels`` (rooted or not: read as unrooted).
    labels : sequence of str
        Tip order.

    Returns
    -------
    splits : ndarray of bool
        ``(k, n)`` as :func:`~phylolm_harness.core.support.split_matrix` gives them.
    groups : list of 4-tuples of index arrays
        ``(A1, A2, B1, B2)`` of each split's branch, in the same order; where a node has more
        than two children (or the root more than three), the extra subtrees join ``A2`` (or
        ``B2``).

    Examples
    --------
    >>> from phylolm_harness.core.tree import from_newick
    >>> splits, groups = branch_groups(from_newick("((a,b),(c,d),e);"), "abcde")
    >>> splits.astype(int).tolist()
    [[0, 0, 1, 1, 0], [0, 0, 1, 1, 1]]
    >>> [[g.tolist() for g in four] for four in groups]
    [[[2], [3], [0, 1], [4]], [[0], [1], [2, 3], [4]]]
    """
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    tips: dict[int, NDArray[np.bool_]] = {}
    for node in tree.postorder(include_self=True):
        mask = np.zeros(n, dtype=bool)
        if node.is_tip():
            mask[index[str(node.name)]] = True
        else:
            for child in node.children:
                mask |= tips[id(child)]
        tips[id(node)] = mask
    everything = np.ones(n, dtype=bool)
    found: dict[bytes, tuple[NDArray[np.intp], ...]] = {}
    for node in tree.non_tips(include_self=True):
        below = [tips[id(c)] for c in node.children]
        if node.parent is None:
            if len(below) < 4:  # a rooted binary root's two branches are one: its children's
                continue
            sides = (below[0], below[1], below[2], np.logical_or.reduce(below[3:]))
        else:
            parent = node.parent
            siblings = [tips[id(c)] for c in parent.children if c is not node]
            above = everything & ~tips[id(parent)]
            if not above.any():  # the parent is the root
                if len(siblings) >= 2:
                    outer = (siblings[0], np.logical_or.reduce(siblings[1:]))
                else:  # a rooted binary tree: the branch runs on to the sibling's children
                    sibling = next(c for c in parent.children if c is not node)
                    if sibling.is_tip():
                        continue
                    inner = [tips[id(c)] for c in sibling.children]
                    outer = (inner[0], np.logical_or.reduce(inner[1:]))
            else:
                outer = (np.logical_or.reduce(siblings), above)
            if len(below) < 2:
                continue
            sides = (below[0], np.logical_or.reduce(below[1:]), *outer)
        split = sides[0] | sides[1]
        if split[0]:
            split = ~split
        if not 1 < split.sum() < n - 1:
            continue
        key = np.packbits(split).tobytes()
        found.setdefault(key, tuple(np.flatnonzero(side) for side in sides))
    reference = split_matrix(tree, labels)
    groups = [found[np.packbits(row).tobytes()] for row in reference]
    return reference, groups


WEAK_SUPPORT = 0.7
"""Splits with less gene-resampling support are weak."""

WEAK_CONCORDANCE = 0.7
"""Splits with a lower quartet concordance are weak."""

WEAK_BRANCH_DELTA = 0.2
"""Splits whose branch's quartets have a higher mean δ are weak: on the lineage benchmark
(``benchmarks/results/lineages.md``) this cut, with the two above, left no wrong clade shown
strong with Nei's distance and one of eleven with ``D_A``."""

UNTRUSTED_DELTA = 0.2
"""Above this δ-score the distances fit no tree well and every split is weak (the tiny test family
is at 0.03 and the demo at 0.17; nested fine-tunes of one model at 0.26 to 0.44 on the lineage
benchmark, held-out lineages included)."""


def is_weak(support: float, concordance: float, branch_delta: float = 0.0) -> bool:
    """Whether a split is weak: low support (when known), low concordance or high branch δ.

    >>> is_weak(0.95, 0.9, 0.05), is_weak(0.5, 0.9), is_weak(float("nan"), 0.4)
    (False, True, True)
    >>> is_weak(0.99, 0.95, 0.35)  # well supported, but its quartets fit no tree
    True
    """
    return bool(
        support < WEAK_SUPPORT or concordance < WEAK_CONCORDANCE or branch_delta > WEAK_BRANCH_DELTA
    )


CONCORDANCE_MAX_MODELS = 2_000
"""Largest tree whose splits get a quartet concordance and a branch δ."""


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
    branch_delta : ndarray of float64
        ``(k,)`` mean δ of the quartets around each split's branch.
    """

    likeness: TreeLikeness
    splits: NDArray[np.bool_]
    concordance: NDArray[np.float64]
    branch_delta: NDArray[np.float64]

    @property
    def untrusted(self) -> bool:
        """Whether the distances fit no tree well (δ above :data:`UNTRUSTED_DELTA`)."""
        return bool(self.likeness.delta > UNTRUSTED_DELTA)

    def weak(self, support: float, concordance: float, branch_delta: float) -> bool:
        """Whether a split is weak: :func:`is_weak`, or every split when :attr:`untrusted`.

        On the lineage benchmark the cuts of :func:`is_weak` still let wrong clades through on
        lineages grown after they were chosen (``benchmarks/results/lineages-held-out.md``),
        while every lineage had a δ above :data:`UNTRUSTED_DELTA` and every family below.
        """
        return self.untrusted or is_weak(support, concordance, branch_delta)

    def lookup(self, labels: Sequence[str]) -> dict[frozenset[str], tuple[float, float]]:
        """Split (named by its side without ``labels[0]``) -> (concordance, branch δ)."""
        names = np.asarray(labels, dtype=object)
        return {
            frozenset(names[row].tolist()): (float(c), float(d))
            for row, c, d in zip(self.splits, self.concordance, self.branch_delta, strict=True)
        }


def tree_fit(
    distances: NDArray[np.float64], tree: TreeNode, labels: Sequence[str], seed: int = 0
) -> TreeFit:
    """δ-score of the distances, and concordance and δ around every branch of their tree.

    ``tree``'s tips are ``labels``, the row order of ``distances``; ``seed`` seeds the quartets
    drawn where there are too many.
    """
    likeness = tree_likeness(distances, seed)
    if len(labels) > CONCORDANCE_MAX_MODELS:
        return TreeFit(likeness, np.zeros((0, len(labels)), dtype=bool), np.zeros(0), np.zeros(0))
    splits, groups = branch_groups(tree, labels)
    around = branch_quartets(distances, groups, seed)
    return TreeFit(likeness, splits, around.concordance, around.delta)
