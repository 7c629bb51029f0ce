"""The allele: what a model writes first after a gene.

References
----------
.. [1] N. Yax, P.-Y. Oudeyer, S. Palminteri, "PhyloLM: Inferring the Phylogeny of Large Language
   Models and Predicting their Performances in Benchmarks", ICLR 2025, arXiv:2404.04671.
"""

from __future__ import annotations

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
