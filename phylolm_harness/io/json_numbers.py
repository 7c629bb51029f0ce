"""JSON numbers read from bytes by compiled code, rounded exactly as Python's ``float`` rounds them.

:func:`read_number` scans one JSON number and converts it with the Eisel-Lemire algorithm
(D. Lemire, "Number parsing at a gigabyte per second", Software: Practice and Experience 51, 2021;
N. Mushtak and D. Lemire, "Fast number parsing without fallback", 2023): the decimal significand,
normalised, times a 128-bit truncation of the power of five, whose top 55 bits decide the rounding.
It gives the correctly rounded double for up to 19 significant digits; anything it does not
settle (more digits, numbers past the double range or below the normal one, a product too close
to call) is flagged :data:`SLOW` for the caller to convert with Python's ``float``.

The powers of five are computed here, from integers, as the published algorithm defines them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["BAD", "INTEGER", "LONG_INTEGER", "SLOW", "read_number"]

_SMALLEST, _LARGEST = -342, 308
"""Decimal exponents the table covers; beyond them the value is 0 or infinite (left to Python)."""


def _powers_of_five() -> NDArray[np.uint64]:
    """128-bit truncations of ``5**q``, normalised to a top bit set, as (high, low) pairs."""
    rows = []
    for q in range(_SMALLEST, _LARGEST + 1):
        if q < 0:
            power = 5**-q
            z = power.bit_length()  # the least z with 2**z >= 5**-q (never a power of two)
            c = 2 ** (z + 127) // power + 1 if q >= -27 else 2 ** (2 * z + 128) // power + 1
            c >>= max(c.bit_length() - 128, 0)
        else:
            c = 5**q
            c = c << (128 - c.bit_length()) if c.bit_length() < 128 else c >> (c.bit_length() - 128)
        rows.append((c >> 64, c & (2**64 - 1)))
    return np.array(rows, dtype=np.uint64)


_POWERS = _powers_of_five()

BAD = 1
"""Not a JSON number."""
INTEGER = 2
"""A JSON integer (no fraction, no exponent)."""
SLOW = 4
"""Not converted here: left to Python's ``float`` on the same text."""
LONG_INTEGER = 8
"""An integer of 19 digits or more, which ``orjson`` would not read as an exact integer."""

_MASK32 = np.uint64(0xFFFFFFFF)
_TOP_BIT = np.uint64(1) << np.uint64(63)


