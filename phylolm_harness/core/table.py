"""Many allele observations as flat arrays: what the readers build and the populations read.

One :class:`GeneObservation` object per model x gene costs about a kilobyte; ten thousand models on
256 genes are 2.5 million of them. An :class:`ObservationTable` holds the same content in a few
arrays (a code per model, gene and allele, one value per allele), builds in one pass over a file
(:class:`TableBuilder`) and still reads as a sequence of observations where one is needed (an
error message, a regression check on a few models).

Examples
--------
>>> obs = [GeneObservation("m", "g", "f", "1", {"ab": 3, "cd": 1}, 4)]
>>> table = ObservationTable.of(obs)
>>> len(table), table[0].alleles, table.owner.tolist()
(1, {'ab': 3, 'cd': 1}, [0, 0])
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast, overload

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.alleles import TailDraws
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.errors import InputError

__all__ = [
    "GeneKey",
    "ObservationTable",
    "RowBlock",
    "TableBuilder",
    "as_whole",
    "offsets",
    "positions",
    "ranks",
]

GeneKey = tuple[str, str, str]
"""``(genome, fingerprint, gene id)``."""


@dataclass(frozen=True)
class RowBlock:
    """Checked rows for :meth:`TableBuilder.rows`, one entry per row unless said otherwise."""

    models: list[str]
    genes: list[GeneKey]
    alleles: list[dict[str, Any]]
    values: NDArray[np.float64]
    """Every row's allele values, row after row."""
    exact: NDArray[np.bool_]
    probes: NDArray[np.float64]
    """NaN for an exact row."""
    tail: NDArray[np.float64]
    draws: NDArray[np.float64]
    """``(rows, 3)``: mass, count and weight of tail draws; NaN where none."""
    lines: NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class ObservationTable(Sequence[GeneObservation]):
    """Allele observations of models on genes, one row per model x gene, as arrays.

    Attributes
    ----------
    models : tuple of str
        Distinct model labels; ``model`` holds an index into it per row.
    genes : tuple of GeneKey
        Distinct genes; ``gene`` holds an index into it per row.
    exact : ndarray of bool
        Whether each row is an exact distribution (else sampled).
    probes : ndarray of float64
        Sample size of sampled rows (NaN for exact ones, and for a size that is not a number).
    tail : ndarray of float64
        Unexpanded mass of exact rows (0 for sampled ones).
    draws : ndarray of float64
        ``(n_rows, 3)``: mass, count and weight of the tail draws, NaN where there were none.
    bounds : ndarray of int64
        ``n_rows + 1`` offsets: the alleles of row ``i`` are ``bounds[i]:bounds[i + 1]``.
    allele : ndarray of int64
        Index into ``allele_names`` of each allele, numbered in order of first appearance.
    allele_names : tuple of str
        Distinct alleles.
    values : ndarray of float64
        Count (sampled) or probability (exact) of each allele.
    sources : tuple of str
        Files (or other sources) the rows came from; ``source`` holds an index per row.
    line : ndarray of int64
        Line of each row in its source, 0 when the source is not a line-numbered file.
    """

    models: tuple[str, ...]
    model: NDArray[np.int64]
    genes: tuple[GeneKey, ...]
    gene: NDArray[np.int64]
    exact: NDArray[np.bool_]
    probes: NDArray[np.float64]
    tail: NDArray[np.float64]
    draws: NDArray[np.float64]
    bounds: NDArray[np.int64]
    allele: NDArray[np.int64]
    allele_names: tuple[str, ...]
    values: NDArray[np.float64]
    sources: tuple[str, ...]
    source: NDArray[np.int64]
    line: NDArray[np.int64]
    objects: Sequence[GeneObservation] | None = field(default=None, repr=False)
    """The observations the table was made from, when it was (returned as they were given)."""

    @classmethod
    def of(cls, observations: Sequence[GeneObservation]) -> ObservationTable:
        """Return the table of a sequence of observations (a table is returned as it is)."""
        if isinstance(observations, ObservationTable):
            return observations
        builder = TableBuilder()
        for obs in observations:
            builder.add(obs, obs.source)
        return builder.table(objects=tuple(observations))

    @classmethod
    def concat(cls, tables: Sequence[ObservationTable]) -> ObservationTable:
        """Join tables row after row (codes renumbered, alleles still in order of first use)."""
        if len(tables) == 1:
            return tables[0]
        if not tables:
            return TableBuilder().table()
        names: list[dict[Any, int]] = [{}, {}, {}, {}]  # models, genes, alleles, sources
        columns: list[list[NDArray[np.int64]]] = [[], [], [], []]
        for table in tables:
            own = (table.models, table.genes, table.allele_names, table.sources)
            codes = (table.model, table.gene, table.allele, table.source)
            for known, found, column, code in zip(names, own, columns, codes, strict=True):
                renumber = np.array([known.setdefault(x, len(known)) for x in found], np.int64)
                column.append(renumber[code] if len(renumber) else code)
        sizes = np.concatenate([t.sizes for t in tables])
        objects = [t.objects for t in tables]
        return cls(
            tuple(names[0]),
            np.concatenate(columns[0]),
            tuple(names[1]),
            np.concatenate(columns[1]),
            np.concatenate([t.exact for t in tables]),
            np.concatenate([t.probes for t in tables]),
            np.concatenate([t.tail for t in tables]),
            np.concatenate([t.draws for t in tables]),
            offsets(sizes),
            np.concatenate(columns[2]),
            tuple(names[2]),
            np.concatenate([t.values for t in tables]),
            tuple(names[3]),
            np.concatenate(columns[3]),
            np.concatenate([t.line for t in tables]),
            None if any(o is None for o in objects) else [o for t in objects for o in t or ()],
        )

    def __len__(self) -> int:
        return len(self.model)

    @overload
    def __getitem__(self, index: int) -> GeneObservation: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[GeneObservation]: ...
    def __getitem__(self, index: int | slice) -> GeneObservation | Sequence[GeneObservation]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if self.objects is not None:
            return self.objects[index]
        i = range(len(self))[index]
        genome, fingerprint, gene = self.genes[int(self.gene[i])]
        start, stop = int(self.bounds[i]), int(self.bounds[i + 1])
        exact = bool(self.exact[i])
        values = self.values[start:stop].tolist()
        if not exact:
            values = list(map(as_whole, values))
        mass, count, weight = self.draws[i].tolist()
        return GeneObservation(
            model=self.models[int(self.model[i])],
            genome=genome,
            fingerprint=fingerprint,
            gene=gene,
            alleles=dict(
                zip([self.allele_names[a] for a in self.allele[start:stop]], values, strict=True)
            ),
            probes=None if exact else cast(int, as_whole(float(self.probes[i]))),
            tail=float(self.tail[i]),
            source=self.where(i),
            draws=None if mass != mass else TailDraws(mass, cast(int, as_whole(count)), weight),
        )

    def __iter__(self) -> Iterator[GeneObservation]:
        return (self[i] for i in range(len(self)))

    def where(self, i: int) -> str:
        """Return the file and line of row ``i`` (``"input"`` when it has no source)."""
        source = self.sources[int(self.source[i])] or "input"
        return f"{source}:{int(self.line[i])}" if self.line[i] else source

    @property
    def sizes(self) -> NDArray[np.int64]:
        """Number of alleles of each row."""
        return np.diff(self.bounds)

    @property
    def owner(self) -> NDArray[np.int64]:
        """Return the row of each allele."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.sizes)

    def allele_positions(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """Positions in ``allele`` and ``values`` of the alleles of ``rows``, row after row."""
        sizes = self.sizes[rows]
        starts = np.repeat(self.bounds[rows] - np.cumsum(sizes) + sizes, sizes)
        return starts + np.arange(int(sizes.sum()), dtype=np.int64)

    def in_file_order(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Return the order of the populations files: rows by model, genome, gene; alleles by name.

        Returns
        -------
        rows : ndarray of int64
            Row indices in that order.
        allele, values : ndarray
            ``allele`` and ``values`` with each row's alleles sorted by name (rows stay where
            ``bounds`` puts them: read them with :meth:`allele_positions`).
        """
        rows = np.lexsort((ranks(self.genes)[self.gene], ranks(self.models)[self.model]))
        key = self.owner * max(len(self.allele_names), 1) + ranks(self.allele_names)[self.allele]
        by_name = np.argsort(key)
        return rows, self.allele[by_name], self.values[by_name]

    def select(self, rows: NDArray[np.bool_]) -> ObservationTable:
        """Return the rows where ``rows`` is true."""
        if rows.all():
            return self
        keep = np.flatnonzero(rows)
        sizes = self.sizes[keep]
        at = self.allele_positions(keep)
        objects = None if self.objects is None else [self.objects[i] for i in keep.tolist()]
        return ObservationTable(
            self.models,
            self.model[keep],
            self.genes,
            self.gene[keep],
            self.exact[keep],
            self.probes[keep],
            self.tail[keep],
            self.draws[keep],
            offsets(sizes),
            self.allele[at],
            self.allele_names,
            self.values[at],
            self.sources,
            self.source[keep],
            self.line[keep],
            objects,
        )


