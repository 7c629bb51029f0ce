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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.table import ObservationTable, offsets, ranks
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

    Names are read as Parquet stores them, dictionary-encoded, so each distinct name is decoded
    (and its UTF-8 checked) once.

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
        schema = pq.read_schema(path)
        missing = [name for name in SCHEMA.names if name not in schema.names]
        if missing:
            raise InputError(f"{where}: not a populations file: no column {missing[0]!r}")
        found = pq.read_table(
            path, columns=SCHEMA.names, read_dictionary=[*_NAMES, "mode", _ALLELE_PATH]
        )
        return _Rows(found, where).table()
    except (pa.ArrowException, OSError, ValueError) as error:  # a damaged file
        text = " ".join(str(error).split())
        cut = text if len(text) <= 200 else text[:200] + "..."
        raise InputError(f"{where}: not a readable Parquet file ({cut})") from None


_ALLELE_PATH = "alleles.list.element"
"""The alleles' strings inside their list column, as Parquet names it."""


def _one_of(*tests: Callable[[pa.DataType], bool]) -> Callable[[pa.DataType], bool]:
    """Return a check of a column's type: one of ``tests`` holds for it (or its dictionary's)."""

    def check(kind: pa.DataType) -> bool:
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        return any(test(kind) for test in tests)

    return check


# A column of nulls only (pa.null()) is taken: its rows are refused, or read as absent values.
_is_text = _one_of(
    pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view, pa.types.is_null
)
_is_number = _one_of(
    pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_null
)
_is_list = _one_of(
    pa.types.is_list,
    pa.types.is_large_list,
    pa.types.is_list_view,
    pa.types.is_large_list_view,
    pa.types.is_fixed_size_list,
)


class _Rows:
    """The columns of one file, checked and turned into a table.

    Every check marks the rows it refuses; the first row refused by any of them is named (as
    the JSON Lines reader names the first line at fault).
    """

    def __init__(self, found: pa.Table, where: str) -> None:
        self.found, self.where, self.n = found, where, found.num_rows
        self.faults: list[tuple[int, str]] = []

    def mark(self, rows: NDArray[np.bool_], what: str) -> None:
        """Remember the first of ``rows`` as at fault for ``what``."""
        if rows.any():
            self.faults.append((int(np.argmax(rows)), what))

    def refuse(self) -> None:
        """Raise for the first row at fault, if any."""
        if self.faults:
            row, what = min(self.faults, key=lambda fault: fault[0])
            raise InputError(f"{self.where}: row {row + 1}: {what}")

    def column(self, name: str, check: Callable[[pa.DataType], bool], what: str) -> pa.Array:
        """One column as one array, refused unless ``check`` accepts its type."""
        column = self.found.column(name)
        if not check(column.type):
            raise InputError(f"{self.where}: column {name!r} holds {column.type}, expected {what}")
        if pa.types.is_dictionary(column.type):
            column = column.unify_dictionaries()
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)

    def numbers(self, name: str) -> NDArray[np.float64]:
        """Return a column of numbers as float64, NaN where null (integers past 2**53 rounded)."""
        array = self.column(name, _is_number, "numbers")
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        return _floats(array.cast(pa.float64(), safe=False))

    def names(self, array: pa.Array, what: str) -> tuple[NDArray[np.int64], list[str]]:
        """Codes in order of first use (-1: null) and the distinct strings of a string array."""
        if not pa.types.is_dictionary(array.type):
            array = pc.dictionary_encode(array)
        dictionary = array.dictionary.cast(pa.string())
        try:
            dictionary.validate(full=True)  # UTF-8 of every distinct string
        except pa.ArrowException as error:
            raise InputError(f"{self.where}: {what}: {error}") from None
        indices = array.indices
        recoded = pc.dictionary_encode(indices)  # numbered in order of first use
        codes = recoded.indices.to_numpy(zero_copy_only=False)
        return (
            np.where(np.isnan(codes), -1, codes).astype(np.int64)
            if indices.null_count
            else codes.astype(np.int64),
            dictionary.take(recoded.dictionary).to_pylist(),
        )

    def table(self) -> ObservationTable:
        n = self.n
        codes, names = {}, {}
        for name in _NAMES:
            codes[name], names[name] = self.names(self.column(name, _is_text, "strings"), name)
            empty = np.array([not text for text in names[name]] + [True])  # -1: null
            self.mark(empty[codes[name]], f"{', '.join(_NAMES)} must be non-empty strings")
            nul = np.array(["\0" in text for text in names[name]] + [False])
            self.mark(nul[codes[name]], f"{name} holds a NUL character, which C-based readers of "
                      "the outputs (CSV, Newick) cut names at: rename it")  # fmt: skip
        mode_codes, modes = self.names(self.column("mode", _is_text, "strings"), "mode")
        known = np.array([m in ("sampled", "exact") for m in modes] + [False])
        self.mark(~known[mode_codes], "mode must be 'sampled' or 'exact'")
        exact = np.array([m == "exact" for m in modes] + [False])[mode_codes]
        probes, tail = self.numbers("probes"), self.numbers("tail")
        self.mark(~exact & ~(np.isfinite(probes) & (probes == np.floor(probes))),
                  "probes must be an integer")  # fmt: skip
        self.mark(exact & ~((tail > -1e300) & (tail < 1e300)), "tail must be a finite number")
        draws = np.stack([self.numbers(f"draws_{k}") for k in _DRAWS], axis=1)
        given = ~np.isnan(draws)
        every = np.asarray(given.all(axis=1), dtype=bool) & exact  # sampled rows: not read
        some = np.asarray(given.any(axis=1), dtype=bool) & exact
        self.mark(some & ~every, "tail draws must be {mass, count, weight}")
        mass, count, weight = draws.T
        in_range = (np.isfinite(count) & (count >= 0) & (count == np.floor(count)) & (mass >= 0)
                    & (mass <= 1 + 1e-6) & (weight > 0) & (weight <= 1))  # fmt: skip
        self.mark(every & ~in_range, "tail draws out of range")
        alleles = self.column("alleles", lambda t: _is_list(t) and _is_text(t.value_type),
                              "lists of strings")  # fmt: skip
        values = self.column("values", lambda t: _is_list(t) and _is_number(t.value_type),
                             "lists of numbers")  # fmt: skip
        if not pa.types.is_list(alleles.type):
            alleles = alleles.cast(pa.list_(alleles.type.value_type))
        values = values.cast(pa.list_(pa.float64()), safe=False)
        self.mark(_nulls(alleles) | _nulls(values), "alleles must map strings to numbers")
        bounds = _offsets(alleles)
        self.mark(
            np.diff(bounds) != np.diff(_offsets(values)), "alleles and values differ in length"
        )
        self.refuse()
        allele, allele_names = self.names(pc.list_flatten(alleles), "alleles")
        flat = _floats(pc.list_flatten(values))
        faults = np.flatnonzero((allele < 0) | ~np.isfinite(flat))
        if len(faults):
            row = np.searchsorted(bounds, faults[0], side="right") - 1
            self.mark(np.arange(n) == row, "alleles must map strings to numbers")
        self.mark(_repeated(allele, allele_names, bounds), "an allele given twice in one row")
        self.refuse()
        keys = np.stack([codes[k] for k in ("genome", "fingerprint", "gene")], axis=1)
        gene, first = _first_use(keys)
        genes = tuple(
            (names["genome"][g], names["fingerprint"][f], names["gene"][i])
            for g, f, i in keys[first].tolist()
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
            bounds=bounds,
            allele=allele,
            allele_names=tuple(allele_names),
            values=flat,
            sources=(self.where,),
            source=np.zeros(n, dtype=np.int64),
            line=np.arange(1, n + 1, dtype=np.int64),
        )


