"""The genes of a genome as the dataset of a PhyloLM task (sampled and exact tasks alike).

The task YAML files name :func:`load_genes` as their ``custom_dataset``.
"""

from __future__ import annotations

from typing import Any

import datasets

from phylolm_harness.genomes.genome import load_genome

__all__ = ["load_genes"]


def load_genes(
    default_genome: str | None = None, genome: str | None = None, **_metadata: Any
) -> datasets.DatasetDict:
    """Load a genome as a one-split dataset of genes for lm-eval.

    Parameters
    ----------
    default_genome : str, optional
        Genome named by the task YAML (``dataset_kwargs``): ``"math"`` or ``"code"``.
    genome : str, optional
        Genome given on the command line (``--metadata genome=NAME_OR_PATH``); wins
        over the default.
    **_metadata
        Other ``--metadata`` entries, which lm-eval passes to every dataset loader.

    Returns
    -------
    datasets.DatasetDict
        A ``test`` split with one row per gene: ``genome``, ``fingerprint``, ``gene``, ``text``.
    """
    chosen = genome or default_genome
    if chosen is None:
        raise ValueError("no genome: pass --metadata genome=NAME_OR_PATH")
    loaded = load_genome(chosen)
    rows = {
        "genome": [loaded.name] * len(loaded.genes),
        "fingerprint": [loaded.fingerprint] * len(loaded.genes),
        "gene": [gene.id for gene in loaded.genes],
        "text": [gene.text for gene in loaded.genes],
    }
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows)})
