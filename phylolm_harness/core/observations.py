"""Allele observations of one model on one gene: the unit every reader produces."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


COLLAPSE_SHARE = 0.9
"""Share of a sampled model's genes whose probes all gave one allele that counts as collapsed."""

COLLAPSE_MIN_GENES = 5
"""Fewest sampled genes (of at least 2 probes) a model needs before collapse is judged."""


def collapsed_probes(observations: Iterable[GeneObservation]) -> list[str]:
    """Write a note on each sampled model whose probes look like copies of one sample.

    A backend that honours a fixed seed answers N identical requests with N identical samples:
    every allele frequency is then 1 and the model's distances mean nothing. Real models at the
    tasks' temperature give several alleles on most genes, so a model whose probes all agree on
    at least :data:`COLLAPSE_SHARE` of its genes gets a note.

    Examples
    --------
    >>> obs = [GeneObservation("m", "g", "f", str(i), {"ab": 32}, 32) for i in range(6)]
    >>> collapsed_probes(obs)[0].split(":")[0]
    'm'
    """
    genes: dict[str, int] = {}
    single: dict[str, int] = {}
    probes: dict[str, int] = {}
    for obs in observations:
        if obs.probes is None or obs.probes < 2:
            continue
        genes[obs.model] = genes.get(obs.model, 0) + 1
        single[obs.model] = single.get(obs.model, 0) + (len(obs.alleles) == 1)
        probes[obs.model] = max(probes.get(obs.model, 0), obs.probes)
    notes = []
    for model, count in sorted(genes.items()):
        share = single[model] / count
        if count >= COLLAPSE_MIN_GENES and share >= COLLAPSE_SHARE:
            notes.append(
                f"{model}: all probes gave one allele on {share:.0%} of its {count} sampled "
                f"genes (up to {probes[model]} probes each): the backend probably returned one "
                "sample many times (a fixed seed, or a cache), so its distances are not "
                "meaningful; collect it again with this plugin's sampled tasks, which send a "
                "seed per probe"
            )
    return notes
