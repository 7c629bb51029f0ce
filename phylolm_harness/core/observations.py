"""Allele observations of one model on one gene: the unit every reader produces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from phylolm_harness.core.alleles import TailDraws


@dataclass(frozen=True)
class GeneObservation:
    """Alleles one model produced on one gene.

    Attributes
    ----------
    model : str
        Label of the model.
    genome : str
        Name of the genome the gene belongs to.
    fingerprint : str
        Content fingerprint of that genome (``sha256:<hex>``).
    gene : str
        Gene id inside the genome.
    alleles : Mapping[str, float]
        Allele -> count for sampled observations, allele -> probability for exact ones.
    probes : int or None
        Number of sampled continuations, or ``None`` for an exact distribution.
    tail : float
        Exact distributions only: probability mass that was neither expanded nor sampled.
    draws : TailDraws or None
        Exact distributions only: how the pruned branches were sampled, if they were (the
        alleles then hold unbiased estimates).
    source : str
        File the observation was read from, for error messages.
    """

    model: str
    genome: str
    fingerprint: str
    gene: str
    alleles: Mapping[str, float]
    probes: int | None
    tail: float = 0.0
    source: str = field(default="", compare=False)
    draws: TailDraws | None = None

    @property
    def self_pairs(self) -> float:
        """What tail draws add to ``Σ P̂²`` by pairing with themselves (0 without draws)."""
        return 0.0 if self.draws is None else self.draws.self_pairs

    @property
    def exact(self) -> bool:
        """Whether the alleles are exact probabilities rather than sample counts."""
        return self.probes is None
