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
class AlleleDistribution:
    """Allele probabilities of one gene.

    Attributes
    ----------
    alleles : dict[str, float]
        Allele -> probability at the expansion temperature.
    tail : float
        Probability mass that was not expanded to an allele.
    queries : int
        Number of next-token distributions computed (one model position each with a KV cache).
    """

    alleles: dict[str, float] = field(default_factory=dict)
    tail: float = 0.0
    queries: int = 0

    def to_json(self) -> str:
        """Serialise as ``{"alleles": {...}, "tail": t}`` with keys sorted.

        Returns
        -------
        str
        """
        return json.dumps(
            {"alleles": dict(sorted(self.alleles.items())), "tail": self.tail},
            ensure_ascii=False,
        )


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
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise InputError(f"{source}: not an allele distribution ({error})") from error
    return AlleleDistribution(alleles=alleles, tail=tail)
