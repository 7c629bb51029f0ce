"""The interactive tree (``tree.html``): one self-contained page, usable at 10,000 models.

The page carries its own style sheet and script (``tree_page.html`` and ``tree_page.js`` next to
this module) and its data, as JSON in a ``<script type="application/json">`` element; it loads
nothing else, so it works from ``file://`` without a network. The tree is drawn on a canvas, in
rows: only the rows in view are drawn, so scrolling and zooming cost the same at 10 or 10,000
models.

The data is the drawn tree (the same midpoint rooting as ``tree.png``) in preorder: a parent
index, a branch length and, when branch supports were counted, the bootstrap and transfer support
(percent) of every node's branch; tips are named in the order they are drawn. Up to
:data:`NEI_MATRIX_MAX` models the Nei distances between tips are embedded too, as the upper
triangle of the matrix in tip order, little-endian float32, base64 (4 bytes per pair, 2.7 MB at
1,000 models); beyond, the page measures distances along the tree (patristic) and says so.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np
from numpy.typing import NDArray
from skbio import TreeNode

from phylolm_harness.core.support import Supports
from phylolm_harness.core.treelikeness import (
    UNTRUSTED_DELTA,
    WEAK_BRANCH_DELTA,
    WEAK_CONCORDANCE,
    WEAK_SUPPORT,
    TreeFit,
)

__all__ = ["NEI_MATRIX_MAX", "render_tree_html", "tree_data"]

NEI_MATRIX_MAX = 1000
"""Most models whose Nei distance matrix the page embeds; larger trees show tree distances."""

_TOKEN = re.compile(r"@(TITLE|SCRIPT|DATA)@")


def render_tree_html(
    tree: TreeNode,
    title: str,
    supports: Supports | None = None,
    distances: NDArray[np.float64] | None = None,
    labels: Sequence[str] = (),
    *,
    fit: TreeFit | None = None,
    distance_name: str = "Nei distance",
) -> bytes:
    """Render the interactive tree page (UTF-8 HTML).

    Parameters
    ----------
    tree : skbio.TreeNode
        The tree; unrooted trees are drawn rooted at their midpoint.
    title : str
        Heading of the page.
    supports : Supports, optional
        Branch supports of the tree's splits.
    distances : ndarray, optional
        ``(n, n)`` Nei distances in the order of ``labels``; embedded up to
        :data:`NEI_MATRIX_MAX` models.
    labels : sequence of str
        Row order of ``distances``.
    fit : TreeFit, optional
        δ-score and quartet concordance of the splits (weak splits are marked).
    distance_name : str
        What the distances are called on the page.

    Returns
    -------
    bytes
        The page.
    """
    data = tree_data(tree, title, supports, distances, labels, fit=fit, distance_name=distance_name)
    # "<" escaped: no "</script>" or "<!--" can end the data element early
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    values = {"TITLE": html.escape(title), "SCRIPT": _asset("tree_page.js"), "DATA": text}
    return _TOKEN.sub(lambda m: values[m.group(1)], _asset("tree_page.html")).encode()


def tree_data(
    tree: TreeNode,
    title: str,
    supports: Supports | None = None,
    distances: NDArray[np.float64] | None = None,
    labels: Sequence[str] = (),
    *,
    fit: TreeFit | None = None,
    distance_name: str = "Nei distance",
) -> dict[str, Any]:
    """Return the data the page embeds (see the module's description), as JSON-ready values.

    Examples
    --------
    >>> from phylolm_harness.core.tree import from_newick
    >>> data = tree_data(from_newick("((a:1,b:2):0.5,c:1);"), "t")
    >>> data["parent"], data["length"], data["names"]
    ([-1, 0, 1, 1, 0], [0, 0.5, 1, 2, 1], ['a', 'b', 'c'])
    """
    drawn = tree.root_at_midpoint() if len(tree.children) != 2 else tree
    nodes = list(drawn.preorder(include_self=True))
    position = {id(node): i for i, node in enumerate(nodes)}
    parent = [-1 if node.parent is None else position[id(node.parent)] for node in nodes]
    names = [str(node.name) for node in nodes if not node.children]
    data: dict[str, Any] = {
        "title": title,
        "parent": parent,
        "length": [_number(node.length) for node in nodes],
        "names": names,
        "resamples": 0,
        "nei_max": NEI_MATRIX_MAX,
        "distance_name": distance_name,
    }
    data["length"][0] = 0
    if supports is not None and supports.resamples > 0:
        bootstrap, transfer = _node_supports(nodes, parent, supports)
        data.update(resamples=supports.resamples, bootstrap=bootstrap, transfer=transfer)
    if fit is not None and len(fit.splits):
        values = np.stack([fit.concordance, fit.branch_delta], axis=1)
        around = _node_values(nodes, parent, labels, fit.splits, values)
        boot = data.get("bootstrap")
        data["concordance"] = [-1 if v is None else round(float(v[0]), 2) for v in around]
        data["branch_delta"] = [-1 if v is None else round(float(v[1]), 2) for v in around]
        data["weak"] = [
            int(
                v is not None
                and fit.weak(boot[i] / 100 if boot and boot[i] >= 0 else np.nan, v[0], v[1])
            )
            for i, v in enumerate(around)
        ]
        data.update(
            delta=round(fit.likeness.delta, 3),
            untrusted_delta=UNTRUSTED_DELTA,
            weak_support=round(100 * WEAK_SUPPORT),
            weak_concordance=WEAK_CONCORDANCE,
            weak_branch_delta=WEAK_BRANCH_DELTA,
        )
    if distances is not None and len(names) <= NEI_MATRIX_MAX:
        row = {label: i for i, label in enumerate(labels)}
        order = [row[name] for name in names]
        upper = np.asarray(distances)[np.ix_(order, order)][np.triu_indices(len(order), k=1)]
        data["nei"] = base64.b64encode(upper.astype("<f4").tobytes()).decode("ascii")
    return data


def _number(value: float | None) -> float | int:
    """Return a branch length as the page stores it: 6 significant digits, 0 when missing."""
    if value is None or not np.isfinite(value):
        return 0
    rounded = float(f"{value:.6g}")
    return int(rounded) if rounded.is_integer() else rounded


def _node_supports(
    nodes: Sequence[TreeNode], parent: Sequence[int], supports: Supports
) -> tuple[list[int], list[int]]:
    """Bootstrap and transfer support (percent, -1 for none) of the branch above each node."""
    values = np.stack([supports.bootstrap, supports.transfer], axis=1)
    found = _node_values(nodes, parent, supports.labels, supports.splits, values)
    bootstrap, transfer = [-1] * len(nodes), [-1] * len(nodes)
    for i, value in enumerate(found):
        if value is not None and np.isfinite(value[0]):
            bootstrap[i] = round(100 * value[0])
            transfer[i] = round(100 * value[1])
    return bootstrap, transfer


def _node_values(
    nodes: Sequence[TreeNode],
    parent: Sequence[int],
    labels: Sequence[str],
    splits: NDArray[np.bool_],
    values: NDArray[np.float64],
) -> list[Any]:
    """Return the value of the split above each node (``None``, or -1 for 1-D values, if none).

    Tip sets are bit masks (Python integers) gathered from the tips up, so matching every node to
    its split costs time linear in the number of nodes times the number of tips over 64.
    """
    index = {label: i for i, label in enumerate(labels)}
    full = (1 << len(labels)) - 1
    found = {
        int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little"): value
        for row, value in zip(splits, values, strict=True)
    }
    masks = [0] * len(nodes)
    for i in range(len(nodes) - 1, -1, -1):  # children come after their parent in preorder
        if not nodes[i].children:
            masks[i] |= 1 << index[str(nodes[i].name)]
        if parent[i] >= 0:
            masks[parent[i]] |= masks[i]
    missing = None if values.ndim > 1 else -1.0
    return [found.get(full ^ mask if mask & 1 else mask, missing) for mask in masks]


@cache
def _asset(name: str) -> str:
    """Text of a file shipped next to this module."""
    return files("phylolm_harness.report").joinpath(name).read_text(encoding="utf-8")
