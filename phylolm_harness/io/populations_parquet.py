"""The columnar populations file: the rows of the JSON Lines form, in Parquet.

One row per model x gene, as in :mod:`~phylolm_harness.io.populations_file`: the names
``model``, ``genome``, ``fingerprint``, ``gene`` and ``mode`` (``"sampled"`` or ``"exact"``),
``probes`` (sampled rows; null on exact ones), ``tail`` (exact rows; 0 on sampled ones), the tail
draws ``draws_mass``, ``draws_count``, ``draws_weight`` (null where none), and two lists of one
length per row: ``alleles`` (the names) and ``values`` (counts or probabilities). Parquet
dictionary-encodes the repeated names, so ``tree`` writes this form (``populations.parquet``)
and reads it back in a fraction of the time and space of JSON Lines; ``pandas.read_parquet``,
DuckDB or Polars read it too.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.table import ObservationTable, offsets
from phylolm_harness.errors import InputError

__all__ = ["SCHEMA", "is_parquet", "parquet_chunks", "read_parquet_populations"]

MAGIC = b"PAR1"
"""The first four bytes of every Parquet file."""


def is_parquet(path: Path) -> bool:
    """Whether a file starts as Parquet files do (``False`` when it cannot be read)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False  # the reader names the file and what kept it from being read


_NAMES = ("model", "genome", "fingerprint", "gene")
SCHEMA = pa.schema(
    [
        *((name, pa.string()) for name in _NAMES),
        ("mode", pa.string()),
        ("probes", pa.float64()),
        ("tail", pa.float64()),
        ("draws_mass", pa.float64()),
        ("draws_count", pa.float64()),
        ("draws_weight", pa.float64()),
        ("alleles", pa.list_(pa.string())),
        ("values", pa.list_(pa.float64())),
    ]
)
"""Columns of the file, in order."""

ROWS_PER_GROUP = 256 * 1024
"""Rows of one Parquet row group (what is built in memory at a time when writing)."""


def parquet_chunks(
    observations: Sequence[GeneObservation], rows_per_group: int = ROWS_PER_GROUP
) -> Iterator[bytes]:
    """Yield a populations file in Parquet, a row group at a time.

    Rows are in the order of the JSON Lines form (model, genome, gene; alleles by name), so the
    same observations always give the same rows.
    """
    table = ObservationTable.of(observations)
    rows, alleles, values = table.in_file_order()
    sink = _Sink()
    with pq.ParquetWriter(sink, SCHEMA, compression="zstd") as writer:
        names = [pa.array(list(table.models)), *map(pa.array, zip(*table.genes, strict=True))]
        if not table.genes:
            names[1:] = [pa.array([], pa.string())] * 3
        allele_names = pa.array(list(table.allele_names), pa.string())
        for first in range(0, len(rows), rows_per_group):
            part = rows[first : first + rows_per_group]
            at = table.allele_positions(part)
            exact = table.exact[part]
            draws = table.draws[part]
            given = ~np.isnan(draws[:, 0])
            columns = [
                names[0].take(table.model[part]),
                *(column.take(table.gene[part]) for column in names[1:]),
                pa.array(np.where(exact, "exact", "sampled")),
                pa.array(table.probes[part], mask=exact),
                pa.array(np.where(exact, table.tail[part], 0.0)),
                *(pa.array(draws[:, k], mask=~given) for k in range(3)),
                _lists(allele_names.take(alleles[at]), table.sizes[part]),
                _lists(pa.array(values[at]), table.sizes[part]),
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=SCHEMA))
            yield sink.take()
    yield sink.take()


def _lists(flat: pa.Array, sizes: NDArray[np.int64]) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets(sizes).astype(np.int32)), flat)


