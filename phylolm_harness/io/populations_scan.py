"""Lines of a populations file in their usual form, read from bytes by compiled code.

:func:`scan_block` reads the lines :func:`~phylolm_harness.io.populations_file.
format_populations_file` and the collectors write (any key order, any JSON spacing, CRLF line
ends) without making a Python object per allele: names are numbered by
:func:`~phylolm_harness.io.byte_keys.key_code`, numbers converted by
:func:`~phylolm_harness.io.json_numbers.read_number`, into the arrays of an
:class:`~phylolm_harness.core.table.ObservationTable`. It accepts only what the full reader
(:func:`~phylolm_harness.io.populations_file.read_each_line`) accepts, read into the same values;
for anything else (an escape in a string, an unknown or repeated key, a missing ``probes``, a
value out of range, a malformed line, bytes that are not UTF-8) it returns ``None`` and the full
reader reads the file, naming the line at fault when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from phylolm_harness.io.byte_keys import ByteKeys, key_code
from phylolm_harness.io.json_numbers import BAD, INTEGER, LONG_INTEGER, SLOW, read_number

__all__ = ["Keys", "Rows", "scan_block"]

_NAMES = (
    *(b"model", b"genome", b"fingerprint", b"gene", b"mode", b"probes", b"tail", b"alleles"),
    *(b"draws", b"mass", b"count", b"weight", b"sampled", b"exact"),
)
_WORDS = np.zeros((len(_NAMES), 16), np.uint8)
_SIZES = np.array([len(name) for name in _NAMES], np.int64)
for _k, _name in enumerate(_NAMES):
    _WORDS[_k, : len(_name)] = np.frombuffer(_name, np.uint8)
MODEL, GENOME, FINGERPRINT, GENE, MODE, PROBES, TAIL, ALLELES, DRAWS = range(9)
MASS, COUNT, WEIGHT, SAMPLED, EXACT = range(9, 14)
_REQUIRED = (1 << MODEL) | (1 << GENOME) | (1 << FINGERPRINT) | (1 << GENE) | (1 << ALLELES)


@njit(cache=True, nogil=True)
def _space(buf: NDArray[np.uint8], i: int, end: int) -> int:  # pragma: no cover
    while i < end and (buf[i] == 32 or buf[i] == 9):
        i += 1
    return i


@njit(cache=True, nogil=True)
def _string(buf: NDArray[np.uint8], i: int, end: int) -> int:  # pragma: no cover
    """Return the position of the closing quote of the string opened at ``buf[i]``.

    -1 if there is none, or the string holds an escape or a control character.
    """
    if i >= end or buf[i] != 34:
        return -1
    i += 1
    while i < end:
        c = buf[i]
        if c == 34:
            return i
        if c == 92 or c < 32:
            return -1
        i += 1
    return -1


@njit(cache=True, nogil=True)
def _word(buf: NDArray[np.uint8], start: int, stop: int) -> int:  # pragma: no cover
    """Return the index in ``_NAMES`` of ``buf[start:stop]``, -1 if it is none of them."""
    for k in range(len(_SIZES)):
        if _SIZES[k] == stop - start:
            same = True
            for j in range(stop - start):
                if buf[start + j] != _WORDS[k, j]:
                    same = False
                    break
            if same:
                return k
    return -1


@njit(cache=True, nogil=True)
def _separator(buf: Any, i: int, end: int) -> tuple[int, bool]:  # pragma: no cover
    """Return what follows a member.

    ``(start of the next member, True)`` after a comma, ``(position of the closing brace,
    False)``, or ``(-1, False)`` for anything else.
    """
    i = _space(buf, i, end)
    if i < end and buf[i] == 44:
        i = _space(buf, i + 1, end)
        return (i, True) if i < end and buf[i] != 125 else (-1, False)
    return (i, False) if i < end and buf[i] == 125 else (-1, False)


@njit(cache=True, nogil=True)
def _alleles(  # pragma: no cover
    buf: Any,
    i: int,
    end: int,
    row: int,
    entry: int,
    n_slow: int,
    codes: Any,
    values: Any,
    slow: Any,
    last_row: Any,
    table: Any,
    state: Any,
) -> tuple[int, int, int]:
    """Read the object of alleles at ``buf[i]`` (see :func:`_scan`).

    Returns the position after it (-1 if it is not one the full reader would read the same),
    the next entry and the number of values left to Python.
    """
    if i >= end or buf[i] != 123:
        return -1, entry, n_slow
    i = _space(buf, i + 1, end)
    more = i < end and buf[i] != 125
    while more:
        close = _string(buf, i, end)
        if close < 0:
            return -1, entry, n_slow
        code = key_code(table, state, buf, i + 1, close)
        if last_row[code] == row:  # a name given twice
            return -1, entry, n_slow
        last_row[code] = row
        i = _space(buf, close + 1, end)
        if i >= end or buf[i] != 58:
            return -1, entry, n_slow
        i = _space(buf, i + 1, end)
        value, stop, flags = read_number(buf, i, end)
        if flags & (BAD | LONG_INTEGER):
            return -1, entry, n_slow
        if flags & SLOW:
            slow[n_slow, 0], slow[n_slow, 1], slow[n_slow, 2] = entry, i, stop
            n_slow += 1
        codes[entry], values[entry] = code, value
        entry += 1
        i, more = _separator(buf, stop, end)
        if i < 0:
            return -1, entry, n_slow
    return (i + 1, entry, n_slow) if i < end else (-1, entry, n_slow)


@njit(cache=True, nogil=True)
def _draws(buf: Any, i: int, end: int) -> tuple[int, float, float, float]:  # pragma: no cover
    """Read ``{"mass": m, "count": c, "weight": w}`` (each once, in range) at ``buf[i]``.

    Returns the position after it (-1 if it is not one the full reader would read the same),
    mass, count and weight.
    """
    drawn = np.full(3, np.nan)
    if i >= end or buf[i] != 123:
        return -1, 0.0, 0.0, 0.0
    i = _space(buf, i + 1, end)
    more = True
    while more:
        close = _string(buf, i, end)
        field = -1 if close < 0 else _word(buf, i + 1, close)
        if field < MASS or field > WEIGHT or drawn[field - MASS] == drawn[field - MASS]:
            return -1, 0.0, 0.0, 0.0
        i = _space(buf, close + 1, end)
        if i >= end or buf[i] != 58:
            return -1, 0.0, 0.0, 0.0
        value, i, flags = read_number(buf, _space(buf, i + 1, end), end)
        if flags & (BAD | SLOW) or (field == COUNT and not flags & INTEGER):
            return -1, 0.0, 0.0, 0.0
        drawn[field - MASS] = value
        i, more = _separator(buf, i, end)
        if i < 0:
            return -1, 0.0, 0.0, 0.0
    mass, count, weight = drawn[0], drawn[1], drawn[2]
    if not (count >= 0 and 0 <= mass <= 1 + 1e-6 and 0 < weight <= 1):
        return -1, 0.0, 0.0, 0.0
    return i + 1, mass, count, weight


@njit(cache=True, nogil=True)
def _scan(  # noqa: PLR0912 - one line's members in place  # pragma: no cover
    buf: Any,
    first_line: int,
    row_base: int,
    rows_i: Any,
    rows_f: Any,
    codes: Any,
    values: Any,
    slow: Any,
    last_row: Any,
    scratch: Any,
    models: Any,
    model_state: Any,
    genes: Any,
    gene_state: Any,
    alleles: Any,
    allele_state: Any,
) -> tuple[bool, int, int, int]:
    """Read every line of ``buf``; return ``(ok, rows, entries, slow numbers)``.

    Rows: ``rows_i[r] = model, gene, alleles, line``; ``rows_f[r] = exact, probes, tail, mass,
    count, weight``. Entries: ``codes[e]``, ``values[e]``; a value left to Python is listed in
    ``slow`` as ``(entry, start, stop)``, a row's tail as ``(-1 - row, start, stop)``.
    """
    n = len(buf)
    pos, line, row, entry, n_slow = 0, first_line, 0, 0, 0
    spans = np.zeros(8, np.int64)
    while pos < n:
        eol = pos
        while eol < n and buf[eol] != 10:
            eol += 1
        end = eol - 1 if eol > pos and buf[eol - 1] == 13 else eol
        i = _space(buf, pos, end)
        if i == end:  # a blank line
            pos, line = eol + 1, line + 1
            continue
        if buf[i] != 123:
            return False, row, entry, n_slow
        seen = 0
        mode, probes, tail = SAMPLED, np.nan, 0.0
        mass, count, weight = np.nan, np.nan, np.nan
        first_entry = entry
        i = _space(buf, i + 1, end)
        while True:
            close = _string(buf, i, end)
            if close < 0:
                return False, row, entry, n_slow
            key = _word(buf, i + 1, close)
            if key < 0 or key > DRAWS or seen & (1 << key):
                return False, row, entry, n_slow
            seen |= 1 << key
            i = _space(buf, close + 1, end)
            if i >= end or buf[i] != 58:
                return False, row, entry, n_slow
            i = _space(buf, i + 1, end)
            if key <= MODE:
                close = _string(buf, i, end)
                if close <= i + 1:  # not a string, or an empty one
                    return False, row, entry, n_slow
                if key == MODE:
                    mode = _word(buf, i + 1, close)
                    if mode != SAMPLED and mode != EXACT:
                        return False, row, entry, n_slow
                else:
                    spans[2 * key], spans[2 * key + 1] = i + 1, close
                i = close + 1
            elif key in (PROBES, TAIL):
                value, stop, flags = read_number(buf, i, end)
                if flags & (BAD | LONG_INTEGER):
                    return False, row, entry, n_slow
                if key == PROBES:
                    if flags & SLOW or not flags & INTEGER:
                        return False, row, entry, n_slow
                    probes = value
                elif flags & SLOW:  # the tail of this row, for Python to convert and check
                    slow[n_slow, 0], slow[n_slow, 1], slow[n_slow, 2] = -1 - row, i, stop
                    n_slow += 1
                else:
                    tail = value
                i = stop
            elif key == ALLELES:
                i, entry, n_slow = _alleles(
                    buf, i, end, row_base + row, entry, n_slow, codes, values, slow, last_row,
                    alleles, allele_state,
                )  # fmt: skip
                if i < 0:
                    return False, row, entry, n_slow
            else:
                i, mass, count, weight = _draws(buf, i, end)
                if i < 0:
                    return False, row, entry, n_slow
            i, more = _separator(buf, i, end)
            if i < 0:
                return False, row, entry, n_slow
            if not more:
                break
        if _space(buf, i + 1, end) != end or seen & _REQUIRED != _REQUIRED:
            return False, row, entry, n_slow
        if mode == SAMPLED:
            if not seen & (1 << PROBES) or seen & ((1 << TAIL) | (1 << DRAWS)):
                return False, row, entry, n_slow
        elif seen & (1 << PROBES) or not -1e300 < tail < 1e300:
            return False, row, entry, n_slow
        size = 0
        for key in (GENOME, FINGERPRINT, GENE):
            if key != GENOME:
                scratch[size] = 0
                size += 1
            for k in range(spans[2 * key], spans[2 * key + 1]):
                scratch[size] = buf[k]
                size += 1
        rows_i[row, 0] = key_code(models, model_state, buf, spans[0], spans[1])
        rows_i[row, 1] = key_code(genes, gene_state, scratch, 0, size)
        rows_i[row, 2] = entry - first_entry
        rows_i[row, 3] = line
        exact = mode == EXACT
        rows_f[row, 0] = 1.0 if exact else 0.0
        rows_f[row, 1] = np.nan if exact else probes
        rows_f[row, 2] = tail if exact else 0.0
        rows_f[row, 3], rows_f[row, 4], rows_f[row, 5] = mass, count, weight
        row += 1
        pos, line = eol + 1, line + 1
    return True, row, entry, n_slow


@dataclass
class Keys:
    """The names of a stretch of a file, numbered as they first appear.

    ``last_row`` holds each allele's last row, to refuse a name given twice on one line.
    """

    models: ByteKeys = field(default_factory=ByteKeys.empty)
    genes: ByteKeys = field(default_factory=ByteKeys.empty)
    """``genome NUL fingerprint NUL gene`` (no JSON string read here holds a NUL)."""
    alleles: ByteKeys = field(default_factory=ByteKeys.empty)
    last_row: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class Rows:
    """The rows and alleles read so far, in arrays grown in place.

    ``ints[r]`` is row ``r``'s model, gene, number of alleles and line; ``floats[r]`` whether it
    is exact, its probes, tail and draws' mass, count and weight; ``codes[e]`` and ``values[e]``
    are allele ``e``'s name and value. The arrays grow by ``ndarray.resize`` (a reallocation: a
    large array grows by remapping its pages, and its memory goes back to the system when it is
    freed, where many block-sized arrays would stay in the allocator's heap).
    """

    ints: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    floats: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 6), np.float64))
    codes: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    values: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0, np.float64))
    rows: int = 0
    entries: int = 0

    def room(self, rows: int, entries: int) -> None:
        """Make room for ``rows`` more rows and ``entries`` more alleles (by doubling)."""
        if self.rows + rows > len(self.ints):
            size = max(self.rows + rows, 2 * len(self.ints))
            self.ints.resize((size, 4), refcheck=False)
            self.floats.resize((size, 6), refcheck=False)
        if self.entries + entries > len(self.codes):
            size = max(self.entries + entries, 2 * len(self.codes))
            self.codes.resize(size, refcheck=False)
            self.values.resize(size, refcheck=False)

    def trim(self) -> None:
        """Give back the room not used."""
        self.ints.resize((self.rows, 4), refcheck=False)
        self.floats.resize((self.rows, 6), refcheck=False)
        self.codes.resize(self.entries, refcheck=False)
        self.values.resize(self.entries, refcheck=False)


def scan_block(buf: NDArray[np.uint8], line: int, keys: Keys, out: Rows) -> bool:
    """Read a block of whole lines, the first numbered ``line``, onto ``out``.

    Returns whether every line was read: ``False`` when a line is not in the usual form (or
    holds a number past the double range), with ``out`` then to be dropped.
    """
    lines = int(np.count_nonzero(buf == 10)) + 1
    entries = int(np.count_nonzero(buf == 58))  # every allele has its colon
    keys.models.reserve(lines, len(buf))
    keys.genes.reserve(lines, len(buf) + 2 * lines)
    keys.alleles.reserve(entries, len(buf))
    if len(keys.last_row) < len(keys.alleles.hashes):
        grown = np.full(len(keys.alleles.hashes), -1, np.int64)
        grown[: len(keys.last_row)] = keys.last_row
        keys.last_row = grown
    out.room(lines, entries)
    row, entry = out.rows, out.entries
    slow = np.empty((entries, 3), np.int64)
    ok, n_rows, n_entries, n_slow = _scan(
        buf, line, row, out.ints[row:], out.floats[row:], out.codes[entry:],
        out.values[entry:], slow, keys.last_row, np.empty(len(buf) + 2, np.uint8),
        keys.models.arrays, keys.models.state, keys.genes.arrays, keys.genes.state,
        keys.alleles.arrays, keys.alleles.state,
    )  # fmt: skip
    if not ok:
        return False
    for target, start, stop in slow[:n_slow].tolist():
        number = float(buf[start:stop].tobytes())  # what Python's float rounds it to
        if target >= 0:
            out.values[entry + target] = number
        elif -1e300 < number < 1e300:
            out.floats[row - 1 - target, 2] = number
        else:
            return False  # a tail out of range: the full reader names its line
    if not np.isfinite(out.values[entry : entry + n_entries]).all():
        return False  # a number past the double range: left as the full reader reads it
    out.rows, out.entries = row + n_rows, entry + n_entries
    return True
