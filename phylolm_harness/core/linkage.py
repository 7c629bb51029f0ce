"""A resampled tree's contribution to branch supports, straight from its Neighbour-Joining joins.

:func:`~phylolm_harness.core.nj.nj_linkage` gives a tree as its joins; every cluster it forms
before the last three is one internal branch of the unrooted tree, splitting its tips from the
others. For each split ``A`` of the reference tree, the number of tips ``A`` shares with each
cluster follows from the cluster's two parts (a sum of two columns), so the transfer distance
``min(|A xor B|, n - |A xor B|)`` of every pair of splits takes ``k`` additions a cluster: no tree
objects, no split matrices, no products of them. Splits equal when that distance is 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray


def linkage_counts(
    linkage: NDArray[np.float64],
    members: NDArray[np.int32],
    sizes: NDArray[np.int64],
    nearest_tip: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Which reference splits a resampled tree has, and how far it is from the others.

    Parameters
    ----------
    linkage : ndarray
        ``(n - 1, 4)`` joins of the resampled tree (:func:`~phylolm_harness.core.nj.nj_linkage`).
    members : ndarray of int32
        ``(n, k)``: 1 where tip ``i`` is on the marked side of reference split ``a``.
    sizes : ndarray of int64
        ``(k,)`` tips on the marked side of each reference split.
    nearest_tip : ndarray of int64
        ``(k,)`` transfer distance of each reference split to the closest single-tip split.

    Returns
    -------
    found : ndarray
        ``(k,)`` 1.0 where the resampled tree has the split, else 0.0.
    transfer : ndarray
        ``(k,)`` transfer distance to the closest branch of the resampled tree (tips included).

    Examples
    --------
    Splits ``{c, d}`` and ``{c, d, e}`` of ``((a,b),(c,d),e)`` against the tree joining
    ``(a, b)``, then ``(d, e)``:

    >>> linkage = np.array([[0, 1, 1, 1], [3, 4, 1, 1], [2, 6, 1, 1], [5, 7, 1, 0]], float)
    >>> members = np.array([[0, 0], [0, 0], [1, 1], [1, 1], [0, 1]], np.int32)
    >>> linkage_counts(linkage, members, np.array([2, 3]), np.array([1, 2]))
    (array([0., 1.]), array([1., 0.]))
    """
    return _counts(linkage, members, sizes, nearest_tip)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _counts(linkage: Any, members: Any, sizes: Any, nearest_tip: Any) -> Any:
    n, k = members.shape
    inner = max(n - 3, 0)  # clusters before the last three: the internal branches
    shared = np.empty((max(inner, 1), k), dtype=np.int32)  # tips in common with each split
    size = np.ones(n + inner, dtype=np.int64)
    best = nearest_tip.astype(np.float64)
    found = np.zeros(k)
    for r in range(inner):
        left, right = np.int64(linkage[r, 0]), np.int64(linkage[r, 1])
        size[n + r] = size[left] + size[right]
        one = members[left] if left < n else shared[left - n]
        two = members[right] if right < n else shared[right - n]
        for a in range(k):
            shared[r, a] = one[a] + two[a]
            xor = sizes[a] + size[n + r] - 2 * shared[r, a]
            if xor == 0 or xor == n:
                found[a] = 1.0
            best[a] = min(best[a], min(xor, n - xor))
    return found, best
