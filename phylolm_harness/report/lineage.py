"""The files of ``phylolm-harness lineage``: the tree of likelihood profiles and its report."""

from __future__ import annotations

from collections.abc import Sequence

from phylolm_harness.core.likelihood import LikelihoodTree
from phylolm_harness.core.tree import to_newick
from phylolm_harness.io.files import Content
from phylolm_harness.report.tables import cell, matrix_csv
from phylolm_harness.report.tree_plot import draw_dendrogram
from phylolm_harness.report.trust import likeness_text, supports_section

__all__ = ["LINEAGE_OUTPUTS", "render_lineage_outputs"]

LINEAGE_OUTPUTS = ("tree.nwk", "tree.png", "distances.csv", "distance_errors.csv", "report.md")
"""Every file ``lineage`` writes (an earlier set's files it does not write again are removed)."""


def render_lineage_outputs(found: LikelihoodTree, notes: Sequence[str]) -> dict[str, Content]:
    """Render the output files of ``lineage`` (name -> content)."""
    labels = list(found.labels)
    files: dict[str, Content] = {"distances.csv": matrix_csv(found.distances, labels)}
    if found.resampled:
        files["distance_errors.csv"] = matrix_csv(found.standard_errors, labels)
    n, p = found.profiles.loglik.shape
    lines = [
        "# Lineage tree from likelihood profiles",
        "",
        f"{n} models, {p} passages (texts the models wrote, scored by every model). The distance "
        "of two models is the root mean square difference of their log-likelihoods per byte "
        "of the passages (nats per byte). Experimental: on known fine-tuning lineages this tree "
        "is not better than the allele tree of `phylolm-harness tree` yet (docs/tree.md).",
        "",
    ]
    if found.tree is None:
        lines.append(f"No tree: {found.why_no_tree}.")
    else:
        title = f"Lineage tree ({found.method.upper()}, {n} models, {p} passages)"
        files["tree.nwk"] = to_newick(found.tree, found.supports).encode()
        files["tree.png"] = draw_dendrogram(
            found.tree, title, found.supports, found.fit, "likelihood-profile distance"
        )
        if found.fit is not None:
            lines += [f"Tree-likeness: {likeness_text(found.fit, labels)}.", ""]
            if len(found.fit.splits):
                lines += supports_section(found.fit, found.supports, labels, "passages")
    lines += ["", "## Closest relative of each model", ""]
    lines += ["| model | closest | distance |", "|---|---|---|"]
    for i, model in enumerate(labels):
        if n > 1:
            row = found.distances[i].copy()
            row[i] = float("inf")
            j = int(row.argmin())
            lines.append(f"| {cell(model)} | {cell(labels[j])} | {row[j]:.4f} |")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    files["report.md"] = ("\n".join(lines) + "\n").encode()
    return files
