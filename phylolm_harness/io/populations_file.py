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
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.alleles import TailDraws
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.table import ObservationTable, RowBlock, TableBuilder, as_whole
from phylolm_harness.errors import InputError
from phylolm_harness.io.populations_parquet import is_parquet, read_parquet_populations
from phylolm_harness.io.reading import json_blocks, text

_KEYS = ("model", "genome", "fingerprint", "gene")


def read_populations_file(path: Path) -> ObservationTable:
    """Read a populations file, JSON Lines or Parquet (told by its first bytes), into a table.

    Raises
    ------
    InputError
        Naming ``file:line`` (JSON Lines) or ``file: row N`` (Parquet) for a malformed line or
        row, a missing key or a bad value.
    """
    return read_parquet_populations(path) if is_parquet(path) else read_each_line(path)


def read_each_line(path: Path) -> ObservationTable:
    """Read a populations file in JSON Lines into a table (one pass, flat arrays).

    A block of lines is checked at once where its lines are sound, else line by line, naming the
    first line at fault.

    Raises
    ------
    InputError
        Naming ``file:line`` for a malformed line, a missing key or a bad value.
    """
    builder = TableBuilder()
    source = str(path)
    for block in json_blocks(path, "populations file"):
        strict = block.strict()
        checked = None if strict is None else _checked_block(strict, block.first, source)
        if checked is not None:
            builder.rows(checked, source)
            continue
        for number, row, plain in block.values():  # line by line, as the values need
            where = f"{source}:{number}"
            common, alleles, probes, tail, draws = _checked(row, where, plain)
            gene = (common["genome"], common["fingerprint"], common["gene"])
            builder.row(common["model"], gene, alleles, probes, tail, draws, source, number)
    return builder.table()


def _checked_block(rows: list[Any], first: int, source: str) -> RowBlock | None:
    """Check strict JSON lines at once; ``None`` when any line needs :func:`_checked`'s look.

    Accepts only what :func:`_checked` accepts, built into the same values: strict JSON objects
    with every key, non-empty names, numeric alleles, integer probes on sampled lines and finite
    tails on exact ones. Anything else (a missing ``probes``, a count beyond 64 bits that
    ``orjson`` read as a float, a bad line) is left to the line-by-line path, which builds the
    same rows or names the line.
    """
    if set(map(type, rows)) != _DICT:
        return None
    try:
        names = [[row[key] for row in rows] for key in _KEYS]
        alleles = [row["alleles"] for row in rows]
    except KeyError:
        return None
    if any(set(map(type, column)) != _STR or not all(column) for column in names):
        return None
    if set(map(type, alleles)) != _DICT:
        return None
    values = list(itertools.chain.from_iterable(map(dict.values, alleles)))
    modes = [row.get("mode", "sampled") for row in rows]
    exact = [mode == "exact" for mode in modes]
    sampled = [row.get("probes") for row, e in zip(rows, exact, strict=True) if not e]
    tails = [row.get("tail", 0.0) for row, e in zip(rows, exact, strict=True) if e]
    if (
        not _NUMBERS.issuperset(map(type, values))
        or not set(map(type, modes)) <= _STR
        or not set(modes) <= {"sampled", "exact"}
        or not set(map(type, sampled)) <= {int}
        or not _NUMBERS.issuperset(map(type, tails))
        or not all(-1e300 < t < 1e300 for t in tails)
    ):
        return None
    is_exact = np.array(exact, dtype=bool)
    probes, tail = np.full(len(rows), np.nan), np.zeros(len(rows))
    probes[~is_exact] = sampled
    tail[is_exact] = tails
    draws = np.full((len(rows), 3), np.nan)
    for i in np.flatnonzero(is_exact).tolist():
        given = rows[i].get("draws")
        if given is not None:
            if type(given) is not dict or type(given.get("count")) is not int:
                return None
            try:
                draws[i] = list(TailDraws.from_dict(given, source).to_dict().values())
            except InputError:
                return None
    model, genome, fingerprint, gene = names
    return RowBlock(
        models=model,
        genes=list(zip(genome, fingerprint, gene, strict=True)),
        alleles=alleles,
        values=np.array(values, dtype=np.float64),
        exact=is_exact,
        probes=probes,
        tail=tail,
        draws=draws,
        lines=np.arange(first, first + len(rows), dtype=np.int64),
    )


_DICT = {dict}
_STR = {str}


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
    """Yield the file of :func:`format_populations_file` as UTF-8 pieces of many lines.

    Each line is what ``json.dumps(row, ensure_ascii=False)`` writes for a dictionary of the row
    (sampled counts as integers, probabilities as floats), assembled from text made once per
    model, gene and allele name rather than through a dictionary per line (twice as fast on
    millions of lines). Numbers are held as float64: counts beyond 2**53 are written rounded.
    """
    table = ObservationTable.of(observations)
    order, allele, values = table.in_file_order()
    models = [_quoted(model) for model in table.models]
    genes = [
        f'"genome": {_quoted(genome)}, "fingerprint": {_quoted(print_)}, "gene": {_quoted(gene)}'
        for genome, print_, gene in table.genes
    ]
    names = [_quoted(name) for name in table.allele_names]
    for first in range(0, len(order), rows_per_chunk):
        rows = order[first : first + rows_per_chunk]
        sizes = table.sizes[rows]
        at = table.allele_positions(rows)
        pieces = list(
            map(
                "{}: {}".format,
                [names[a] for a in allele[at].tolist()],
                _numbers_text(values[at], np.repeat(table.exact[rows], sizes)),
            )
        )
        lines = []
        start = 0
        for i, stop in zip(rows.tolist(), np.cumsum(sizes).tolist(), strict=True):
            alleles = ", ".join(pieces[start:stop])
            head = f'{{"model": {models[table.model[i]]}, {genes[table.gene[i]]}, '
            lines.append(f'{head}{_mode_text(table, i)}, "alleles": {{{alleles}}}}}\n')
            start = stop
        yield "".join(lines).encode("utf-8")


def _numbers_text(values: NDArray[np.float64], exact: NDArray[np.bool_]) -> list[str]:
    """Return allele values as JSON numbers: probabilities as floats, counts as integers."""
    text = np.empty(len(values), dtype=object)
    text[exact] = list(map(repr, values[exact].tolist()))
    counts = values[~exact]
    if np.all((counts == np.floor(counts)) & (np.abs(counts) < 2**53)):
        text[~exact] = list(map(str, counts.astype(np.int64).tolist()))
    else:  # not whole numbers (refused by the populations, written as they are)
        text[~exact] = [str(as_whole(v)) for v in counts.tolist()]
    return list(text.tolist())


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _mode_text(table: ObservationTable, i: int) -> str:
    """Return the mode and its fields of row ``i``, as JSON object members."""
    if not table.exact[i]:
        return f'"mode": "sampled", "probes": {as_whole(float(table.probes[i]))}'
    text = f'"mode": "exact", "tail": {float(table.tail[i])!r}'
    mass, count, weight = table.draws[i].tolist()
    if mass == mass:
        draws = TailDraws(mass, int(count), weight).to_dict()
        text += f', "draws": {json.dumps(draws)}'
    return text


def observation_rows(observations: Sequence[GeneObservation]) -> list[dict[str, Any]]:
    """Observations as populations-file rows (the lines of :func:`format_populations_file`)."""
    return [json.loads(line) for line in format_populations_file(observations).splitlines()]
