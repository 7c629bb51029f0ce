"""Trees from distance matrices (scikit-bio), ladderized for reading."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from skbio import DistanceMatrix, TreeNode
from skbio.tree import bme, upgma

from phylolm_harness.core.nj import nj_linkage
from phylolm_harness.core.support import Supports
from phylolm_harness.errors import InputError

Method = Literal["nj", "upgma", "bme"]
"""A tree-building method: Neighbour-Joining, UPGMA or balanced minimum evolution."""
MethodChoice = Literal["auto", "nj", "upgma", "bme"]
"""What a user asks for: ``auto`` is :func:`method_for` the number of models."""
MIN_TAXA = 3
NJ_MAX_TAXA = 20_000
"""Largest tree ``auto`` builds with Neighbour-Joining; larger ones use balanced minimum evolution.
:func:`~phylolm_harness.core.nj.nj_linkage` (scikit-bio's joins, found with rapid NJ's bound) took
6 s at 10,000 synthetic models and 29 s at 20,000 on 2 cores, where scikit-bio's ``bme`` took 64 s
at 10,000 (its insertions slow down on deep trees of families)."""
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+")


def method_for(choice: MethodChoice, n_models: int) -> Method:
    """Resolve ``auto``: Neighbour-Joining up to :data:`NJ_MAX_TAXA` models, else ``bme``.

    Examples
    --------
    >>> method_for("auto", 100), method_for("auto", 50_000), method_for("upgma", 5000)
    ('nj', 'bme', 'upgma')
    """
    if choice != "auto":
        return choice
    return "nj" if n_models <= NJ_MAX_TAXA else "bme"


def build_tree(
    distances: NDArray[np.float64],
    labels: Sequence[str],
    method: Method = "nj",
    *,
    ladderized: bool = True,
) -> TreeNode:
    """Build a tree from a distance matrix.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` symmetric, non-negative, finite, zero diagonal.
    labels : sequence of str
        Unique tip names.
    method : {"nj", "upgma", "bme"}
        Neighbour-Joining (unrooted, as in PhyloLM), UPGMA (rooted, ultrametric) or
        scikit-bio's balanced minimum evolution (unrooted, O(n²) memory, far faster than
        Neighbour-Joining on thousands of models, and the same tree on additive distances).
    ladderized : bool
        Sort the children for reading (trees only compared by their splits need not be).

    Returns
    -------
    skbio.TreeNode
        Ladderized tree; unrooted trees are rooted at their midpoint for drawing only.

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
    matrix = DistanceMatrix(distances, ids=list(labels))  # checks symmetry
    if method == "nj":
        tree = tree_of_linkage(nj_linkage(matrix.data), labels)
    else:
        tree = {"upgma": upgma, "bme": bme}[method](matrix)
    return ladderize(tree) if ladderized else tree


def tree_of_linkage(linkage: NDArray[np.float64], labels: Sequence[str]) -> TreeNode:
    """Build the unrooted tree of Neighbour-Joining joins as scikit-bio's ``nj`` does.

    Negative branch lengths become 0 (``-0.0`` stays, as there); the last three clusters hang
    from the root.

    Examples
    --------
    >>> d = np.array([[0, 5, 9, 9, 8], [5, 0, 10, 10, 9], [9, 10, 0, 8, 7],
    ...               [9, 10, 8, 0, 3], [8, 9, 7, 3, 0]], dtype=float)
    >>> print(to_newick(ladderize(tree_of_linkage(nj_linkage(d), list("abcde")))), end="")
    (d:2,e:1,(c:4,(a:2,b:3):3):2);
    """
    n = len(labels)
    nodes = [TreeNode(name=label) for label in labels] + [TreeNode() for _ in range(n - 1)]
    for r, (one, two, l_one, l_two) in enumerate(linkage[:-2]):
        for child, length in ((one, l_one), (two, l_two)):
            nodes[int(child)].length = length if length >= 0 else 0.0
        nodes[n + r].extend([nodes[int(one)], nodes[int(two)]], uncache=False)
    (zero, _, l_zero, _), (one, two, l_one, l_two) = linkage[-1], linkage[-2]
    for child, length in ((zero, l_zero), (one, l_one), (two, l_two)):
        nodes[int(child)].length = length if length >= 0 else 0.0
    nodes[-1].extend([nodes[int(zero)], nodes[int(one)], nodes[int(two)]], uncache=False)
    return nodes[-1]


def ladderize(tree: TreeNode) -> TreeNode:
    """Sort every node's children by tip count (smaller clades first), then by name; in place.

    Tip counts and first names are gathered in one pass from the tips up, so this takes time
    linear in the size of the tree.
    """
    size: dict[int, int] = {}
    first: dict[int, str] = {}
    for node in tree.postorder(include_self=True):
        if node.children:
            node.children.sort(key=lambda child: (size[id(child)], first[id(child)]))
            size[id(node)] = sum(size[id(child)] for child in node.children)
            first[id(node)] = min(first[id(child)] for child in node.children)
        else:
            size[id(node)] = 1
            first[id(node)] = str(node.name)
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


def _newick(root: TreeNode, labels: dict[int, str]) -> str:
    """Newick text of a subtree, built from the tips up (no recursion: trees can be deep)."""
    text: dict[int, str] = {}
    for node in root.postorder(include_self=True):
        out = "(" + ",".join(text.pop(id(c)) for c in node.children) + ")" if node.children else ""
        if id(node) in labels:
            out += labels[id(node)]
        elif node.name is not None:
            out += _quote(str(node.name))
        if node.length is not None:
            out += f":{node.length:.10g}"
        text[id(node)] = out
    return text[id(root)]


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
