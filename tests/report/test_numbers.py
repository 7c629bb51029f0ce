"""Tables of numbers: the compiled ``%.8g`` writer gives Python's text, byte for byte."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from phylolm_harness.report.numbers import g8_rows
from phylolm_harness.report.tables import matrix_csv


def python_csv(matrix: np.ndarray, labels: list[str]) -> bytes:
    """The table as Python writes it, one number at a time."""
    lines = ["model," + ",".join(labels)]
    for label, row in zip(labels, matrix, strict=True):
        cells = ["" if np.isnan(x) else f"{x:.8g}" for x in row.tolist()]
        lines.append(label + "," + ",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def hard_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Numbers of every magnitude and sign, ties of the 9th digit, powers of ten and neighbours."""
    magnitudes = 10 ** rng.uniform(-20, 25, n) * rng.choice([-1.0, 1.0], n)
    ties = np.array(
        [
            float(f"{d}5e{e}")
            for d, e in zip(rng.integers(10**7, 10**8, n), rng.integers(-14, 14, n), strict=True)
        ]
    )
    powers = np.array([10.0**k for k in range(-17, 24)])
    near = np.concatenate([np.nextafter(powers, 0), powers, np.nextafter(powers, np.inf)])
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 99999999.5, 12345678.5, 5e-324])
    whole = rng.integers(0, 10**10, n).astype(float)
    exact_ties = np.concatenate(  # 9 significant digits ending in 5, exact in binary
        [
            rng.integers(10**7, 10**8, n) + 0.5,
            rng.integers(10**7, 10**8, n) * 10.0 + 5,
            rng.integers(10**6, 10**7, n) + rng.choice([0.25, 0.75], n),
            rng.integers(10**5, 10**6, n) + rng.choice([0.125, 0.375, 0.625, 0.875], n),
        ]
    )
    return np.concatenate(
        [magnitudes, ties, np.nextafter(ties, 0), near, special, whole, exact_ties]
    )


def test_tables_are_pythons_text_for_numbers_of_every_kind():
    rng = np.random.default_rng(5)
    values = hard_numbers(rng, 2000)
    rng.shuffle(values)
    side = int(np.ceil(np.sqrt(len(values))))
    values = np.concatenate([values, np.zeros(side * side - len(values))]).reshape(side, side)
    labels = [f"m{i}" for i in range(side)]
    assert matrix_csv(values, labels) == python_csv(values, labels)


def test_distances_are_written_by_the_compiled_loop():
    rng = np.random.default_rng(1)
    distances = rng.uniform(0, 4, (300, 300)) * 10 ** rng.uniform(-5, 0, (300, 300))
    distances[rng.random((300, 300)) < 0.01] = np.nan
    text, ends, written = g8_rows(distances)
    assert written.all()  # no row of ordinary distances falls back to Python
    rows = [text[a:b].tobytes() for a, b in zip(ends[:-1], ends[1:], strict=True)]
    assert rows == [python_csv(row[None, :], ["x"]).split(b"\n")[1][2:] for row in distances]


def test_whole_counts_are_written_as_python_writes_them():
    counts = np.arange(0, 3_000_000, 997, dtype=np.int64).reshape(-1, 1)
    labels = [str(i) for i in range(len(counts))]
    counts = np.resize(counts, (len(counts), len(counts)))
    assert matrix_csv(counts, labels) == python_csv(counts.astype(float), labels)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=12))
def test_any_row_is_pythons_text_or_left_to_python(row):
    values = np.array([row])
    text, ends, written = g8_rows(values)
    if written[0]:
        assert text[ends[0] : ends[1]].tobytes() == python_csv(values, ["x"]).split(b"\n")[1][2:]
    else:
        assert ends[1] == ends[0]
