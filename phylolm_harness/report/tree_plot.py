"""The tree picture: rectangular with every name up to a few hundred models, circular beyond.

A rectangular dendrogram with one line per model stays readable up to :data:`RECTANGULAR_MAX`
tips. Past that, the tree is drawn as a circle of fixed size; names no longer fit, so the
:data:`CLADES` largest clades are coloured and named in a legend by what their models' names share
(every name stays in ``tree.nwk``). All branches are drawn as
one line collection, so drawing costs little more than the tree's size.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from skbio import TreeNode

from phylolm_harness.core.support import Supports
from phylolm_harness.core.treelikeness import UNTRUSTED_DELTA, TreeFit, is_weak
from phylolm_harness.report.plots import png, shown

__all__ = ["CLADES", "RECTANGULAR_MAX", "clade_name", "draw_dendrogram", "largest_clades"]

RECTANGULAR_MAX = 300
"""Most models drawn as a rectangular tree with every name; larger trees are drawn circular."""

CLADES = 10
"""Clades coloured and named on a circular tree."""

_ARC_POINTS = 720
"""Points of a full circle when arcs are drawn as polylines."""


def draw_dendrogram(
    tree: TreeNode,
    title: str,
    supports: Supports | None = None,
    fit: TreeFit | None = None,
    distance_name: str = "Nei distance",
) -> bytes:
    """Draw a dendrogram with true branch lengths (rectangular, or circular past a size).

    NJ trees are unrooted; they are drawn rooted at their midpoint. Negative branch lengths are
    drawn as zero. With ``supports`` (rectangular trees only), each internal branch carries its
    bootstrap support in percent, at its right end; with ``fit`` too, weak splits
    (:func:`~phylolm_harness.core.treelikeness.is_weak`) are red, and a δ-score above
    :data:`~phylolm_harness.core.treelikeness.UNTRUSTED_DELTA` is said under the title.
    """
    drawn = tree.root_at_midpoint() if len(tree.children) != 2 else tree
    tips = list(drawn.tips())
    depth, order = _coordinates(drawn)
    if len(tips) <= RECTANGULAR_MAX:
        return _rectangular(drawn, tips, depth, order, title, supports, fit, distance_name)
    return _circular(drawn, tips, depth, order, title)


def _coordinates(drawn: TreeNode) -> tuple[dict[int, float], dict[int, float]]:
    """Distance from the root and position among the tips (mean of the children) of each node."""
    depth: dict[int, float] = {}
    for node in drawn.preorder(include_self=True):
        parent = 0.0 if node.parent is None else depth[id(node.parent)]
        depth[id(node)] = parent + max(node.length or 0.0, 0.0) * (node.parent is not None)
    order: dict[int, float] = {}
    count = 0
    for node in drawn.postorder(include_self=True):
        if node.children:
            order[id(node)] = float(np.mean([order[id(c)] for c in node.children]))
        else:
            order[id(node)] = float(count)
            count += 1
    return depth, order


def _rectangular(
    drawn: TreeNode,
    tips: list[TreeNode],
    x: dict[int, float],
    y: dict[int, float],
    title: str,
    supports: Supports | None,
    fit: TreeFit | None,
    distance_name: str,
) -> bytes:
    segments = []
    for node in drawn.preorder(include_self=True):
        if node.parent is not None:
            segments.append([(x[id(node.parent)], y[id(node)]), (x[id(node)], y[id(node)])])
        if node.children:
            ys = [y[id(c)] for c in node.children]
            segments.append([(x[id(node)], min(ys)), (x[id(node)], max(ys))])
    fig = Figure(figsize=(9.0, max(2.5, 0.28 * len(tips) + 1.0)))
    ax = fig.subplots()
    ax.add_collection(LineCollection(segments, colors="0.2", linewidths=1.2))
    span = max(x.values()) or 1.0
    if supports is not None:
        _label_supports(ax, drawn, supports, x, y, span, fit)
    for tip in tips:
        ax.text(
            x[id(tip)] + 0.01 * span,
            y[id(tip)],
            f" {shown(str(tip.name))}",
            va="center",
            fontsize=9,
        )
    ax.set_xlim(-0.02 * span, 1.02 * span)
    ax.set_ylim(-1, len(tips))
    ax.invert_yaxis()
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(
        f"{distance_name} from the (midpoint) root"
        + ("; at the nodes: bootstrap support (%), weak splits in red" if supports else "")
    )
    if fit is not None and fit.likeness.delta > UNTRUSTED_DELTA:
        title += (
            f"\nδ-score {fit.likeness.delta:.2f}: the distances fit no tree well; "
            "not fine-tuning lineages"
        )
    ax.set_title(title)
    return png(fig)


def _label_supports(
    ax: Axes,
    drawn: TreeNode,
    supports: Supports,
    x: dict[int, float],
    y: dict[int, float],
    span: float,
    fit: TreeFit | None,
) -> None:
    found = supports.lookup()
    concordance = fit.lookup(supports.labels) if fit is not None else {}
    done: set[frozenset[str]] = set()
    for node in drawn.non_tips():
        side = supports.side_of(str(t.name) for t in node.tips())
        support = found.get(side)
        if support is None or side in done or not np.isfinite(support[0]):
            continue
        done.add(side)
        ax.text(
            x[id(node)] - 0.005 * span,
            y[id(node)] - 0.15,
            f"{100 * support[0]:.0f}",
            ha="right",
            va="bottom",
            fontsize=7,
            color="tab:red" if _weak(fit, support[0], concordance.get(side)) else "0.35",
        )


def _weak(fit: TreeFit | None, support: float, around: tuple[float, float] | None) -> bool:
    if fit is None or around is None:
        return is_weak(support, 1.0)
    return fit.weak(support, *around)


def largest_clades(tree: TreeNode, k: int = CLADES) -> list[TreeNode]:
    """Split the largest clade until ``k`` clades (or only tips) are left; largest first."""
    clades = [tree]
    while len(clades) < k:
        splittable = [c for c in clades if c.children]
        if not splittable:
            break
        biggest = max(splittable, key=lambda c: c.count(tips=True))
        clades.remove(biggest)
        clades.extend(biggest.children)
    return sorted(clades, key=lambda c: (-c.count(tips=True), _first_name(c)))


def clade_name(clade: TreeNode) -> str:
    """Name a clade by what its models' names share.

    Names that share an owner (the part before the first ``/``, as on model hubs) are named by
    their longest common start; a clade across owners by its most frequent owners.

    Examples
    --------
    >>> from phylolm_harness.core.tree import from_newick
    >>> clade_name(from_newick("(meta/llama-3-8b,meta/llama-3-8b-it);"))
    'meta/llama-3-8b… (2 models)'
    >>> clade_name(from_newick("((a/x,a/y),b/z);"))
    'a/…, b/… (3 models)'
    """
    names = sorted(str(t.name) for t in clade.tips(include_self=True))
    size = len(names)
    owners = Counter(name.split("/")[0] for name in names if "/" in name)
    prefix = os.path.commonprefix(names).rstrip("-_/. ")
    if size == 1:
        label = names[0]
    elif len(owners) > 1:
        top = sorted(owners, key=lambda owner: (-owners[owner], owner))
        label = ", ".join(f"{owner}/…" for owner in top[:3]) + (", …" if len(top) > 3 else "")
    elif len(prefix) >= 3:
        label = f"{prefix}…"
    else:
        label = f"{names[0]} and relatives"
    return f"{shown(label)} ({size} model{'s' * (size > 1)})"


def _circular(
    drawn: TreeNode,
    tips: list[TreeNode],
    radius: dict[int, float],
    order: dict[int, float],
    title: str,
) -> bytes:
    turn = 2 * np.pi * 0.97 / len(tips)  # a small gap shows where the circle starts
    colour: dict[int, str] = {}
    clades = largest_clades(drawn)
    for i, clade in enumerate(clades):
        for node in clade.preorder(include_self=True):
            colour[id(node)] = f"C{i % 10}"
    segments: list[np.ndarray] = []
    colours: list[str] = []
    for node in drawn.preorder(include_self=True):
        angle = order[id(node)] * turn
        r = radius[id(node)]
        if node.parent is not None:
            r0 = radius[id(node.parent)]
            segments.append(
                np.array(
                    [
                        [r0 * np.cos(angle), r0 * np.sin(angle)],
                        [r * np.cos(angle), r * np.sin(angle)],
                    ]
                )
            )
            colours.append(colour.get(id(node), "0.6"))
        if node.children:
            lo, hi = (order[id(node.children[i])] * turn for i in (0, -1))
            steps = max(2, int(_ARC_POINTS * (hi - lo) / (2 * np.pi)) + 1)
            arc = np.linspace(lo, hi, steps)
            segments.append(np.column_stack([r * np.cos(arc), r * np.sin(arc)]))
            colours.append(colour.get(id(node), "0.6"))
    fig = Figure(figsize=(10.0, 9.0))
    ax = fig.subplots()
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=0.5))
    reach = max(radius.values()) or 1.0
    ax.set_xlim(-1.05 * reach, 1.05 * reach)
    ax.set_ylim(-1.05 * reach, 1.05 * reach)
    ax.set_aspect("equal")
    ax.set_axis_off()
    handles = [
        ax.plot([], [], color=f"C{i % 10}", lw=3, label=clade_name(c))[0]
        for i, c in enumerate(clades)
    ]
    ax.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=8,
        title="largest clades",
        title_fontsize=8,
        frameon=False,
    )
    ax.set_title(
        f"{title}\ncircular: radius = Nei distance from the (midpoint) root; "
        "every name is in tree.nwk",
        fontsize=9,
    )
    return png(fig)


def _first_name(node: TreeNode) -> str:
    return str(min(str(t.name) for t in node.tips(include_self=True)))