class _Sink(io.RawIOBase):
    """A file that keeps what is written until it is taken (positions count everything)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(data)  # type: ignore[call-overload]
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def read_parquet_populations(path: Path) -> ObservationTable:
    """Read a Parquet populations file into a table, checking it as the JSON Lines reader does.

    Raises
    ------
    InputError
        Naming the file (and the row, 1-based, where one is at fault): not readable as Parquet,
        a missing column or one of another type, an empty or missing name, a NUL in a name, a
        mode other than ``sampled`` or ``exact``, a sampled row without a whole number of
        probes, an exact row without a finite tail, tail draws out of range, alleles and values
        of different lengths, a value that is not a finite number.
    """
    where = str(path)
    try:
        found = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise InputError(f"{where}: not a readable Parquet file ({error})") from None
    columns = {}
    for field in SCHEMA:
        if field.name not in found.column_names:
            raise InputError(f"{where}: not a populations file: no column {field.name!r}")
        column = found.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowException, ValueError):
                raise InputError(
                    f"{where}: column {field.name!r} holds {column.type}, expected {field.type}"
                ) from None
        columns[field.name] = column.combine_chunks()
    try:
        for column in columns.values():
            column.validate(full=True)  # UTF-8 of every string
    except pa.ArrowException as error:
        raise InputError(f"{where}: {error}") from None
    return _table(columns, where)


def _table(columns: dict[str, pa.Array], where: str) -> ObservationTable:
    n = len(columns["model"])

    def fail(rows: NDArray[np.bool_], what: str) -> None:
        if rows.any():
            raise InputError(f"{where}: row {int(np.argmax(rows)) + 1}: {what}")

    codes, names = {}, {}
    for name in _NAMES:
        column = columns[name]
        fail(_bool(pc.or_kleene(pc.is_null(column), pc.equal(pc.utf8_length(column), 0))),
             f"{', '.join(_NAMES)} must be non-empty strings")  # fmt: skip
        fail(_bool(pc.match_substring(column, "\0")),
             f"{name} holds a NUL character, which C-based readers of the outputs (CSV, Newick) "
             "cut names at: rename it")  # fmt: skip
        codes[name], names[name] = _encode(column)
    mode = columns["mode"]
    exact = _bool(pc.equal(mode, "exact"))
    fail(~exact & ~_bool(pc.equal(mode, "sampled")), "mode must be 'sampled' or 'exact'")
    probes = _floats(columns["probes"])
    fail(~exact & ~(np.isfinite(probes) & (probes == np.floor(probes))),
         "probes must be an integer")  # fmt: skip
    tail = _floats(columns["tail"])
    fail(exact & ~((tail > -1e300) & (tail < 1e300)), "tail must be a finite number")
    draws = np.stack([_floats(columns[f"draws_{k}"]) for k in ("mass", "count", "weight")], 1)
    given = ~np.isnan(draws)
    some = np.asarray(given.any(axis=1), dtype=bool)
    every = np.asarray(given.all(axis=1), dtype=bool)
    fail(some & ~every, "tail draws must be {mass, count, weight}")
    mass, count, weight = draws[every].T
    bad = ~((count >= 0) & (count == np.floor(count)) & (mass >= 0) & (mass <= 1 + 1e-6)
            & (weight > 0) & (weight <= 1))  # fmt: skip
    fail(np.isin(np.arange(n), np.flatnonzero(every)[bad]), "tail draws out of range")
    alleles, values = columns["alleles"], columns["values"]
    fail(_bool(pc.or_kleene(pc.is_null(alleles), pc.is_null(values))),
         "alleles must map strings to numbers")  # fmt: skip
    sizes = pc.list_value_length(alleles).to_numpy(zero_copy_only=False).astype(np.int64)
    other = pc.list_value_length(values).to_numpy(zero_copy_only=False).astype(np.int64)
    fail(sizes != other, "alleles and values differ in length")
    flat_names = pc.list_flatten(alleles)
    flat_values = _floats(pc.list_flatten(values))
    owner = np.repeat(np.arange(n), sizes)
    fail(np.isin(np.arange(n), owner[~np.isfinite(flat_values) | _bool(pc.is_null(flat_names))]),
         "alleles must map strings to numbers")  # fmt: skip
    allele, allele_names = _encode(flat_names)
    gene_key = np.stack([codes[k] for k in ("genome", "fingerprint", "gene")], axis=1)
    gene, first = _first_use(gene_key)
    genes = tuple(
        (names["genome"][g], names["fingerprint"][f], names["gene"][i])
        for g, f, i in gene_key[first].tolist()
    )
    return ObservationTable(
        models=tuple(names["model"]),
        model=codes["model"],
        genes=genes,
        gene=gene,
        exact=exact,
        probes=np.where(exact, np.nan, probes),
        tail=np.where(exact, tail, 0.0),
        draws=np.where(every[:, None], draws, np.nan),
        bounds=offsets(sizes),
        allele=allele,
        allele_names=tuple(allele_names),
        values=flat_values,
        sources=(where,),
        source=np.zeros(n, dtype=np.int64),
        line=np.arange(1, n + 1, dtype=np.int64),
    )


def _bool(array: pa.Array) -> NDArray[np.bool_]:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _floats(array: pa.Array) -> NDArray[np.float64]:
    return np.asarray(pc.fill_null(array, np.nan).to_numpy(zero_copy_only=False), np.float64)


def _encode(column: pa.Array) -> tuple[NDArray[np.int64], list[Any]]:
    """Codes numbered in order of first appearance, and the distinct values."""
    encoded = pc.dictionary_encode(column)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _first_use(keys: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return codes of the distinct rows of ``keys``, numbered in order of first use, and firsts.

    Columns are joined two at a time: a pair of codes below the row count is one int64, hashed by
    Arrow (whose codes follow first use).
    """
    codes = keys[:, 0] if keys.shape[1] else np.zeros(len(keys), np.int64)
    for column in keys.T[1:]:
        codes, _ = _encode(pa.array(codes * (int(column.max(initial=0)) + 1) + column))
    return codes, np.unique(codes, return_index=True)[1].astype(np.int64)
