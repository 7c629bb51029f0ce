"""Draw a genome from documents: one gene per document, near-duplicates skipped.

References
----------
.. [1] N. Yax, P.-Y. Oudeyer, S. Palminteri, "PhyloLM: Inferring the Phylogeny of Large Language
   Models and Predicting their Performances in Benchmarks", ICLR 2025, arXiv:2404.04671.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from phylolm_harness.errors import InputError
from phylolm_harness.genomes.genome import Gene, Genome

__all__ = [
    "MAX_WHITESPACE_FRACTION",
    "NEAR_DUPLICATE_JACCARD",
    "NEAR_DUPLICATE_PREFIX",
    "build_genome",
]

NEAR_DUPLICATE_PREFIX = 32
"""Two genes whose normalised texts share this many leading characters are near-duplicates."""

NEAR_DUPLICATE_JACCARD = 0.5
"""Two genes whose character 5-gram sets have at least this Jaccard index are near-duplicates."""

MAX_WHITESPACE_FRACTION = 0.5
"""Genes with a larger share of whitespace characters are skipped."""

_SHINGLE = 5
_WHITESPACE = re.compile(r"\s+")


def _normalise(text: str) -> str:
    """Lower-case and collapse whitespace, for near-duplicate tests."""
    return _WHITESPACE.sub(" ", text).strip().lower()


def _shingles(text: str) -> frozenset[str]:
    """Character 5-grams of a normalised text (the text itself when shorter)."""
    if len(text) <= _SHINGLE:
        return frozenset((text,))
    return frozenset(text[i : i + _SHINGLE] for i in range(len(text) - _SHINGLE + 1))


class _NearDuplicates:
    """Genes kept so far, indexed for the near-duplicate test.

    A new gene is a near-duplicate of a kept one when their normalised texts agree on the first
    ``min(NEAR_DUPLICATE_PREFIX, len(a), len(b))`` characters, or when the Jaccard index of
    their character 5-gram sets reaches :data:`NEAR_DUPLICATE_JACCARD`. Prefixes are looked up in
    sets and 5-grams through an inverted index, so a test costs time in the number of kept genes
    that share a 5-gram, not in the number kept.
    """

    def __init__(self) -> None:
        self._prefixes: set[str] = set()
        self._short: set[str] = set()
        self._sizes: list[int] = []
        self._postings: dict[str, list[int]] = {}

    def test_and_add(self, text: str) -> bool:
        """Return True if ``text`` is a near-duplicate; otherwise remember it and return False."""
        norm = _normalise(text)
        head = norm[:NEAR_DUPLICATE_PREFIX]
        if head in self._prefixes:
            return True
        if any(head[:k] in self._short for k in range(1, len(head) + 1)):
            return True
        shingles = _shingles(norm)
        shared: dict[int, int] = {}
        for shingle in shingles:
            for index in self._postings.get(shingle, ()):
                shared[index] = shared.get(index, 0) + 1
        for index, common in shared.items():
            union = len(shingles) + self._sizes[index] - common
            if common >= NEAR_DUPLICATE_JACCARD * union:
                return True
        self._prefixes.update(head[:k] for k in range(1, len(head) + 1))
        if len(head) < NEAR_DUPLICATE_PREFIX:
            self._short.add(head)
        for shingle in shingles:
            self._postings.setdefault(shingle, []).append(len(self._sizes))
        self._sizes.append(len(shingles))
        return False


def build_genome(
    documents: Iterable[tuple[str, str]],
    name: str,
    n_genes: int = 128,
    seed: int = 0,
    min_chars: int = 20,
    max_chars: int = 100,
) -> Genome:
    """Draw a genome from documents, one gene per document.

    The documents are shuffled with ``np.random.default_rng(seed)``; each in turn gives the gene
    made of its first ``L`` characters, ``L`` drawn uniformly from ``min_chars`` to
    ``max_chars - 1`` (one draw per document looked at, so the result depends only on the
    documents, their order and the seed). A document is skipped when it is shorter than
    ``min_chars``, when its gene is mostly whitespace, or when the gene is a near-duplicate of
    one already kept (same first 32 normalised characters, or character 5-gram Jaccard index of
    at least 0.5). Drawing stops at ``n_genes`` genes.

    Parameters
    ----------
    documents : iterable of (str, str)
        ``(source, text)`` pairs, for instance from :func:`read_documents`.
    name : str
        Genome name; gene ids are ``f"{name}-{i:03d}"`` (more digits for 1000 genes or more).
    n_genes : int, default 128
        Number of genes.
    seed : int, default 0
        Seed of the shuffle and of the lengths.
    min_chars, max_chars : int, default 20 and 100
        Gene lengths are drawn from ``[min_chars, max_chars)``.

    Returns
    -------
    Genome
        ``n_genes`` genes, each from a different document.

    Raises
    ------
    InputError
        If the arguments are out of range or fewer than ``n_genes`` documents are usable.

    Examples
    --------
    >>> docs = [(f"doc{i}", f"Document number {i}: " + "abcdefghij"[i] * 30) for i in range(10)]
    >>> genome = build_genome(docs, "demo", n_genes=3, seed=1)
    >>> [gene.id for gene in genome.genes]
    ['demo-000', 'demo-001', 'demo-002']
    >>> all(20 <= len(gene.text) < 100 for gene in genome.genes)
    True
    """
    if not name:
        raise InputError("genome name must not be empty")
    if n_genes < 1:
        raise InputError(f"n_genes must be at least 1, got {n_genes}")
    if not 1 <= min_chars < max_chars:
        raise InputError(f"need 1 <= min_chars < max_chars, got {min_chars} and {max_chars}")
    pool = list(documents)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool))
    lengths = rng.integers(min_chars, max_chars, size=len(pool))
    width = max(3, len(str(n_genes - 1)))
    genes: list[Gene] = []
    kept = _NearDuplicates()
    for index, length in zip(order.tolist(), lengths.tolist(), strict=True):
        source, text = pool[index]
        if len(text) < min_chars:
            continue
        gene_text = text[:length]
        spaces = sum(char.isspace() for char in gene_text)
        if spaces > MAX_WHITESPACE_FRACTION * len(gene_text):
            continue
        if kept.test_and_add(gene_text):
            continue
        genes.append(Gene(f"{name}-{len(genes):0{width}d}", gene_text, source))
        if len(genes) == n_genes:
            return Genome(name, tuple(genes))
    raise InputError(
        f"genome {name!r}: only {len(genes)} usable documents out of {len(pool)} "
        f"(need {n_genes}; documents must have at least {min_chars} characters and not repeat)"
    )
