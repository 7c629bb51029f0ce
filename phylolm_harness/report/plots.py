"""Pictures: tree, distance heat map, 2-D map and predictions (byte-stable PNGs).

Figures are built as ``matplotlib.figure.Figure`` objects and saved with the Agg renderer, without
pyplot: no global state, and the host program's matplotlib backend is left alone.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from phylolm_harness.core.predict import PROTOCOLS, Predictions
from phylolm_harness.report.tables import number

__all__ = [
    "HEATMAP_LABELLED_MAX",
    "MAX_SHOWN",
    "draw_heatmap",
    "draw_map",
    "plot_predictions",
    "png",
    "shown",
]

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


def draw_heatmap(
    distances: NDArray[np.float64],
    labels: Sequence[str],
    title: str,
    order: NDArray[np.int64] | None = None,
) -> bytes:
    """Draw a distance heat map, rows and columns in ``order`` (e.g. the tree's; default as given).

    ``labels`` name the rows in that order.

    Up to :data:`HEATMAP_LABELLED_MAX` models every row is named. Larger matrices are drawn at a
    fixed size without names, on at most :data:`HEATMAP_PIXELS` rows, each pixel the mean of a
    block of pairs (see :func:`block_means`), so the picture costs the same at 10,000 models as at
    1,000.
    """
    n = len(labels)
    if n <= HEATMAP_LABELLED_MAX:
        size = max(4.0, 0.3 * n + 2.5)
        fig = Figure(figsize=(size + 1.0, size))
        ax = fig.subplots()
        shown_order = np.arange(n) if order is None else order
        image = ax.imshow(
            distances[np.ix_(shown_order, shown_order)], cmap="viridis_r", interpolation="nearest"
        )
        ax.set_xticks(range(n), [shown(label) for label in labels], rotation=90, fontsize=8)
        ax.set_yticks(range(n), [shown(label) for label in labels], fontsize=8)
    else:
        fig = Figure(figsize=(10.0, 9.0))
        ax = fig.subplots()
        shrunk = block_means(distances, HEATMAP_PIXELS, order)
        image = ax.imshow(
            shrunk, cmap="viridis_r", interpolation="nearest", extent=(0.5, n + 0.5, n + 0.5, 0.5)
        )
        ax.set_xlabel(f"{n} models in tree order (names in tree.nwk)")
        if len(shrunk) < n:
            block = -(-n // len(shrunk))
            ax.set_title(f"{title}\n(each pixel: the mean of {block}x{block} pairs)", fontsize=9)
    fig.colorbar(image, ax=ax, label="Nei distance", shrink=0.8)
    if not ax.get_title():
        ax.set_title(title)
    return png(fig)


HEATMAP_LABELLED_MAX = 150
"""Most models a heat map names one by one."""

HEATMAP_PIXELS = 1000
"""Most rows (and columns) a large heat map is drawn with."""


def block_means(
    matrix: NDArray[np.float64], most: int, order: NDArray[np.int64] | None = None
) -> NDArray[np.float64]:
    """Average a square matrix over equal blocks so that it has at most ``most`` rows.

    ``order`` permutes rows and columns first, without a permuted copy of the matrix.

    Examples
    --------
    >>> block_means(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    >>> block_means(np.arange(16.0).reshape(4, 4), 2, np.array([3, 2, 1, 0]))
    array([[12.5, 10.5],
           [ 4.5,  2.5]])
    """
    n = len(matrix)
    order = np.arange(n) if order is None else np.asarray(order)
    step = -(-n // most)
    if step == 1:
        return np.asarray(matrix[np.ix_(order, order)])
    starts = np.arange(0, n, step)
    sizes = np.diff(np.append(starts, n)).astype(np.float64)
    summed = np.empty((len(starts), len(starts)))
    for k, start in enumerate(starts):  # a band of rows at a time
        band = matrix[order[start : start + step]].sum(axis=0)
        summed[k] = np.add.reduceat(band[order], starts)
    return np.asarray(summed / np.outer(sizes, sizes))


def draw_map(coordinates: NDArray[np.float64], labels: Sequence[str], title: str) -> bytes:
    """Draw a 2-D map (e.g. PCoA axes 1 and 2); every point is named up to 100 points."""
    fig = Figure(figsize=(8.0, 6.5))
    ax = fig.subplots()
    many = len(labels) > 100
    ax.scatter(
        coordinates[:, 0],
        coordinates[:, 1],
        s=4 if many else 25,
        color="tab:blue",
        alpha=0.5 if many else 1.0,
        linewidths=0,
    )
    if not many:
        for (px, py), label in zip(coordinates, labels, strict=True):
            ax.annotate(
                shown(label), (px, py), xytext=(4, 3), textcoords="offset points", fontsize=8
            )
    ax.set_xlabel("axis 1")
    ax.set_ylabel("axis 2")
    ax.set_title(title)
    return png(fig)


def png(fig: Figure) -> bytes:
    """Save a figure as PNG bytes, with no time stamp or version inside."""
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
