"""Synthetic allele collections of known truth, for the check's rules (tests and a benchmark)."""

from __future__ import annotations

import numpy as np

from phylolm_harness.core.check import by_gene
from phylolm_harness.core.observations import GeneObservation

ALLELES = 8
"""Alleles per gene."""


def dirichlet_genes(seed: int, concentration: float = 0.4, genes: int = 24) -> np.ndarray:
    """Each gene's true allele distribution: ``(genes, ALLELES)``, Dirichlet(concentration)."""
    return np.random.default_rng(seed).dirichlet(np.full(ALLELES, concentration), size=genes)


def sampled_genes(truth: np.ndarray, rng: np.random.Generator, model: str = "m", probes: int = 32):
    """One sampled collection of a model: ``probes`` draws per gene, by gene key."""
    out = []
    for g, p in enumerate(truth):
        counts = rng.multinomial(probes, p)
        alleles = {f"a{i}": int(c) for i, c in enumerate(counts) if c}
        out.append(GeneObservation(model, "math", "sha256:0", f"g{g}", alleles, probes))
    return by_gene(out)
