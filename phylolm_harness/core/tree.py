"""Trees from distance matrices (scikit-bio), ladderized for reading."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from skbio import DistanceMatrix, TreeNode
from skbio.tree import nj, upgma

from phylolm_harness.core.support import Supports
from phylolm_harness.errors import InputError

Method = Literal["nj", "upgma"]
MIN_TAXA = 3
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+")


def build_tree(
    distances: NDArray[np.float64], labels: Sequence[str], method: Method = "nj"
) -> TreeNode:
    """Build a tree from a distance matrix.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` symmetric, non-negative, finite, zero diagonal.
    labels : sequence of str
        Unique tip names.
    method : {"nj", "upgma"}
        Neighbour-Joining (unrooted, as in PhyloLM) or UPGMA (rooted, ultrametric).

    Returns
    -------
    skbio.TreeNode
        Ladderized tree; NJ trees are rooted at their midpoint for drawing only.

    Raises
    ------
    InputError
        Fewer than 3 models, or a matrix that is not a valid distance matrix.
    """
    if len(labels) < MIN_TAXA:
        raise InputError(f"a tree needs at least {MIN_TAXA} models, got {len(labels)}")
    if len(set(labels)) != len(labels):
        raise InputError("model labels must be unique")
    if not np.all(np.isfinite(distances)) or np.any(distances < 0):
        raise InputError("distances must be finite and non-negative")
    matrix = DistanceMatrix(distances, ids=list(labels))
    tree = nj(matrix) if method == "nj" else upgma(matrix)
    return ladderize(tree)


def ladderize(tree: TreeNode) -> TreeNode:
    """Sort every node's children by tip count (smaller clades first), then by name; in place."""
    for node in tree.postorder(include_self=True):
        if node.children:
            node.children.sort(key=lambda child: (child.count(tips=True), _first_tip(child)))
    return tree


def to_newick(tree: TreeNode, supports: Supports | None = None) -> str:
    """Serialise a tree to Newick, one line ending in a newline.

    Names other than letters, digits, ``.``, ``-`` and ``_`` are single-quoted, so every label
    reads back unchanged with :func:`from_newick`; underscores are never turned into spaces.
    With ``supports``, every internal branch is labelled with its bootstrap support in percent
    (the convention FigTree, iTOL and ete read).
    """
    labels: dict[int, str] = {}
    if supports is not None:
        found = supports.lookup()
        for node in tree.non_tips():
            support = found.get(supports.side_of(str(t.name) for t in node.tips()))
            if support is not None and np.isfinite(support[0]):
                labels[id(node)] = f"{100 * support[0]:.0f}"
    return _newick(tree, labels) + ";\n"


def _newick(node: TreeNode, labels: dict[int, str]) -> str:
    text = (
        "(" + ",".join(_newick(child, labels) for child in node.children) + ")"
        if node.children
        else ""
    )
    if id(node) in labels:
        text += labels[id(node)]
    elif node.name is not None:
        text += _quote(str(node.name))
    if node.length is not None:
        text += f":{node.length:.10g}"
    return text


def _quote(name: str) -> str:
    if _PLAIN_NAME.fullmatch(name):
        return name
    return "'" + name.replace("'", "''") + "'"


def from_newick(text: str) -> TreeNode:
    """Parse Newick, keeping underscores in names as they are."""
    return TreeNode.read(io.StringIO(text), format="newick", convert_underscores=False)


def splits(tree: TreeNode) -> frozenset[frozenset[str]]:
    """Non-trivial splits of a tree read as unrooted, each as the side without the first tip.

    A split is the bipartition of the tips made by cutting one internal branch; splits with a
    single tip on one side are left out. The side not holding the alphabetically first tip
    names it, so two trees on the same tips can be compared with set operations.

    Examples
    --------
    The split ``{a, b} | {c, d, e}`` is named by its side without ``a``:

    >>> sorted(sorted(s) for s in splits(from_newick("((a,b),(c,d),e);")))
    [['c', 'd'], ['c', 'd', 'e']]
    """
    tips = frozenset(str(t.name) for t in tree.tips())
    anchor = min(tips)
    out: set[frozenset[str]] = set()
    for node in tree.non_tips(include_self=True):
        side = frozenset(str(t.name) for t in node.tips())
        if anchor in side:
            side = tips - side
        if 1 < len(side) < len(tips) - 1:
            out.add(side)
    return frozenset(out)


def robinson_foulds(a: TreeNode, b: TreeNode) -> float:
    """Unrooted Robinson–Foulds distance between two trees on the same tips, as a proportion.

    The number of splits found in one tree only, divided by the number of splits of both.
    """
    mine, theirs = splits(a), splits(b)
    total = len(mine) + len(theirs)
    return len(mine ^ theirs) / total if total else 0.0


def _first_tip(node: TreeNode) -> str:
    return str(min(tip.name for tip in node.tips(include_self=True)))