def _repeated(
    allele: NDArray[np.int64], names: Sequence[str], bounds: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """Rows holding one allele twice.

    Rows whose alleles are in name order (as this package writes them) hold no repeat when the
    names strictly increase along each row: one pass. Other rows are sorted to be sure.
    """
    n = len(bounds) - 1
    rows = np.zeros(n, dtype=bool)
    if len(allele) < 2:
        return rows
    ranked = ranks(names).astype(np.int32)[allele]
    out_of_order = ranked[1:] <= ranked[:-1]
    del ranked
    starts = bounds[1:-1]
    out_of_order[starts[(starts > 0) & (starts < len(allele))] - 1] = False  # a new row begins
    unsorted = np.flatnonzero(out_of_order) + 1
    if not len(unsorted):
        return rows
    owner = np.repeat(np.arange(n), np.diff(bounds))
    suspect = np.isin(owner, owner[unsorted])
    kept, holder = allele[suspect], owner[suspect]
    order = np.lexsort((kept, holder))
    kept, holder = kept[order], holder[order]
    twice = (holder[1:] == holder[:-1]) & (kept[1:] == kept[:-1])
    rows[holder[1:][twice]] = True
    return rows


_DRAWS = ("mass", "count", "weight")


def _floats(array: pa.Array) -> NDArray[np.float64]:
    """Numbers as float64, NaN where null."""
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _nulls(array: pa.Array) -> NDArray[np.bool_]:
    return np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _offsets(lists: pa.Array) -> NDArray[np.int64]:
    """Where each row's elements start in the flattened list, and where the last ends."""
    offsets = np.asarray(lists.offsets.to_numpy(), dtype=np.int64)
    rebased: NDArray[np.int64] = offsets - offsets[0]
    return rebased


def _first_use(keys: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return codes of the distinct rows of ``keys``, numbered in order of first use, and firsts.

    Columns are joined two at a time: a pair of codes below the row count is one int64, hashed by
    Arrow (whose codes follow first use).
    """
    codes = keys[:, 0] if keys.shape[1] else np.zeros(len(keys), np.int64)
    for column in keys.T[1:]:
        pairs = pc.dictionary_encode(pa.array(codes * (int(column.max(initial=0)) + 1) + column))
        codes = pairs.indices.to_numpy().astype(np.int64)
    return codes, np.unique(codes, return_index=True)[1].astype(np.int64)
