"""Every output file of ``tree`` and ``predict`` (name -> content), large tables made as written."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.phylogeny import Phylogeny
from phylolm_harness.core.plan import Plan
from phylolm_harness.core.predict import Predictions
from phylolm_harness.core.tree import to_newick
from phylolm_harness.errors import InputError
from phylolm_harness.io.files import Chunks, Content
from phylolm_harness.io.pairs_file import PAIRS_INDEX, PAIRS_MATRIX, pairs_index
from phylolm_harness.io.populations_parquet import parquet_chunks
from phylolm_harness.report.markdown import method_name, render_report
from phylolm_harness.report.plots import draw_heatmap, plot_predictions
from phylolm_harness.report.tables import (
    TEXT_TABLES_MAX_MODELS,
    matrix_csv_chunks,
    models_csv,
    npy_chunks,
    plan_csv,
    predictions_csv,
)
from phylolm_harness.report.tree_html import render_tree_html
from phylolm_harness.report.tree_plot import draw_dendrogram

__all__ = [
    "OUTPUT_PATTERNS",
    "TREE_OUTPUTS",
    "prediction_figure",
    "render_prediction_outputs",
    "render_tree_outputs",
]

TREE_OUTPUTS = (
    "similarity.csv",
    "distances.csv",
    "distance_errors.csv",
    "shared_genes.csv",
    "tree.nwk",
    "tree.png",
    "tree.html",
    "heatmap.png",
    "report.md",
    "populations.parquet",
    "distances.npy",
    "models.csv",
    "similarity.npy",
    "distance_errors.npy",
    "shared_genes.npy",
    "pairs.npy",
    "pairs.json",
)
"""Files ``tree`` writes (the ``.npy`` tables instead of CSV past
:data:`~phylolm_harness.report.tables.TEXT_TABLES_MAX_MODELS` models)."""

OUTPUT_PATTERNS = (
    *TREE_OUTPUTS,
    "populations.jsonl",  # what earlier versions wrote in place of populations.parquet
    "predictions.csv",
    "predictions_*.png",
    "plan.csv",
    "pcoa.png",
    "demo.md",
)
"""Names the commands of this package write into an output folder; a file of an earlier run
matching them that this run does not write is removed."""


def render_tree_outputs(
    phylogeny: Phylogeny,
    observations: Sequence[GeneObservation],
    notes: Sequence[str] = (),
    sections: Sequence[str] = (),
    populations: Content | None = None,
) -> dict[str, Content]:
    """Render every output file of ``tree`` (name -> content).

    The tables and the populations file are :class:`~phylolm_harness.io.files.Chunks`, made
    as they are written: at 10,000 models each table is a gigabyte of text. ``populations``:
    the populations file when it is given whole (the one Parquet file the observations were
    read from), else it is written from ``observations``.
    """
    labels = list(phylogeny.labels)
    files: dict[str, Content] = {
        "populations.parquet": (
            Chunks(lambda: parquet_chunks(observations)) if populations is None else populations
        ),
    }
    tables: dict[str, NDArray[np.float64] | NDArray[np.int64]] = {
        "distances": phylogeny.distances,
        "similarity": phylogeny.similarity,
        "distance_errors": phylogeny.standard_errors,
        "shared_genes": phylogeny.shared_genes,
    }
    for name, matrix in tables.items():
        if len(labels) <= TEXT_TABLES_MAX_MODELS:
            files[f"{name}.csv"] = Chunks(partial(matrix_csv_chunks, matrix, labels))
        elif name != "distance_errors" or phylogeny.resampled:  # no file of NaN
            files[f"{name}.npy"] = Chunks(partial(npy_chunks, _smallest(matrix)))
    if len(labels) > TEXT_TABLES_MAX_MODELS:
        files["models.csv"] = models_csv(labels)
    order = labels
    if phylogeny.tree is not None:
        files["tree.nwk"] = to_newick(phylogeny.tree, phylogeny.supports).encode()
        title = f"PhyloLM tree ({method_name(phylogeny)}, {len(labels)} models)"
        name = "Nei distance" if phylogeny.distance == "nei" else "D_A distance"
        files["tree.png"] = draw_dendrogram(
            phylogeny.tree, title, phylogeny.supports, phylogeny.fit, name
        )
        files["tree.html"] = render_tree_html(
            phylogeny.tree,
            title,
            phylogeny.supports,
            phylogeny.distances,
            labels,
            fit=phylogeny.fit,
            distance_name=name,
        )
        order = [str(tip.name) for tip in phylogeny.tree.tips()]
    position = {name: i for i, name in enumerate(labels)}
    index = np.array([position[name] for name in order], dtype=np.int64)
    files["heatmap.png"] = draw_heatmap(phylogeny.distances, order, "Nei distances", index)
    files["report.md"] = render_report(phylogeny, notes, sections).encode()
    if phylogeny.pairs is not None:
        files[PAIRS_MATRIX] = Chunks(partial(npy_chunks, phylogeny.pairs.cross))
        files[PAIRS_INDEX] = pairs_index(phylogeny.pairs)
    return files


def _smallest(matrix: NDArray[np.float64] | NDArray[np.int64]) -> NDArray[Any]:
    """Return counts in the smallest unsigned integer type that holds them (floats as they are).

    >>> _smallest(np.array([[256, 3], [3, 256]])).dtype
    dtype('uint16')
    """
    if matrix.dtype.kind not in "iu" or not matrix.size or matrix.min() < 0:
        return matrix
    return matrix.astype(np.min_scalar_type(int(matrix.max())), copy=False)


def prediction_figure(benchmark: str) -> str:
    """File name of a benchmark's scatter plot."""
    return (
        f"predictions_{re.sub(r'[^A-Za-z0-9_.-]+', '_', benchmark).strip('_') or 'benchmark'}.png"
    )


def render_prediction_outputs(
    all_preds: Sequence[Predictions], plan: Plan | None = None
) -> dict[str, bytes]:
    """``predictions.csv``, a plot per benchmark (:func:`prediction_figure`) and ``plan.csv``."""
    files: dict[str, bytes] = {}
    if plan is not None:
        files["plan.csv"] = plan_csv(plan)
    for preds in all_preds:
        figure = prediction_figure(preds.benchmark)
        if figure in files:
            raise InputError(
                f"benchmarks {preds.benchmark} and another share the figure name {figure}"
            )
        files[figure] = plot_predictions(preds)
    files["predictions.csv"] = predictions_csv(all_preds)
    return files


def figures_of(all_preds: Sequence[Predictions]) -> Mapping[str, str]:
    """Benchmark -> figure file name."""
    return {preds.benchmark: prediction_figure(preds.benchmark) for preds in all_preds}
