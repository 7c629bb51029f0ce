"""JSON numbers read by compiled code: the double Python's ``float`` gives, bit for bit."""

from __future__ import annotations

import math
import random
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phylolm_harness.io.json_numbers import BAD, INTEGER, LONG_INTEGER, SLOW, read_number


def read(text: str) -> tuple[float, int, int]:
    buf = np.frombuffer(text.encode(), np.uint8)
    return read_number(buf, 0, len(buf))


def python_value(text: str, flags: int) -> float:
    """What the full reader makes of the text: ``float(int(text))`` for an integer."""
    return float(int(text)) if flags & INTEGER else float(text)


def assert_exact(text: str) -> bool:
    """Assert the compiled value is Python's, sign of zero included.

    Returns whether it was converted here (else it is flagged for Python).
    """
    value, stop, flags = read(text)
    assert not flags & BAD and stop == len(text), text
    if flags & SLOW:
        return False
    expected = python_value(text, flags)
    assert value == expected and math.copysign(1, value) == math.copysign(1, expected), text
    return True


HARD = [
    "0", "-0", "0.0", "-0.0", "-0e0", "0e-400", "1", "-5", "1E5", "1e+5", "1.5e-3",
    "9007199254740993",  # 2**53 + 1: half-way between two doubles, rounds to even
    "9007199254740995", "9007199254740992.5", "123456789012345678", "999999999999999999",
    "0.1", "0.2", "0.3", "1e23", "8.589973e9", "2.2250738585072014e-308",  # smallest normal
    "1.7976931348623157e308", "4.9406564584124654e-324", "2.2250738585072011e-308",  # subnormal
    "1e400", "-1e400", "1e-400", "7.0e-10", "0.0040725110899131845", "3.0517578125e-05",
    "0.1000000000000000055511151231257827021181583404541015625",  # more than 19 digits
    "1234567890123456789e-10", "12345678901234567890e-10",
]  # fmt: skip


@pytest.mark.parametrize("text", HARD)
def test_hard_numbers(text):
    assert_exact(text)


def test_normal_doubles_are_converted_here_and_the_rest_left_to_python():
    assert all(assert_exact(t) for t in ["1e23", "0.0040725110899131845", "9007199254740993"])
    zeros_then_a_long_exponent = "0." + "0" * 99_999 + "1e1000000"  # 1e900001: infinite
    for text in ["1e400", "4.9406564584124654e-324", "0.1000000000000000055511151231257827",
                 zeros_then_a_long_exponent]:  # fmt: skip
        assert read(text)[2] & SLOW, text[:40]  # beyond range, subnormal, over 19 digits


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_double_written_any_way(x):
    for text in (repr(x), f"{x:.17e}", f"{x:.19g}", f"{x:.12e}", f"{x:.3g}"):
        converted = assert_exact(text)
        value = abs(float(text))
        integer_of_19_digits = read(text)[2] & LONG_INTEGER
        if (value == 0 or 1e-307 < value < math.inf) and not integer_of_19_digits:
            assert converted, text  # a normal double in at most 19 digits: never left to Python


@given(st.integers(-(10**18) + 1, 10**18 - 1))
def test_integers_read_as_python_rounds_them(i):
    value, _, flags = read(str(i))
    assert flags == INTEGER and value == float(i)


@given(st.integers(10**18, 10**40), st.booleans())
def test_integers_of_19_digits_or_more_are_flagged(i, negative):
    text = f"-{i}" if negative else str(i)
    assert read(text)[2] & LONG_INTEGER


def test_decimals_next_to_a_half_way_point_round_the_right_way():
    rng = random.Random(7)
    for _ in range(3000):
        x = math.ldexp(rng.random() + 1, rng.randint(-1000, 1000))
        half = (Decimal(x) + Decimal(math.nextafter(x, math.inf))) / 2
        for digits in (17, 18, 19):
            for rounding in (ROUND_FLOOR, ROUND_CEILING):
                with localcontext() as context:
                    context.prec, context.rounding = digits, rounding
                    text = format(+half, "e")
                assert assert_exact(text), text


@pytest.mark.parametrize("text", ["-", "01", "-01", "1.", ".5", "+1", "1e", "1e+", "1.e5", "x"])
def test_what_is_not_a_json_number(text):
    assert read(text)[2] & BAD


def test_the_number_ends_where_its_text_does():
    buf = np.frombuffer(b'{"a": -12.5e1, "b": 3}', np.uint8)
    value, stop, flags = read_number(buf, 6, len(buf))
    assert (value, stop, flags) == (-125.0, 13, 0)
    assert read_number(buf, 20, len(buf)) == (3.0, 21, INTEGER)