@njit(cache=True, nogil=True)
def _multiply(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover
    """Return the 128-bit product ``a * b`` as (high, low)."""
    s32 = np.uint64(32)
    a_lo, a_hi = a & _MASK32, a >> s32
    b_lo, b_hi = b & _MASK32, b >> s32
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    middle = (p0 >> s32) + (p1 & _MASK32) + (p2 & _MASK32)
    return p3 + (p1 >> s32) + (p2 >> s32) + (middle >> s32), (p0 & _MASK32) | (middle << s32)


@njit(cache=True, nogil=True)
def _eisel_lemire(w: np.uint64, q: int) -> tuple[float, bool]:  # pragma: no cover
    """Return ``(w * 10**q rounded to a double, True)``, or ``(0.0, False)`` when left to Python."""
    if w == np.uint64(0):
        return 0.0, True
    if q < _SMALLEST or q > _LARGEST:
        return 0.0, False
    lz = 0
    while w & _TOP_BIT == np.uint64(0):
        w <<= np.uint64(1)
        lz += 1
    high, low = _multiply(w, _POWERS[q - _SMALLEST, 0])
    mask = np.uint64(0x1FF)
    if high & mask == mask:  # the top 55 bits may change: add the product with the next 64 bits
        second, _ = _multiply(w, _POWERS[q - _SMALLEST, 1])
        low += second
        if second > low:
            high += np.uint64(1)
        if low == np.uint64(0xFFFFFFFFFFFFFFFF) and (q < -27 or q > 55):
            return 0.0, False  # too close to call from 128 bits
    upper = int(high >> np.uint64(63))
    shift = np.uint64(upper + 9)
    mantissa = high >> shift
    power2 = (((152170 + 65536) * q) >> 16) + 63 + upper - lz + 1023
    if power2 <= 0:
        return 0.0, False  # below the normal range
    one = np.uint64(1)
    exactly_half = low <= one and -4 <= q <= 23 and (mantissa << shift) == high
    if exactly_half and mantissa & np.uint64(3) == one:
        mantissa &= ~one  # round half-way to even
    mantissa += mantissa & one
    mantissa >>= one
    if mantissa >= (np.uint64(2) << np.uint64(52)):
        mantissa = one << np.uint64(52)
        power2 += 1
    if power2 >= 2047:
        return 0.0, False  # beyond the double range
    return math.ldexp(float(mantissa), power2 - 1075), True  # 53 bits times a power of two


@njit(cache=True, nogil=True)
def read_number(
    buf: NDArray[np.uint8], i: int, end: int
) -> tuple[float, int, int]:  # pragma: no cover
    """Read the JSON number starting at ``buf[i]`` (the text ends before ``end``).

    Returns
    -------
    (value, stop, flags)
        ``stop`` is the position after the number; ``flags`` holds :data:`BAD` (then nothing
        else is meaningful), :data:`INTEGER`, :data:`LONG_INTEGER` and :data:`SLOW` (``value``
        is then to be computed by Python from ``buf[i:stop]``). An integer's value is its
        double rounded as Python's ``float(int)`` rounds it (``-0`` is ``0.0``).
    """
    start = i
    negative = i < end and buf[i] == 45  # '-'
    if negative:
        i += 1
    if i >= end or not 48 <= buf[i] <= 57:
        return 0.0, i, BAD
    w = np.uint64(0)
    digits = 0  # significant digits (leading zeros skipped)
    if buf[i] == 48:  # a leading zero stands alone
        i += 1
        if i < end and 48 <= buf[i] <= 57:
            return 0.0, i, BAD
    else:
        while i < end and 48 <= buf[i] <= 57:
            if digits < 19:
                w = w * np.uint64(10) + np.uint64(buf[i] - 48)
            digits += 1
            i += 1
    whole_digits = digits
    q = 0
    flags = INTEGER
    if i < end and buf[i] == 46:  # '.'
        flags = 0
        i += 1
        if i >= end or not 48 <= buf[i] <= 57:
            return 0.0, i, BAD
        while i < end and 48 <= buf[i] <= 57:
            if digits == 0 and buf[i] == 48:
                q -= 1  # a leading zero of the fraction
            else:
                if digits < 19:
                    w = w * np.uint64(10) + np.uint64(buf[i] - 48)
                    q -= 1
                digits += 1
            i += 1
    if whole_digits > 19:
        q += whole_digits - 19  # the whole part's digits past the 19 kept
    if i < end and (buf[i] == 101 or buf[i] == 69):  # 'e', 'E'
        flags = 0
        i += 1
        sign = 1
        if i < end and (buf[i] == 43 or buf[i] == 45):
            sign = -1 if buf[i] == 45 else 1
            i += 1
        if i >= end or not 48 <= buf[i] <= 57:
            return 0.0, i, BAD
        exponent = 0
        while i < end and 48 <= buf[i] <= 57:
            if exponent < 100_000:
                exponent = exponent * 10 + (buf[i] - 48)
            i += 1
        if exponent >= 100_000:
            return 0.0, i, flags | SLOW  # digits of the exponent were not kept
        q += sign * exponent
    if flags == INTEGER and i - start - negative >= 19:
        return 0.0, i, INTEGER | LONG_INTEGER | SLOW
    if digits > 19:
        return 0.0, i, flags | SLOW
    value, done = _eisel_lemire(w, q)
    if not done:
        return 0.0, i, flags | SLOW
    if negative and (value != 0.0 or not flags & INTEGER):
        value = -value  # but the integer -0 is 0
    return value, i, flags
