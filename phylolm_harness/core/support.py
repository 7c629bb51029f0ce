"""Branch support: how often the genes, resampled, give back each split of a tree.

The classic (Felsenstein) bootstrap support of a split is the share of trees built on resampled
genes that contain it. The transfer bootstrap (Lemoine et al., Nature 2018) counts how many tips
must move for the closest branch of each resampled tree to match the split; it stays informative
on large trees, where the classic support of deep splits falls towards 0 for one misplaced tip.

Splits are boolean rows over the tips, in a fixed label order, oriented so the first label is
never on the marked side. A tree's splits are computed once into a matrix, so comparing trees is
array work rather than set work.

References
----------
.. [1] J. Felsenstein, "Confidence limits on phylogenies: an approach using the bootstrap",
   Evolution 39 (1985).
.. [2] F. Lemoine et al., "Renewing Felsenstein's phylogenetic bootstrap in the era of big data",
   Nature 556 (2018).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from skbio import TreeNode

from phylolm_harness.core.linkage import linkage_counts

BoolMatrix = NDArray[np.bool_]


def split_matrix(tree: TreeNode, labels: Sequence[str]) -> BoolMatrix:
    """Non-trivial splits of a tree read as unrooted: ``(k, n)`` rows, unique, sorted.

    Parameters
    ----------
    tree : skbio.TreeNode
        A tree whose tips are exactly ``labels``.
    labels : sequence of str
        Tip order of the columns; the side holding ``labels[0]`` is the unmarked one.

    Returns
    -------
    ndarray of bool
        One row per split with at least 2 tips on each side.

    Examples
    --------
    >>> from phylolm_harness.core.tree import from_newick
    >>> split_matrix(from_newick("((a,b),(c,d),e);"), ["a", "b", "c", "d", "e"]).astype(int)
    array([[0, 0, 1, 1, 0],
           [0, 0, 1, 1, 1]])
    """
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    below: dict[int, NDArray[np.bool_]] = {}
    rows = []
    for node in tree.postorder(include_self=True):
        if node.is_tip():
            side = np.zeros(n, dtype=bool)
            side[index[str(node.name)]] = True
        else:
            side = np.logical_or.reduce([below.pop(id(child)) for child in node.children])
        below[id(node)] = side
        if node.parent is not None and not node.is_tip():
            rows.append(side)
    if not rows:
        return np.zeros((0, n), dtype=bool)
    out: BoolMatrix = np.asarray(rows, dtype=bool)
    out[out[:, 0]] = ~out[out[:, 0]]
    size = out.sum(axis=1)
    out = out[(size > 1) & (size < n - 1)]
    if not len(out):
        return out
    # unique rows, sorted: on the packed bytes, far cheaper than np.unique(axis=0) on booleans
    packed = np.packbits(out, axis=1)
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    unique: BoolMatrix = out[first]
    return unique


@dataclass(frozen=True, eq=False)
class Supports:
    """Supports of the splits of a reference tree.

    Attributes
    ----------
    labels : tuple of str
        Column order of :attr:`splits`.
    splits : ndarray of bool
        ``(k, n)`` splits of the reference tree (see :func:`split_matrix`).
    bootstrap : ndarray of float64
        ``(k,)`` share of resampled trees containing each split (0 to 1).
    transfer : ndarray of float64
        ``(k,)`` transfer bootstrap support of each split (0 to 1).
    resamples : int
        Number of resampled trees the supports were counted over.
    """

    labels: tuple[str, ...]
    splits: BoolMatrix
    bootstrap: NDArray[np.float64]
    transfer: NDArray[np.float64]
    resamples: int

    def side_of(self, tips: Iterable[str]) -> frozenset[str]:
        """Name the split a set of tips makes by its side without the first label."""
        side = frozenset(tips)
        return frozenset(self.labels) - side if self.labels[0] in side else side

    def lookup(self) -> dict[frozenset[str], tuple[float, float]]:
        """Split (see :meth:`side_of`) -> (bootstrap, transfer) supports."""
        names = np.asarray(self.labels, dtype=object)
        return {
            frozenset(names[row].tolist()): (float(b), float(t))
            for row, b, t in zip(self.splits, self.bootstrap, self.transfer, strict=True)
        }


class SupportCounter:
    """Running classic and transfer supports of the splits of a reference tree.

    Resampled trees are added as tree objects (:meth:`add_tree`) or, for Neighbour-Joining, as
    the per-tree counts of :func:`~phylolm_harness.core.linkage.linkage_counts`
    (:meth:`linkage_counts` then :meth:`add_counts`, which may run on other threads: the counts
    are whole numbers, so their order does not change the sums).

    Parameters
    ----------
    reference : skbio.TreeNode
        The tree built on all genes.
    labels : sequence of str
        Tip order.
    """

    def __init__(self, reference: TreeNode, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        self.splits = split_matrix(reference, labels)
        n = len(labels)
        self.hits = np.zeros(len(self.splits))
        self.transfer_sum = np.zeros(len(self.splits))
        self.count = 0
        self._keys = {row.tobytes(): i for i, row in enumerate(np.packbits(self.splits, axis=1))}
        self._splits_f = self.splits.astype(np.float32)
        self._sizes = self.splits.sum(axis=1, dtype=np.int64)
        # Transfer distance to a single-tip split {i}: |side ^ {i}| = |side| + 1 - 2 side_i.
        to_tip = self._sizes[:, None] + 1 - 2 * self.splits.astype(np.int64)
        self._nearest_tip = (
            np.minimum(to_tip, n - to_tip).min(axis=1) if n else np.zeros(len(self.splits), int)
        )
        self._members = np.ascontiguousarray(self.splits.T, dtype=np.int32)

    def linkage_counts(
        self, linkage: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return the counts of one tree given as its joins (thread-safe; see the class)."""
        return linkage_counts(linkage, self._members, self._sizes, self._nearest_tip)

    def add_counts(self, found: NDArray[np.float64], transfer: NDArray[np.float64]) -> None:
        """Account for one resampled tree's counts."""
        self.count += 1
        self.hits += found
        self.transfer_sum += transfer

    def add_tree(self, tree: TreeNode) -> None:
        """Account for one resampled tree on the same tips."""
        n = len(self.labels)
        other = split_matrix(tree, self.labels)
        found = np.zeros(len(self.splits))
        for packed in np.packbits(other, axis=1):
            i = self._keys.get(packed.tobytes())
            if i is not None:
                found[i] = 1.0
        best = self._nearest_tip.astype(np.float64)
        if len(other):
            # counts of tips: exact in float32 up to 2**24 tips, at half the cost of float64
            other_f = other.astype(np.float32)
            # |A xor B| = |A| + |B| - 2 |A and B|: one product
            both = (self._splits_f @ other_f.T).astype(np.float64)
            xor = self._sizes[:, None] + other_f.sum(axis=1, dtype=np.float64)[None, :] - 2 * both
            best = np.minimum(np.minimum(xor, n - xor).min(axis=1), best)
        self.add_counts(found, best)

    def supports(self) -> Supports:
        """Supports over the trees added so far (NaN when none was)."""
        if self.count == 0:
            nan = np.full(len(self.splits), np.nan)
            return Supports(self.labels, self.splits, nan, nan.copy(), 0)
        n = len(self.labels)
        smaller = np.minimum(self._sizes, n - self._sizes).astype(np.float64)
        transfer = 1.0 - (self.transfer_sum / self.count) / np.maximum(smaller - 1.0, 1.0)
        return Supports(
            self.labels,
            self.splits,
            self.hits / self.count,
            np.clip(transfer, 0.0, 1.0),
            self.count,
        )


def count_supports(
    reference: TreeNode, resampled: Iterable[TreeNode], labels: Sequence[str]
) -> Supports:
    """Count the classic and transfer supports of every split of ``reference``.

    Parameters
    ----------
    reference : skbio.TreeNode
        The tree built on all genes.
    resampled : iterable of skbio.TreeNode
        Trees built on resampled genes, on the same tips; consumed once.
    labels : sequence of str
        Tip order.

    Returns
    -------
    Supports
        Supports are NaN when no resampled tree was given.
    """
    counter = SupportCounter(reference, labels)
    for tree in resampled:
        counter.add_tree(tree)
    return counter.supports()


def well_supported(supports: Supports, threshold: float) -> set[frozenset[str]]:
    """Return the splits whose classic bootstrap support is at least ``threshold``."""
    return {side for side, (b, _) in supports.lookup().items() if b >= threshold}
