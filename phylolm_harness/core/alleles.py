"""The allele: what a model writes first after a gene, and exact allele distributions.

An exact distribution travels from the model classes to the results reader as the JSON string of
:meth:`AlleleDistribution.to_json`; :func:`parse_distribution` reads it back.

References
----------
.. [1] N. Yax, P.-Y. Oudeyer, S. Palminteri, "PhyloLM: Inferring the Phylogeny of Large Language
   Models and Predicting their Performances in Benchmarks", ICLR 2025, arXiv:2404.04671.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from phylolm_harness.errors import InputError

ALLELE_CHARS = 4
"""Number of characters that make an allele."""


def allele_of(continuation: str) -> str:
    r"""Return the allele of a continuation: its first 4 characters after stripping.

    Leading spaces are stripped first, then leading newlines, as in [1]_; the order matters
    (``"\n x"`` keeps its space).

    Parameters
    ----------
    continuation : str
        Text a model wrote after the gene.

    Returns
    -------
    str
        At most :data:`ALLELE_CHARS` characters; shorter when the model stopped early.

    Examples
    --------
    >>> allele_of("  \nx = 1")
    'x = '
    >>> allele_of("\n x")
    ' x'
    """
    return continuation.lstrip(" ").lstrip("\n")[:ALLELE_CHARS]


@dataclass(frozen=True)
class TailDraws:
    """How the pruned part of an exact distribution was estimated by sampling.

    The branches an expansion prunes hold ``mass`` of the probability. Instead of leaving it
    unexpanded, ``count`` continuations are drawn from it, each carrying ``weight`` of the
    probability to its allele, with ``count`` a Poisson number of mean ``mass / weight``. The
    allele estimates are then unbiased, and ``Σ_a P̂(a)² - count · weight²`` (the square without
    each draw's pairing with itself) is an unbiased estimate of ``Σ_a P(a)²``: the draws form a
    Poisson process, whose distinct pairs have the product of the intensities as expectation.

    Attributes
    ----------
    mass : float
        Probability of the pruned branches (exact).
    count : int
        Number of draws.
    weight : float
        Probability each draw carries.
    """

    mass: float
    count: int
    weight: float

    @property
    def self_pairs(self) -> float:
        """``count · weight²``, what the draws add to ``Σ P̂²`` by pairing with themselves."""
        return self.count * self.weight * self.weight

    def to_dict(self) -> dict[str, float | int]:
        """``{"mass": ..., "count": ..., "weight": ...}``."""
        return {"mass": self.mass, "count": self.count, "weight": self.weight}

    @classmethod
    def from_dict(cls, data: object, source: str) -> TailDraws:
        """Read the form of :meth:`to_dict`, checking its values.

        Raises
        ------
        InputError
            If a field is missing or out of range.
        """
        try:
            if not isinstance(data, dict):
                raise TypeError(type(data).__name__)
            mass, count, weight = float(data["mass"]), data["count"], float(data["weight"])
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{source}: tail draws must be {{mass, count, weight}}") from error
        if (
            not isinstance(count, int)
            or isinstance(count, bool)
            or count < 0
            or not 0 <= mass <= 1 + 1e-6
            or not 0 < weight <= 1
        ):
            raise InputError(
                f"{source}: tail draws out of range (mass {mass}, count {count!r}, weight {weight})"
            )
        return cls(mass, count, weight)


@dataclass(frozen=True)
class AlleleDistribution:
    """Allele probabilities of one gene.

    Attributes
    ----------
    alleles : dict[str, float]
        Allele -> probability at the expansion temperature (an unbiased estimate when ``draws``
        is set: exact for the expanded branches plus the draws' weights).
    tail : float
        Probability mass that was neither expanded nor sampled.
    queries : int
        Number of next-token distributions computed (one model position each with a KV cache).
    draws : TailDraws or None
        How the pruned branches were sampled, if they were.
    """

    alleles: dict[str, float] = field(default_factory=dict)
    tail: float = 0.0
    queries: int = 0
    draws: TailDraws | None = None

    def to_json(self) -> str:
        """Serialise as ``{"alleles": {...}, "tail": t}`` with keys sorted.

        With tail draws, a ``"draws": {"mass": m, "count": n, "weight": w}`` entry is added.

        Returns
        -------
        str
        """
        data: dict[str, object] = {"alleles": dict(sorted(self.alleles.items())), "tail": self.tail}
        if self.draws is not None:
            data["draws"] = self.draws.to_dict()
        return json.dumps(data, ensure_ascii=False)


def parse_distribution(text: str, source: str = "response") -> AlleleDistribution:
    """Read an :class:`AlleleDistribution` back from its JSON form.

    Parameters
    ----------
    text : str
        A string written by :meth:`AlleleDistribution.to_json`.
    source : str
        Name used in error messages.

    Returns
    -------
    AlleleDistribution

    Raises
    ------
    InputError
        If the text is not such a JSON object.
    """
    try:
        data = json.loads(text)
        alleles = {str(k): float(v) for k, v in data["alleles"].items()}
        tail = float(data["tail"])
        draws_data = data.get("draws")
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise InputError(f"{source}: not an allele distribution ({error})") from error
    draws = None if draws_data is None else TailDraws.from_dict(draws_data, source)
    return AlleleDistribution(alleles=alleles, tail=tail, draws=draws)
