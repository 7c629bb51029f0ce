"""The plain populations file: allele observations as JSON Lines.

One line per model x gene, so alleles collected outside lm-eval (another tool, an API logger) can
join a tree, and collections made on many machines can be concatenated::

    {"model": "m", "genome": "math", "fingerprint": "sha256:...", "gene": "math-000",
     "mode": "sampled", "probes": 32, "alleles": {"The ": 20, "x = ": 12}}
    {"model": "m", "genome": "math", "fingerprint": "sha256:...", "gene": "math-001",
     "mode": "exact", "tail": 0.03, "alleles": {"The ": 0.6, "x = ": 0.37}}

An exact line whose pruned branches were sampled adds ``"draws": {"mass": m, "count": n,
"weight": w}`` (:class:`~phylolm_harness.core.alleles.TailDraws`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from phylolm_harness.core.alleles import TailDraws
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.table import ObservationTable, TableBuilder, as_whole
from phylolm_harness.errors import InputError
from phylolm_harness.io.reading import json_values, text

_KEYS = ("model", "genome", "fingerprint", "gene")


def read_populations_file(path: Path) -> ObservationTable:
    """Read a populations file, validating every line, into a table (one pass, flat arrays).

    Raises
    ------
    InputError
        Naming ``file:line`` for a malformed line, a missing key or a bad value.
    """
    builder = TableBuilder()
    source = str(path)
    for number, row, plain in json_values(path, "populations file"):
        where = f"{source}:{number}"
        common, alleles, probes, tail, draws = _checked(row, where, plain)
        gene = (common["genome"], common["fingerprint"], common["gene"])
        builder.row(common["model"], gene, alleles, probes, tail, draws, source, number)
    return builder.table()


def parse_observation(row: Any, where: str) -> GeneObservation:
    """Validate one line of a populations file (a decoded JSON value) into an observation."""
    common, alleles, probes, tail, draws = _checked(row, where, plain=False)
    return GeneObservation(
        alleles=alleles, probes=probes, tail=tail, source=where, draws=draws, **common
    )


def _checked(
    row: Any, where: str, plain: bool
) -> tuple[dict[str, str], dict[str, Any], int | None, float, TailDraws | None]:
    """Check a line; return its keys, alleles, probes (``None``: exact), tail and draws.

    ``plain``: the line was strict JSON, so its strings need no check for lone surrogates.
    """
    if type(row) is not dict:
        raise InputError(f"{where}: expected a JSON object")
    missing = [k for k in (*_KEYS, "alleles") if k not in row]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}")
    common = {k: row[k] for k in _KEYS}
    if not all(type(v) is str and v for v in common.values()):
        raise InputError(f"{where}: {', '.join(_KEYS)} must be non-empty strings")
    alleles = row["alleles"]
    if type(alleles) is not dict or not _NUMBERS.issuperset(map(type, alleles.values())):
        raise InputError(f"{where}: alleles must map strings to numbers")
    if not plain:
        _check_text(row, alleles, where)
    mode = row.get("mode", "sampled")
    if mode == "sampled":
        probes = row.get("probes", sum(alleles.values()))
        if type(probes) is not int:
            raise InputError(f"{where}: probes must be an integer")
        return common, alleles, probes, 0.0, None
    if mode == "exact":
        tail = row.get("tail", 0.0)
        if not _is_number(tail) or not -1e300 < tail < 1e300:
            raise InputError(f"{where}: tail must be a finite number")
        draws = row.get("draws")
        return (
            common,
            alleles,
            None,
            float(tail),
            None if draws is None else TailDraws.from_dict(draws, where),
        )
    raise InputError(f"{where}: mode must be 'sampled' or 'exact', got {mode!r}")


_NUMBERS = frozenset({int, float})


def _check_text(row: dict[str, Any], alleles: dict[str, Any], where: str) -> None:
    """Refuse names no output file can hold; one encoding of the whole line in the usual case."""
    try:
        "".join([*(row[k] for k in _KEYS), *alleles]).encode("utf-8")
    except UnicodeEncodeError:
        for key in _KEYS:
            text(row[key], where, key)
        for allele in alleles:
            text(allele, where, "allele")


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBERS  # JSON numbers; never a bool


def format_populations_file(observations: Sequence[GeneObservation]) -> str:
    """Serialise observations, sorted by model, genome and gene, one JSON object per line."""
    return b"".join(populations_chunks(observations)).decode("utf-8")


def populations_chunks(
    observations: Sequence[GeneObservation], rows_per_chunk: int = 20_000
) -> Iterator[bytes]:
    """Yield the file of :func:`format_populations_file` as UTF-8 pieces of many lines."""
    rows = observation_rows(observations)
    while chunk := list(itertools.islice(rows, rows_per_chunk)):
        yield b"".join([orjson.dumps(row) + b"\n" for row in chunk])


def observation_rows(observations: Sequence[GeneObservation]) -> Iterator[dict[str, Any]]:
    """Observations as populations-file rows, sorted by model, genome and gene.

    Alleles are sorted too; sampled counts are written as integers.
    """
    table = ObservationTable.of(observations)
    if not len(table):
        return
    model_rank = _ranks(table.models)[table.model]
    rows = np.lexsort((_ranks(table.genes)[table.gene], model_rank))
    owner = np.repeat(np.arange(len(table)), table.sizes)
    by_name = np.lexsort((_ranks(table.allele_names)[table.allele], owner))
    names = np.array(table.allele_names, dtype=object)[table.allele[by_name]].tolist()
    values = table.values[by_name].tolist()
    bounds, exact, tail = table.bounds.tolist(), table.exact.tolist(), table.tail.tolist()
    probes, draws = table.probes.tolist(), table.draws.tolist()
    model_of, gene_of = table.model.tolist(), table.gene.tolist()
    for i in rows.tolist():
        genome, fingerprint, gene = table.genes[gene_of[i]]
        row: dict[str, Any] = {
            "model": table.models[model_of[i]],
            "genome": genome,
            "fingerprint": fingerprint,
            "gene": gene,
        }
        start, stop = bounds[i], bounds[i + 1]
        if exact[i]:
            row.update(mode="exact", tail=tail[i])
            mass, count, weight = draws[i]
            if mass == mass:
                row["draws"] = TailDraws(mass, int(count), weight).to_dict()
            row["alleles"] = dict(zip(names[start:stop], values[start:stop], strict=True))
        else:
            row.update(mode="sampled", probes=as_whole(probes[i]))
            row["alleles"] = dict(
                zip(names[start:stop], map(as_whole, values[start:stop]), strict=True)
            )
        yield row


def _ranks(keys: Sequence[Any]) -> NDArray[np.int64]:
    """Return the rank of each key in sorted order."""
    rank = np.empty(len(keys), dtype=np.int64)
    rank[sorted(range(len(keys)), key=keys.__getitem__)] = np.arange(len(keys))
    return rank
