"""Genomes: the sets of short text prefixes (genes) that every model continues.

A gene is the start of one document, cut at a random length of ``min_chars`` to
``max_chars - 1`` characters (20 to 99 by default, as in [1]_). A genome is a named tuple of
genes plus a fingerprint, the sha256 of its ids and texts, which every sample carries so that
alleles from different genomes, or from an edited genome, are never pooled.

Two genomes ship with the package, ``math`` and ``code`` (see ``genomes/PROVENANCE.md``);
:func:`build_genome` makes new ones from any collection of documents.

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
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from phylolm_harness.errors import InputError

__all__ = [
    "DEFAULT_GENOMES",
    "Gene",
    "Genome",
    "build_genome",
    "fingerprint_of",
    "load_genome",
    "read_dataset_documents",
    "read_documents",
    "write_genome",
]

DEFAULT_GENOMES: tuple[str, ...] = ("math", "code")
"""Names of the genomes shipped with the package."""

NEAR_DUPLICATE_PREFIX = 32
"""Two genes whose normalised texts share this many leading characters are near-duplicates."""

NEAR_DUPLICATE_JACCARD = 0.5
"""Two genes whose character 5-gram sets have at least this Jaccard index are near-duplicates."""

MAX_WHITESPACE_FRACTION = 0.5
"""Genes with a larger share of whitespace characters are skipped."""

_SHINGLE = 5
_WHITESPACE = re.compile(r"\s+")


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
    except json.JSONDecodeError as error:
        raise InputError(f"{label}: not valid JSON ({error})") from error
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
        genes.append(Gene(gene_id, text, source))
    _check_genes(genes, label)
    genome = Genome(data["name"], tuple(genes))
    if genome.fingerprint != data["fingerprint"]:
        raise InputError(
            f"{label}: fingerprint does not match the genes (the file was edited); "
            "rebuild it or write it with write_genome"
        )
    return genome


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


def read_documents(path: str | os.PathLike[str], field: str = "text") -> Iterator[tuple[str, str]]:
    """Read documents from a file or a directory.

    Parameters
    ----------
    path : str or path-like
        One of:

        * ``.jsonl``: one JSON object per line holding the text under ``field``; an object's
          string ``"source"`` key, when present, is used as its source;
        * ``.json``: a list of such objects, or of strings;
        * ``.txt`` or ``.md``: documents separated by blank lines;
        * a directory: every regular file below it is one document, in sorted path order;
          files that are not UTF-8 text (or hold NUL bytes) are left out.
    field : str, default "text"
        Key of the text in JSON objects.

    Yields
    ------
    (str, str)
        ``(source, text)``; the source is ``"path:line"`` (JSON Lines, text files),
        ``"path:index"`` (JSON) or the file path (directories).

    Raises
    ------
    InputError
        If the path does not exist, has an unknown suffix, or a record is malformed (the message
        names ``file:line``).
    """
    root = Path(path)
    if root.is_dir():
        yield from _read_directory(root)
        return
    if not root.is_file():
        raise InputError(f"{root}: no such file or directory")
    suffix = root.suffix.lower()
    if suffix == ".jsonl":
        yield from _read_jsonl(root, field)
    elif suffix == ".json":
        yield from _read_json(root, field)
    elif suffix in (".txt", ".md"):
        yield from _read_paragraphs(root)
    else:
        raise InputError(
            f"{root}: unknown document format (use .jsonl, .json, .txt, .md or a folder)"
        )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read as UTF-8 text ({error})") from error


def _document_of(item: Any, field: str, where: str) -> tuple[str, str]:
    """Return (source, text) of one JSON record."""
    if isinstance(item, str):
        return where, item
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected a JSON object or string")
    text = item.get(field)
    if not isinstance(text, str):
        raise InputError(f"{where}: no string field {field!r}")
    source = item.get("source")
    return (source if isinstance(source, str) and source else where), text


def _read_jsonl(path: Path, field: str) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: malformed JSON line ({error.msg})") from error
        if isinstance(item, str):
            raise InputError(f"{where}: expected a JSON object")
        yield _document_of(item, field, where)


def _read_json(path: Path, field: str) -> Iterator[tuple[str, str]]:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of documents")
    for index, item in enumerate(data):
        yield _document_of(item, field, f"{path}:{index}")


def _read_paragraphs(path: Path) -> Iterator[tuple[str, str]]:
    lines: list[str] = []
    start = 0
    for number, line in enumerate([*_read_text(path).splitlines(), ""], start=1):
        if line.strip():
            if not lines:
                start = number
            lines.append(line)
        elif lines:
            yield f"{path}:{start}", "\n".join(lines)
            lines = []


def _read_directory(root: Path) -> Iterator[tuple[str, str]]:
    for file in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "\x00" not in text:
            yield str(file), text


def read_dataset_documents(
    name: str, split: str, field: str = "text", config: str | None = None
) -> Iterator[tuple[str, str]]:
    """Stream documents from a data set on a hub, through ``datasets.load_dataset``.

    This is how the genomes of [1]_ were drawn (OpenWebMath, MBXP); it needs network access.

    Parameters
    ----------
    name : str
        Data set name, e.g. ``"open-web-math/open-web-math"``.
    split : str
        Split, e.g. ``"train"``.
    field : str, default "text"
        Column holding the text.
    config : str, optional
        Data set configuration.

    Yields
    ------
    (str, str)
        ``(f"{name}:{split}:{row}", text)``.

    Raises
    ------
    InputError
        If ``datasets`` is missing, the data set cannot be reached, or a row lacks ``field``.
    """
    try:
        import datasets
    except ImportError as error:
        raise InputError("reading a hub data set needs the 'datasets' package") from error
    try:
        rows = datasets.load_dataset(name, config, split=split, streaming=True)
        iterator = iter(rows)
    except Exception as error:  # noqa: BLE001 - the library raises many unrelated types
        raise InputError(f"data set {name} ({split}): cannot be loaded ({error})") from error
    for row_number, row in enumerate(iterator):
        text = row.get(field) if isinstance(row, dict) else None
        if not isinstance(text, str):
            raise InputError(f"data set {name} ({split}) row {row_number}: no text field {field!r}")
        yield f"{name}:{split}:{row_number}", text


def write_genome(genome: Genome, path: str | os.PathLike[str]) -> None:
    """Write a genome file atomically, one gene per line.

    The file is ``{"name", "fingerprint", "genes"}`` in that order, UTF-8 without ASCII escapes,
    with a trailing newline; identical genomes give identical bytes.

    Parameters
    ----------
    genome : Genome
        Genome to write.
    path : str or path-like
        Destination; its folder must exist. Written to a temporary file, then renamed.

    Raises
    ------
    InputError
        If the destination folder does not exist or is not writable.
    """
    head = {"name": genome.name, "fingerprint": genome.fingerprint}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "genes": [']
    records = [
        json.dumps({"id": gene.id, "text": gene.text, "source": gene.source}, ensure_ascii=False)
        for gene in genome.genes
    ]
    lines.append(",\n".join(records))
    lines.append("]}")
    content = "\n".join(lines) + "\n"
    target = Path(path)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as error:
        raise InputError(f"{target}: cannot write genome ({error})") from error
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
