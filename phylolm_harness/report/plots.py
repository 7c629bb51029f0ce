"""Pictures: tree, distance heat map, 2-D map and predictions (byte-stable PNGs).

Figures are built as ``matplotlib.figure.Figure`` objects and saved with the Agg renderer, without
pyplot: no global state, and the host program's matplotlib backend is left alone.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray
from skbio import TreeNode

from phylolm_harness.core.predict import PROTOCOLS, Predictions
from phylolm_harness.core.support import Supports
from phylolm_harness.report.tables import number

__all__ = ["MAX_SHOWN", "draw_dendrogram", "draw_heatmap", "draw_map", "plot_predictions", "shown"]

MAX_SHOWN = 40
"""Longest label drawn in a picture; longer ones are cut (the CSV files keep them whole)."""

_PNG_METADATA = {"Software": None}  # no version stamp: identical inputs give identical bytes


def shown(label: str) -> str:
    r"""Return a label as pictures draw it: cut to :data:`MAX_SHOWN` characters, and escaped.

    Control characters, and characters the pictures' font cannot draw (CJK, emoji: they would
    all become the same empty box), are written as Python escapes, so that different labels
    stay different on the picture.

    Examples
    --------
    >>> shown("two\nlines"), shown("模型-a"), len(shown("x" * 500))
    ('two\\nlines', '\\u6a21\\u578b-a', 40)
    """
    drawable = _drawable()
    text = "".join(
        c if c.isprintable() and ord(c) in drawable else c.encode("unicode_escape").decode("ascii")
        for c in label
    )
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


@functools.cache
def _drawable() -> frozenset[int]:
    """Code points the default font of the pictures has a glyph for."""
    from matplotlib import font_manager, ft2font

    path = font_manager.findfont(font_manager.FontProperties())
    return frozenset(ft2font.FT2Font(path).get_charmap())


def draw_dendrogram(tree: TreeNode, title: str, supports: Supports | None = None) -> bytes:
    """Draw a rectangular dendrogram with true branch lengths; labels are never cut off.

    NJ trees are unrooted; they are drawn rooted at their midpoint. Negative NJ branch lengths
    are drawn as zero. With ``supports``, each internal branch carries its bootstrap support in
    percent, at its right end.
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
    fig = Figure(figsize=(9.0, height))
    ax = fig.subplots()
    for node in drawn.preorder(include_self=True):
        if node.parent is not None:
            ax.plot([x[id(node.parent)], x[id(node)]], [y[id(node)]] * 2, color="0.2", lw=1.2)
        if node.children:
            ys = [y[id(c)] for c in node.children]
            ax.plot([x[id(node)]] * 2, [min(ys), max(ys)], color="0.2", lw=1.2)
    span = max(x.values()) or 1.0
    if supports is not None:
        _label_supports(ax, drawn, supports, x, y, span)
    for tip in tips:
        ax.text(
            x[id(tip)] + 0.01 * span,
            y[id(tip)],
            f" {shown(str(tip.name))}",
            va="center",
            fontsize=9,
        )
    ax.set_ylim(-1, len(tips))
    ax.invert_yaxis()
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(
        "Nei distance from the (midpoint) root"
        + ("; at the nodes: bootstrap support (%)" if supports is not None else "")
    )
    ax.set_title(title)
    return _png(fig)


def _label_supports(
    ax: Axes,
    drawn: TreeNode,
    supports: Supports,
    x: dict[int, float],
    y: dict[int, float],
    span: float,
) -> None:
    found = supports.lookup()
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
            color="tab:red" if support[0] < 0.7 else "0.35",
        )


def draw_heatmap(distances: NDArray[np.float64], labels: Sequence[str], title: str) -> bytes:
    """Draw a distance heat map with rows and columns in the given (tree) order."""
    n = len(labels)
    size = max(4.0, 0.3 * n + 2.5)
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.subplots()
    image = ax.imshow(distances, cmap="viridis_r", interpolation="nearest")
    ax.set_xticks(range(n), [shown(label) for label in labels], rotation=90, fontsize=8)
    ax.set_yticks(range(n), [shown(label) for label in labels], fontsize=8)
    fig.colorbar(image, ax=ax, label="Nei distance", shrink=0.8)
    ax.set_title(title)
    return _png(fig)


def draw_map(coordinates: NDArray[np.float64], labels: Sequence[str], title: str) -> bytes:
    """Draw a 2-D map (e.g. PCoA axes 1 and 2) with a label at every point."""
    fig = Figure(figsize=(8.0, 6.5))
    ax = fig.subplots()
    ax.scatter(coordinates[:, 0], coordinates[:, 1], s=25, color="tab:blue")
    for (px, py), label in zip(coordinates, labels, strict=True):
        ax.annotate(shown(label), (px, py), xytext=(4, 3), textcoords="offset points", fontsize=8)
    ax.set_xlabel("axis 1")
    ax.set_ylabel("axis 2")
    ax.set_title(title)
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata=_PNG_METADATA)
    return buffer.getvalue()


def plot_predictions(preds: Predictions) -> bytes:
    """Scatter predicted against real scores, one panel per evaluation protocol.

    Parameters
    ----------
    preds : Predictions
        Predictions of one benchmark.

    Returns
    -------
    bytes
        PNG image (no time stamp inside: identical inputs give identical bytes).
    """
    evals = [preds.evaluation(p) for p in PROTOCOLS]
    fig = Figure(figsize=(5.0 * len(evals), 4.6), layout="constrained")
    axes = fig.subplots(1, len(evals), squeeze=False)[0]
    families = sorted({preds.families.get(m, "") for m in preds.labels})
    colours = {f: f"C{i % 10}" for i, f in enumerate(families)}
    for ax, ev in zip(axes, evals, strict=True):
        ax.plot([0, 1], [0, 1], color="0.7", linewidth=1, zorder=0)
        ok = np.isfinite(ev.predicted)
        for family in families:
            mask = ok & np.array([preds.families.get(m, "") == family for m in ev.labels])
            if mask.any():
                ax.scatter(
                    ev.real[mask],
                    ev.predicted[mask],
                    s=22,
                    color=colours[family],
                    label=shown(family) if family else "(none)",
                )
        ax.set_xlabel("real score")
        ax.set_ylabel("predicted score")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        stats = (
            f"r = {number(ev.r)}, MAE = {number(ev.mae)}, n = {len(ev.real)}"
            if not ev.note
            else ev.note
        )
        ax.set_title(f"{preds.benchmark}: {ev.protocol}\n{stats}\n{ev.chosen}", fontsize=8)
        if len(families) <= 12 and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left", title="family", title_fontsize=7)
    fig.suptitle(f"predictor: {preds.method}", fontsize=9)
    buffer = io.BytesIO()  # no bbox_inches="tight" here: the layout engine places the panels
    fig.savefig(buffer, format="png", dpi=110, metadata=_PNG_METADATA)
    return buffer.getvalue()
