"""Rows of numbers as ``%.8g`` text, compiled: the tables of a result, about 50 ns a number.

Python formats ``'%.8g' % x`` correctly rounded, one number at a time (about 150 ns each: 15 s for
the 100 million distances of 10,000 models). :func:`g8_rows` writes the same text from a compiled
loop: the 8 significant digits are ``round(x * 10**k)`` with ``10**k`` exact, so the product is
rounded once, at most half a unit in its last place (under ``1e-8``) away from the exact decimal
value; a number whose product lies within ``1e-6`` of a rounding tie, or outside the range where
``10**k`` is exact, or that is not finite, is not written, and its row is left to Python. Rows
written here are byte for byte Python's (checked against it on numbers of every magnitude).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

_CELL = 16
"""Room for one number and its comma: the longest written is ``-1.2345678e-15`` (14 characters;
exponents outside -15..21 are left to Python)."""

_POWERS = np.array([10.0**k for k in range(23)])
"""Powers of ten exact in float64."""

_QUADS = np.array([[ord(c) for c in f"{k:04d}"] for k in range(10000)], dtype=np.uint8)
"""The four digits of every number below 10,000."""

_TIE = 1e-6
"""How close to a rounding tie a scaled number may come before Python decides instead."""


def g8_rows(block: NDArray[Any]) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.bool_]]:
    """Write each row of ``block`` as comma-separated ``%.8g`` numbers (NaN as an empty cell).

    Returns
    -------
    text : ndarray of uint8
        The rows' text, one after another, without line ends.
    ends : ndarray of int64
        ``(rows + 1,)`` offsets of each row's text in ``text``.
    written : ndarray of bool
        ``(rows,)`` whether a row was written; a row that is not (see the module) has no text and
        must be formatted by Python.

    Examples
    --------
    >>> text, ends, written = g8_rows(np.array([[0.0, 1 / 3, np.nan], [123456789.0, -2e-5, 7.0]]))
    >>> [bytes(text[a:b]).decode() for a, b in zip(ends[:-1], ends[1:])], written.tolist()
    (['0,0.33333333,', '1.2345679e+08,-2e-05,7'], [True, True])
    """
    values = np.ascontiguousarray(block, dtype=np.float64)
    rows, cols = values.shape
    text = np.empty(rows * cols * _CELL, dtype=np.uint8)
    ends = np.zeros(rows + 1, dtype=np.int64)
    written = np.ones(rows, dtype=np.bool_)
    _rows(values, _POWERS, _QUADS, text, ends, written)
    return text, ends, written


@njit(cache=True, nogil=True)
def _rows(values: Any, powers: Any, quads: Any, text: Any, ends: Any, written: Any) -> None:
    at = 0
    e = 0  # decimal exponent of the last number: neighbours are alike, so the search starts there
    digits = np.empty(8, dtype=np.uint8)
    for r in range(values.shape[0]):
        start = at
        for c in range(values.shape[1]):
            if c:
                text[at] = 44  # ","
                at += 1
            wrote, e = _number(values[r, c], e, powers, quads, digits, text, at)
            if wrote < 0:
                written[r] = False
                break
            at += wrote
        if not written[r]:
            at = start
        ends[r + 1] = at


@njit(cache=True, nogil=True, inline="always")
def _number(
    x: float, e: int, powers: Any, quads: Any, digits: Any, text: Any, at: int
) -> tuple[int, int]:
    """Write ``'%.8g' % x`` at ``text[at]``, searching its decimal exponent from ``e``.

    Returns its length (0 for NaN, -1 when it is left to Python) and its decimal exponent.
    """
    if math.isnan(x):
        return 0, e
    if math.isinf(x):
        return -1, e
    n = 0
    if math.copysign(1.0, x) < 0.0:
        text[at] = 45  # "-"
        n = 1
        x = -x
    if x == 0.0:
        text[at + n] = 48  # "0"
        return n + 1, e
    if x < 1e-15 or x >= 1e22:
        return -1, e
    m = 0.0
    for _ in range(40):
        if e < -15 or e > 21:
            return -1, 0
        m = x * powers[7 - e] if e <= 7 else x / powers[e - 7]
        if m < 1e7:
            e -= 1
        elif m >= 1e8:
            e += 1
        else:
            break
    if m < 1e7 or m >= 1e8:
        return -1, 0
    whole = math.floor(m)
    if abs(m - whole - 0.5) < _TIE:
        return -1, e
    q = int(whole) + (1 if m - whole > 0.5 else 0)
    if q == 100000000:
        q = 10000000
        e += 1
    high, low = quads[q // 10000], quads[q % 10000]
    for d in range(4):
        digits[d] = high[d]
        digits[4 + d] = low[d]
    kept = 8
    while kept > 1 and digits[kept - 1] == 48:
        kept -= 1
    if -4 <= e < 8:
        if e < 0:  # 0.000ddd
            text[at + n] = 48
            text[at + n + 1] = 46  # "."
            n += 2
            for _ in range(-e - 1):
                text[at + n] = 48
                n += 1
            for d in range(kept):
                text[at + n] = digits[d]
                n += 1
            return n, e
        for d in range(max(kept, e + 1)):  # ddd.ddd, or ddd000
            if d == e + 1:
                text[at + n] = 46
                n += 1
            text[at + n] = digits[d] if d < kept else 48
            n += 1
        return n, e
    text[at + n] = digits[0]  # d.ddde+XX
    n += 1
    if kept > 1:
        text[at + n] = 46
        n += 1
        for d in range(1, kept):
            text[at + n] = digits[d]
            n += 1
    text[at + n] = 101  # "e"
    text[at + n + 1] = 45 if e < 0 else 43  # "-" or "+"
    power = abs(e)
    text[at + n + 2] = 48 + power // 10
    text[at + n + 3] = 48 + power % 10
    return n + 4, e
