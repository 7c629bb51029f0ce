"""Render the outputs of ``phylolm-harness tree``: matrices, Newick, pictures and report.md."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from phylolm_harness.observations import GeneObservation
from phylolm_harness.phylogeny import Phylogeny
from phylolm_harness.plots import draw_dendrogram, draw_heatmap
from phylolm_harness.populations_file import format_populations_file
from phylolm_harness.tree import to_newick

TREE_OUTPUTS = (
    "similarity.csv",
    "distances.csv",
    "distance_errors.csv",
    "tree.nwk",
    "tree.png",
    "heatmap.png",
    "report.md",
    "populations.jsonl",
)
"""Files ``tree`` writes; a file from an earlier run that this run does not write is removed."""


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
        "similarity.csv": _matrix_csv(phylogeny.similarity, labels),
        "distances.csv": _matrix_csv(phylogeny.distances, labels),
        "distance_errors.csv": _matrix_csv(phylogeny.standard_errors, labels),
    }
    order = labels
    if phylogeny.tree is not None:
        files["tree.nwk"] = to_newick(phylogeny.tree).encode()
        files["tree.png"] = draw_dendrogram(
            phylogeny.tree, f"PhyloLM tree ({_method_name(phylogeny)}, {len(labels)} models)"
        )
        order = [str(tip.name) for tip in phylogeny.tree.tips()]
    index = [labels.index(name) for name in order]
    files["heatmap.png"] = draw_heatmap(
        phylogeny.distances[np.ix_(index, index)], order, "Nei distances"
    )
    files["report.md"] = render_report(phylogeny, notes, sections).encode()
    return files


def render_report(
    phylogeny: Phylogeny, notes: Sequence[str] = (), sections: Sequence[str] = ()
) -> str:
    """Markdown report: what was compared, how, extra sections, and how to read the result."""
    pops = phylogeny.populations
    n_genes = len(pops.genes)
    lines = ["# PhyloLM report", ""]
    genomes = ", ".join(f"`{name}` ({fp[:19]}…)" for name, fp in pops.genomes)
    lines += [
        f"- **Models**: {len(pops.models)}",
        f"- **Genomes**: {genomes}; {n_genes} genes in all",
        f"- **Similarity**: Nei's identity summed over genes, {_estimator_text(phylogeny)}",
        f"- **Tree**: {_method_name(phylogeny) if phylogeny.tree is not None else 'none'}",
    ]
    if phylogeny.clipped:
        lines.append(
            f"- {phylogeny.clipped} pair(s) had an estimated similarity above 1 (sampling noise "
            "around identical models) and were set to 1 (distance 0)."
        )
    if phylogeny.tree is None:
        lines += ["", f"**No tree**: {phylogeny.why_no_tree}. The matrices are still written."]
    lines += ["", "## Models", ""]
    lines += [
        "| model | probes per gene | genes observed | closest relative | distance ± s.e. |",
        "|---|---|---|---|---|",
    ]
    for i, model in enumerate(pops.models):
        lines.append(
            f"| {_cell(model)} | {_probes_text(pops.probes[i], pops.tail[i])} | "
            f"{int(pops.observed[i].sum())}/{n_genes} | {_closest(phylogeny, i)} |"
        )
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    for section in sections:
        lines += ["", section.strip()]
    lines += ["", "## How to read this", "", *_READING_GUIDE]
    return "\n".join(lines) + "\n"


_READING_GUIDE = [
    "- `distances.csv` holds Nei's distance `D = -ln S` between every pair of models; 0 means the "
    "models answer the genes with the same allele distributions. `similarity.csv` holds `S`.",
    "- `distance_errors.csv` holds the standard error of each distance from resampling genes: "
    "differences smaller than about twice it are within noise.",
    "- In `tree.png`, models joined by short branches are close relatives (fine-tunes, quantized "
    "copies). Neighbour-Joining trees are unrooted: the drawing roots them at the midpoint, "
    "so read "
    "the groupings, not the left-to-right order or the position of the root.",
    "- `tree.nwk` is the same tree in Newick format, for other tools.",
    "- `populations.jsonl` holds every model's alleles; pass it to `tree --populations` to merge "
    "collections made on other machines.",
    "- `heatmap.png` shows the distances in tree order: blocks along the diagonal are families.",
]


def _closest(phylogeny: Phylogeny, i: int) -> str:
    n = len(phylogeny.labels)
    if n < 2:
        return "– | –"
    row = phylogeny.distances[i].copy()
    row[i] = np.inf
    j = int(np.argmin(row))
    error = phylogeny.standard_errors[i, j]
    error_text = f" ± {error:.4f}" if np.isfinite(error) else ""
    return f"{_cell(phylogeny.labels[j])} | {row[j]:.4f}{error_text}"


def _probes_text(probes: NDArray[np.float64], tail: NDArray[np.float64]) -> str:
    seen = probes[probes > 0]
    if seen.size and np.all(np.isinf(seen)):
        return f"exact (mean tail {tail[probes > 0].mean():.3f})"
    finite = seen[np.isfinite(seen)]
    low, high = int(finite.min()), int(finite.max())
    text = str(low) if low == high else f"{low}–{high}"
    return text + (" + exact" if finite.size < seen.size else "")


def _estimator_text(phylogeny: Phylogeny) -> str:
    if phylogeny.estimator == "unbiased":
        return "Nei's (1978) unbiased within-model term for sampled genes"
    return "plug-in within-model term (as in the PhyloLM paper)"


def _method_name(phylogeny: Phylogeny) -> str:
    return {"nj": "Neighbour-Joining", "upgma": "UPGMA"}[phylogeny.method]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _matrix_csv(matrix: NDArray[np.float64], labels: list[str]) -> bytes:
    buffer = io.StringIO()
    frame = pd.DataFrame(matrix, index=labels, columns=labels)
    frame.index.name = "model"
    frame.to_csv(buffer, float_format="%.8g", lineterminator="\n")
    return buffer.getvalue().encode()
