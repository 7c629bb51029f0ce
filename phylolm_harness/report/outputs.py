"""Every output file of ``tree`` and ``predict``, rendered in memory (name -> bytes)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.phylogeny import Phylogeny
from phylolm_harness.core.plan import Plan
from phylolm_harness.core.predict import Predictions
from phylolm_harness.core.tree import to_newick
from phylolm_harness.errors import InputError
from phylolm_harness.io.populations_file import format_populations_file
from phylolm_harness.report.markdown import method_name, render_report
from phylolm_harness.report.plots import draw_heatmap, plot_predictions
from phylolm_harness.report.tables import matrix_csv, plan_csv, predictions_csv
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
    "populations.jsonl",
)
"""Files ``tree`` writes."""

OUTPUT_PATTERNS = (
    *TREE_OUTPUTS,
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
) -> dict[str, bytes]:
    """Render every output file of ``tree`` in memory (name -> bytes)."""
    labels = list(phylogeny.labels)
    files = {
        "populations.jsonl": format_populations_file(observations).encode(),
        "similarity.csv": matrix_csv(phylogeny.similarity, labels),
        "distances.csv": matrix_csv(phylogeny.distances, labels),
        "distance_errors.csv": matrix_csv(phylogeny.standard_errors, labels),
        "shared_genes.csv": matrix_csv(phylogeny.shared_genes.astype(np.float64), labels),
    }
    order = labels
    if phylogeny.tree is not None:
        files["tree.nwk"] = to_newick(phylogeny.tree, phylogeny.supports).encode()
        title = f"PhyloLM tree ({method_name(phylogeny)}, {len(labels)} models)"
        files["tree.png"] = draw_dendrogram(phylogeny.tree, title, phylogeny.supports)
        files["tree.html"] = render_tree_html(
            phylogeny.tree, title, phylogeny.supports, phylogeny.distances, labels
        )
        order = [str(tip.name) for tip in phylogeny.tree.tips()]
    index = [labels.index(name) for name in order]
    files["heatmap.png"] = draw_heatmap(
        phylogeny.distances[np.ix_(index, index)], order, "Nei distances"
    )
    files["report.md"] = render_report(phylogeny, notes, sections).encode()
    return files


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