def offsets(sizes: NDArray[np.int64]) -> NDArray[np.int64]:
    """Return the ``len(sizes) + 1`` offsets of rows of these sizes laid end to end."""
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def as_whole(x: float) -> int | float:
    """Return an integer-valued float as an int (counts read back as they were written)."""
    return int(x) if x.is_integer() else x


class TableBuilder:
    """Rows added one at a time (one file line, one observation) into growing flat arrays."""

    def __init__(self) -> None:
        self._models: dict[str, int] = {}
        self._genes: dict[GeneKey, int] = {}
        self._alleles: dict[str, int] = {}
        self._sources: dict[str, int] = {}
        self._numbers = itertools.count()
        self._model, self._gene, self._source, self._line = (array("q") for _ in range(4))
        self._allele, self._sizes, self._exact = array("q"), array("q"), array("b")
        self._probes, self._tail, self._values = array("d"), array("d"), array("d")
        self._draws = array("d")

    def row(
        self,
        model: str,
        gene: GeneKey,
        alleles: Mapping[str, float],
        probes: float | None,
        tail: float,
        draws: TailDraws | None,
        source: str,
        line: int = 0,
    ) -> None:
        """Add one model x gene row; ``probes`` is ``None`` for an exact distribution.

        Raises
        ------
        InputError
            When an allele value or a size is a number beyond floats (named by ``source:line``);
            the builder is then not to be used further.
        """
        try:
            self._values.extend(alleles.values())
            self._probes.append(np.nan if probes is None else probes)
            self._tail.append(tail)
            self._draws.extend(_NO_DRAWS if draws is None else draws.to_dict().values())
        except (OverflowError, TypeError):
            where = f"{source}:{line}" if line else source or "input"
            raise InputError(
                f"{where}: allele values, probes and tail must be finite numbers"
            ) from None
        self._exact.append(probes is None)
        self._model.append(self._models.setdefault(model, len(self._models)))
        self._gene.append(self._genes.setdefault(gene, len(self._genes)))
        self._allele.extend(map(self._alleles.setdefault, alleles, self._numbers))
        self._sizes.append(len(alleles))
        self._source.append(self._sources.setdefault(source, len(self._sources)))
        self._line.append(line)

    def rows(self, block: RowBlock, source: str) -> None:
        """Add many checked rows at once (a block of a file); the same table as :meth:`row` each."""
        known, seen = self._models, self._genes
        models = {m: known.setdefault(m, len(known)) for m in dict.fromkeys(block.models)}
        genes = {g: seen.setdefault(g, len(seen)) for g in dict.fromkeys(block.genes)}
        names = itertools.chain.from_iterable(block.alleles)
        self._allele.extend(map(self._alleles.setdefault, names, self._numbers))
        self._model.extend(map(models.__getitem__, block.models))
        self._gene.extend(map(genes.__getitem__, block.genes))
        self._values.frombytes(np.ascontiguousarray(block.values, np.float64).tobytes())
        self._probes.frombytes(np.ascontiguousarray(block.probes, np.float64).tobytes())
        self._tail.frombytes(np.ascontiguousarray(block.tail, np.float64).tobytes())
        self._draws.frombytes(np.ascontiguousarray(block.draws, np.float64).tobytes())
        self._exact.frombytes(np.asarray(block.exact, np.int8).tobytes())
        self._sizes.extend(map(len, block.alleles))
        code = self._sources.setdefault(source, len(self._sources))
        self._source.frombytes(np.full(len(block.models), code, np.int64).tobytes())
        self._line.frombytes(np.ascontiguousarray(block.lines, np.int64).tobytes())

    def add(self, obs: GeneObservation, source: str, line: int = 0) -> None:
        """Add one observation; what is not a number becomes NaN (refused by the populations)."""
        self.row(
            obs.model,
            (obs.genome, obs.fingerprint, obs.gene),
            {a: _number(v) for a, v in obs.alleles.items()},
            None if obs.probes is None else _number(obs.probes),
            _number(obs.tail),
            obs.draws,
            source,
            line,
        )

    def table(self, objects: Sequence[GeneObservation] | None = None) -> ObservationTable:
        """Return the rows added so far, as a table (a NUL in a name is an InputError)."""
        self._check_names()
        first_use = np.fromiter(self._alleles.values(), np.int64, len(self._alleles))
        return ObservationTable(
            tuple(self._models),
            _copy(self._model, np.int64),
            tuple(self._genes),
            _copy(self._gene, np.int64),
            _copy(self._exact, np.int8).astype(bool),
            _copy(self._probes, np.float64),
            _copy(self._tail, np.float64),
            _copy(self._draws, np.float64).reshape(-1, 3),
            offsets(_copy(self._sizes, np.int64)),
            positions(first_use, _copy(self._allele, np.int64)),
            tuple(self._alleles),  # in order of first use, as first_use is increasing
            _copy(self._values, np.float64),
            tuple(self._sources),
            _copy(self._source, np.int64),
            _copy(self._line, np.int64),
            objects,
        )

    def _check_names(self) -> None:
        """Refuse a NUL in a model or gene name (C-based CSV and Newick readers cut it there)."""
        genes = ["/".join(gene) for gene in self._genes]
        for kind, names, column in (
            ("model", self._models, self._model),
            ("gene", genes, self._gene),
        ):
            bad = next((code for code, name in enumerate(names) if "\0" in name), None)
            if bad is None:
                continue
            row = int(np.argmax(np.frombuffer(column, np.int64) == bad))
            source = tuple(self._sources)[self._source[row]]
            where = f"{source}:{self._line[row]}" if self._line[row] else source or "input"
            raise InputError(
                f"{where}: {kind} {list(names)[bad]!r} holds a NUL character, which C-based "
                "readers of the outputs (CSV, Newick) cut names at: rename it"
            )


