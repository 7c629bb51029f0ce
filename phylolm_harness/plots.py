"""Pictures of a tree and a distance matrix (matplotlib, Agg backend, byte-stable PNGs)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from skbio import TreeNode  # noqa: E402

_PNG_METADATA = {"Software": None}  # no version stamp: identical inputs give identical bytes


def draw_dendrogram(tree: TreeNode, title: str) -> bytes:
    """Draw a rectangular dendrogram with true branch lengths; labels are never cut off.

    NJ trees are unrooted; they are drawn rooted at their midpoint. Negative NJ branch lengths
    are drawn as zero.
    """
    drawn = tree.root_at_midpoint() if len(tree.children) != 2 else tree
    tips = list(drawn.tips())
    y = {id(tip): float(i) for i, tip in enumerate(tips)}
    x: dict[int, float] = {}
    for node in drawn.preorder(include_self=True):
        parent = 0.0 if node.parent is None else x[id(node.parent)]
        x[id(node)] = parent + max(node.length or 0.0, 0.0) * (node.parent is not None)
    for node in drawn.postorder(include_self=True):
        if node.children:
            y[id(node)] = float(np.mean([y[id(c)] for c in node.children]))
    height = max(2.5, 0.28 * len(tips) + 1.0)
    fig, ax = plt.subplots(figsize=(9.0, height))
    for node in drawn.preorder(include_self=True):
        if node.parent is not None:
            ax.plot([x[id(node.parent)], x[id(node)]], [y[id(node)]] * 2, color="0.2", lw=1.2)
        if node.children:
            ys = [y[id(c)] for c in node.children]
            ax.plot([x[id(node)]] * 2, [min(ys), max(ys)], color="0.2", lw=1.2)
    span = max(x.values()) or 1.0
    for tip in tips:
        ax.text(x[id(tip)] + 0.01 * span, y[id(tip)], f" {tip.name}", va="center", fontsize=9)
    ax.set_ylim(-1, len(tips))
    ax.invert_yaxis()
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("Nei distance from the (midpoint) root")
    ax.set_title(title)
    return _png(fig)


def draw_heatmap(distances: NDArray[np.float64], labels: Sequence[str], title: str) -> bytes:
    """Draw a distance heat map with rows and columns in the given (tree) order."""
    n = len(labels)
    size = max(4.0, 0.3 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(distances, cmap="viridis_r", interpolation="nearest")
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    fig.colorbar(image, ax=ax, label="Nei distance", shrink=0.8)
    ax.set_title(title)
    return _png(fig)


def draw_map(coordinates: NDArray[np.float64], labels: Sequence[str], title: str) -> bytes:
    """Draw a 2-D map (e.g. PCoA axes 1 and 2) with a label at every point."""
    fig, ax = plt.subplots(figsize=(8.0, 6.5))
    ax.scatter(coordinates[:, 0], coordinates[:, 1], s=25, color="tab:blue")
    for (px, py), label in zip(coordinates, labels, strict=True):
        ax.annotate(label, (px, py), xytext=(4, 3), textcoords="offset points", fontsize=8)
    ax.set_xlabel("axis 1")
    ax.set_ylabel("axis 2")
    ax.set_title(title)
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata=_PNG_METADATA)
    plt.close(fig)
    return buffer.getvalue()
