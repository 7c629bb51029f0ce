"""Model families when none are given: clades of the UPGMA tree of the distances."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

__all__ = ["families_from_tree"]


def families_from_tree(
    distances: NDArray[np.float64], labels: Sequence[str], n_families: int | None = None
) -> dict[str, str]:
    """Families as clades of the UPGMA tree of the distances.

    The average-linkage (UPGMA) tree is cut into ``n_families`` clusters; by default
    ``max(2, round(sqrt(n)))``, a common rule of thumb when no family list is given.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` symmetric distances, zero diagonal.
    labels : sequence of str
        Model names.
    n_families : int, optional
        Number of clusters.

    Returns
    -------
    dict
        Model -> family name (``"clade-1"``, ``"clade-2"``, ...; numbered by first member).

    Examples
    --------
    >>> d = np.array([[0, .1, 2, 2], [.1, 0, 2, 2], [2, 2, 0, .1], [2, 2, .1, 0]])
    >>> families_from_tree(d, ["a", "b", "c", "d"], 2)
    {'a': 'clade-1', 'b': 'clade-1', 'c': 'clade-2', 'd': 'clade-2'}
    """
    d = np.asarray(distances, dtype=np.float64)
    n = len(labels)
    if n < 2:
        return {label: "clade-1" for label in labels}
    k = max(2, round(math.sqrt(n))) if n_families is None else n_families
    tree = linkage(squareform(d, checks=False), method="average")
    raw = fcluster(tree, t=min(k, n), criterion="maxclust")
    renumber: dict[int, int] = {}
    for c in raw:
        renumber.setdefault(int(c), len(renumber) + 1)
    return {label: f"clade-{renumber[int(c)]}" for label, c in zip(labels, raw, strict=True)}