_NO_DRAWS = (np.nan, np.nan, np.nan)


def positions(increasing: NDArray[np.int64], values: NDArray[np.int64]) -> NDArray[np.int64]:
    """Return the position of each value in ``increasing`` (where every value is found).

    >>> positions(np.array([0, 3, 4]), np.array([4, 0, 3, 3])).tolist()
    [2, 0, 1, 1]
    """
    if not len(increasing):
        return np.zeros(0, dtype=np.int64)
    dtype = np.int32 if len(increasing) < 2**31 else np.int64
    position = np.zeros(int(increasing[-1]) + 1, dtype=dtype)  # one entry per value up to the last
    position[increasing] = np.arange(len(increasing), dtype=dtype)
    return position[values].astype(np.int64)


def _copy(values: array, dtype: type) -> NDArray:  # type: ignore[type-arg]
    return np.frombuffer(values, dtype=dtype).copy() if len(values) else np.zeros(0, dtype)


def _number(value: object) -> float:
    """Return a number as a float, NaN for anything else (text, an integer beyond floats)."""
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return float("nan")
    return float("nan")


def ranks(keys: Sequence[Any]) -> NDArray[np.int64]:
    """Return the rank of each key in sorted order."""
    rank = np.empty(len(keys), dtype=np.int64)
    rank[sorted(range(len(keys)), key=keys.__getitem__)] = np.arange(len(keys))
    return rank
