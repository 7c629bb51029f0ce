"""Genomes: the sets of short text prefixes (genes) that every model continues.

A gene is the start of one document, cut at a random length of ``min_chars`` to
``max_chars - 1`` characters (20 to 99 by default, as in [1]_). A genome is a named tuple of
genes plus a fingerprint, the sha256 of its ids and texts, which every sample carries so that
alleles from different genomes, or from an edited genome, are never pooled.

Two genomes ship with the package, ``math`` and ``code`` (see ``genomes/PROVENANCE.md``);
:func:`phylolm_harness.genomes.build.build_genome` makes new ones from any collection of
documents.

References
----------
.. [1] N. Yax, P.-Y. Oudeyer, S. Palminteri, "PhyloLM: Inferring the Phylogeny of Large Language
   Models and Predicting their Performances in Benchmarks", ICLR 2025, arXiv:2404.04671.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from phylolm_harness.errors import InputError
from phylolm_harness.io.files import write_file
from phylolm_harness.io.reading import text as checked

__all__ = [
    "DEFAULT_GENOMES",
    "Gene",
    "Genome",
    "fingerprint_of",
    "format_genome",
    "load_genome",
    "write_genome",
]

DEFAULT_GENOMES: tuple[str, ...] = ("math", "code")
"""Names of the genomes shipped with the package."""


@dataclass(frozen=True)
class Gene:
    """One gene: a short text prefix that models are asked to continue.

    Attributes
    ----------
    id : str
        Identifier, unique within its genome (``"math-000"``).
    text : str
        The prefix itself, sent to models verbatim.
    source : str
        Where the text comes from (``"package==version:path"``, ``"file.jsonl:12"``); informative
        only, not part of the fingerprint.
    """

    id: str
    text: str
    source: str = ""


@dataclass(frozen=True)
class Genome:
    """A named, ordered set of genes.

    Attributes
    ----------
    name : str
        Genome name (``"math"``, ``"code"`` or a user's own).
    genes : tuple of Gene
        The genes, in order; ids are unique and texts non-empty.

    Raises
    ------
    InputError
        If ids repeat or are empty, or a text is empty.
    """

    name: str
    genes: tuple[Gene, ...]

    def __post_init__(self) -> None:
        _check_genes(self.genes, f"genome {self.name!r}")

    @cached_property
    def fingerprint(self) -> str:
        """``"sha256:<hex>"`` of the genes' ids and texts (see :func:`fingerprint_of`)."""
        return fingerprint_of(self.genes)


def fingerprint_of(genes: Sequence[Gene]) -> str:
    """Return the fingerprint of a sequence of genes.

    The fingerprint is the sha256 of the canonical JSON of ``[[id, text], ...]``
    (``ensure_ascii=False``, separators ``","`` and ``":"``), encoded as UTF-8. Sources are left
    out, so re-attributing a gene does not change it; any change to an id or text does.

    Parameters
    ----------
    genes : sequence of Gene
        Genes in genome order.

    Returns
    -------
    str
        ``"sha256:"`` followed by 64 hexadecimal digits.

    Examples
    --------
    >>> fingerprint_of([Gene("g-0", "x = ")])[:7]
    'sha256:'
    >>> fingerprint_of([Gene("g-0", "x")]) == fingerprint_of([Gene("g-0", "x", "elsewhere")])
    True
    """
    canonical = json.dumps(
        [[gene.id, gene.text] for gene in genes], ensure_ascii=False, separators=(",", ":")
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_genes(genes: Sequence[Gene], where: str) -> None:
    """Raise InputError unless ids are unique and non-empty and texts non-empty."""
    if not genes:
        raise InputError(f"{where}: no genes")
    seen: set[str] = set()
    for gene in genes:
        if not gene.id:
            raise InputError(f"{where}: a gene has an empty id")
        if gene.id in seen:
            raise InputError(f"{where}: gene id {gene.id!r} appears more than once")
        if not gene.text:
            raise InputError(f"{where}: gene {gene.id!r} has an empty text")
        seen.add(gene.id)


def _genome_path(name_or_path: str | os.PathLike[str]) -> tuple[Path | None, str]:
    """Return the file to read (None for a shipped genome) and a label for messages."""
    path = Path(name_or_path)
    if path.is_file():
        return path, str(path)
    if str(name_or_path) in DEFAULT_GENOMES:
        return None, f"shipped genome {name_or_path}"
    shipped = ", ".join(DEFAULT_GENOMES)
    raise InputError(f"{name_or_path}: no such genome file (shipped genomes: {shipped})")


def load_genome(name_or_path: str | os.PathLike[str]) -> Genome:
    """Load a shipped genome by name, or a genome JSON file by path.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"math"`` or ``"code"`` for the shipped genomes, otherwise the path of a genome file
        ``{"name": ..., "fingerprint": "sha256:...", "genes": [{"id", "text", "source"}, ...]}``.
        An existing file takes precedence over a shipped name.

    Returns
    -------
    Genome
        The genome; its fingerprint equals the one stored in the file.

    Raises
    ------
    InputError
        If the file is missing or not JSON, a key is missing or has the wrong type, ids repeat,
        a text is empty, or the stored fingerprint does not match the genes (the file was edited).

    Examples
    --------
    >>> genome = load_genome("math")
    >>> genome.name, len(genome.genes)
    ('math', 128)
    """
    path, label = _genome_path(name_or_path)
    try:
        if path is None:
            resource = importlib.resources.files("phylolm_harness.genomes") / f"{name_or_path}.json"
            raw = resource.read_text(encoding="utf-8")
        else:
            raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{label}: cannot read genome ({error})") from error
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise InputError(f"{label}: not valid JSON ({error})") from None
    return _genome_from_json(data, label)


def _genome_from_json(data: Any, label: str) -> Genome:
    """Validate a parsed genome file and turn it into a Genome."""
    if not isinstance(data, dict):
        raise InputError(f"{label}: a genome file holds a JSON object")
    for key, kind in (("name", str), ("fingerprint", str), ("genes", list)):
        if not isinstance(data.get(key), kind):
            raise InputError(f"{label}: missing or invalid {key!r}")
    genes = []
    for index, item in enumerate(data["genes"]):
        if not isinstance(item, dict):
            raise InputError(f"{label}: gene #{index} is not a JSON object")
        gene_id, text, source = item.get("id"), item.get("text"), item.get("source", "")
        if not isinstance(gene_id, str) or not isinstance(text, str):
            raise InputError(f"{label}: gene #{index} needs string 'id' and 'text'")
        if not isinstance(source, str):
            raise InputError(f"{label}: gene {gene_id!r} has a non-string 'source'")
        where = f"{label}: gene #{index}"
        genes.append(Gene(checked(gene_id, where, "id"), checked(text, where, "text"), source))
    _check_genes(genes, label)
    genome = Genome(data["name"], tuple(genes))
    if genome.fingerprint != data["fingerprint"]:
        raise InputError(
            f"{label}: fingerprint does not match the genes (the file was edited); "
            "rebuild it or write it with write_genome"
        )
    return genome


def format_genome(genome: Genome) -> str:
    """Serialise a genome: ``{"name", "fingerprint", "genes"}`` in that order, one gene per line.

    UTF-8 without ASCII escapes, with a trailing newline; identical genomes give identical text.
    """
    head = {"name": genome.name, "fingerprint": genome.fingerprint}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "genes": [']
    records = [
        json.dumps({"id": gene.id, "text": gene.text, "source": gene.source}, ensure_ascii=False)
        for gene in genome.genes
    ]
    lines.append(",\n".join(records))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def write_genome(genome: Genome, path: str | os.PathLike[str]) -> None:
    """Write a genome file (see :func:`format_genome`) atomically.

    Raises
    ------
    InputError
        If the destination cannot be written (not writable, or a folder).
    """
    write_file(Path(path), format_genome(genome).encode("utf-8"))
