"""Tables: distance matrices and predictions as CSV, numbers as text."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.plan import Plan
from phylolm_harness.core.predict import Predictions
from phylolm_harness.io.files import Piece

__all__ = [
    "cell",
    "CSV_COLUMNS",
    "matrix_csv",
    "TEXT_TABLES_MAX_MODELS",
    "matrix_csv_chunks",
    "models_csv",
    "npy_chunks",
    "number",
    "plan_csv",
    "prediction_rows",
    "predictions_csv",
]

CSV_COLUMNS = (
    "model",
    "benchmark",
    "family",
    "real",
    "predicted",
    "held_out",
    "method",
    "protocol",
    "lower",
    "upper",
    "nearest_scored",
    "nearest_distance",
    "extrapolates",
)


def cell(text: str) -> str:
    """Make text safe in one Markdown table cell: escape pipes and line breaks."""
    return text.replace("|", "\\|").replace("\r", "\\r").replace("\n", "\\n")


def _fmt(x: float) -> str:
    return "" if not math.isfinite(x) else f"{x:.6f}"


def number(x: float) -> str:
    """Three decimals, or ``n/a`` for NaN and infinities."""
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def prediction_rows(preds: Predictions) -> list[dict[str, str]]:
    """Rows of ``predictions.csv`` for one benchmark.

    Parameters
    ----------
    preds : Predictions
        Result of :func:`phylolm_harness.core.predict.predict_scores`.

    Returns
    -------
    list of dict
        One row per model: ``real`` is empty for unscored models; ``held_out`` is ``true``
        where the prediction was made without the model's own score (cross-validated, under
        ``protocol``) and ``false`` for unscored models, predicted by the predictor fitted on
        every scored model; ``method`` is the predictor actually used; ``lower`` and ``upper``
        the conformal interval; ``nearest_scored`` and ``nearest_distance`` the closest model
        with a real score; ``extrapolates`` whether that is farther than held-out predictions
        were checked at.
    """
    main = preds.evaluation(preds.protocol)
    rows = []
    for i, model in enumerate(preds.labels):
        scored = math.isfinite(preds.real[i])
        rows.append(
            {
                "model": model,
                "benchmark": preds.benchmark,
                "family": preds.families.get(model, ""),
                "real": _fmt(float(preds.real[i])),
                "predicted": _fmt(float(preds.predicted[i])),
                "held_out": "true" if preds.held_out[i] else "false",
                "method": main.chosen if scored else preds.chosen,
                "protocol": preds.protocol if scored else "fitted on all scored models",
                "lower": _fmt(float(preds.lower[i])),
                "upper": _fmt(float(preds.upper[i])),
                "nearest_scored": preds.nearest[i],
                "nearest_distance": _fmt(float(preds.nearest_distance[i])),
                "extrapolates": "true" if preds.extrapolates[i] else "false",
            }
        )
    return rows


def predictions_csv(all_preds: Sequence[Predictions]) -> bytes:
    """Content of ``predictions.csv`` for several benchmarks.

    Parameters
    ----------
    all_preds : sequence of Predictions
        One entry per benchmark.

    Returns
    -------
    bytes
        UTF-8 CSV with the columns of :data:`CSV_COLUMNS`.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for preds in all_preds:
        writer.writerows(prediction_rows(preds))
    return buffer.getvalue().encode("utf-8")


def plan_csv(plan: Plan) -> bytes:
    """Content of ``plan.csv``: ``rank,model,uncertainty_left`` (share of the variance)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "model", "uncertainty_left"])
    for rank, (model, left) in enumerate(zip(plan.chosen, plan.remaining, strict=True), 1):
        writer.writerow([rank, model, _fmt(left)])
    return buffer.getvalue().encode("utf-8")


def matrix_csv(matrix: NDArray[np.float64], labels: list[str]) -> bytes:
    """Write a square matrix as CSV, model labels on both axes (8 significant digits).

    Missing values (NaN) are empty cells; numbers are Python's ``%.8g``.

    Examples
    --------
    >>> print(matrix_csv(np.array([[0.0, 1 / 3], [np.nan, 0.0]]), ["a", "b,c"]).decode(), end="")
    model,a,"b,c"
    a,0,0.33333333
    "b,c",,0
    """
    return b"".join(matrix_csv_chunks(matrix, labels))


def matrix_csv_chunks(
    matrix: NDArray[np.float64] | NDArray[np.int64], labels: list[str], rows_per_chunk: int = 200
) -> Iterator[bytes]:
    """Yield the CSV of :func:`matrix_csv` in pieces of a few rows (bounded memory)."""
    names = [_csv_field(label) for label in labels]
    yield ",".join(["model", *names]).encode() + b"\n"
    template = ",".join(["%.8g"] * len(labels))
    for start in range(0, len(labels), rows_per_chunk):
        block = np.asarray(matrix[start : start + rows_per_chunk], dtype=np.float64)
        lines = [
            f"{name},{_row_text(template, row)}\n"
            for name, row in zip(names[start : start + rows_per_chunk], block, strict=True)
        ]
        yield "".join(lines).encode()


def _row_text(template: str, row: NDArray[np.float64]) -> str:
    """Format one row: ``%.8g`` numbers, NaN as an empty cell."""
    text = template % tuple(row.tolist())
    gaps = np.isnan(row)
    if gaps.any():
        text = ",".join(
            "" if gap else cell for cell, gap in zip(text.split(","), gaps, strict=True)
        )
    return text


def models_csv(labels: Sequence[str]) -> bytes:
    """Write the models in matrix order, one a line under the header ``model`` (for ``.npy``).

    >>> print(models_csv(["a", "b,c"]).decode(), end="")
    model
    a
    "b,c"
    """
    return "".join(f"{_csv_field(label)}\n" for label in ["model", *labels]).encode()


TEXT_TABLES_MAX_MODELS = 2000
"""Most models whose distance, similarity, error and shared-gene tables are written as CSV. Past
it they are NumPy ``.npy`` files in the order of ``models.csv``: at 10,000 models each table would
be a gigabyte of text and half a minute of formatting."""


def npy_chunks(matrix: NDArray[np.float64] | NDArray[np.int64], rows: int = 500) -> Iterator[Piece]:
    """Yield a matrix as a NumPy ``.npy`` file (``numpy.load`` reads it), a band of rows at a time.

    Examples
    --------
    >>> import io
    >>> matrix = np.arange(6.0).reshape(3, 2).T
    >>> np.array_equal(np.load(io.BytesIO(b"".join(npy_chunks(matrix, rows=1)))), matrix)
    True
    """
    header = io.BytesIO()
    fields = np.lib.format.header_data_from_array_1_0(matrix)
    fields["fortran_order"] = False  # the bands below are written row by row
    np.lib.format.write_array_header_1_0(header, fields)
    yield header.getvalue()
    for start in range(0, len(matrix), rows):  # views of the bands' bytes: written without a copy
        yield np.ascontiguousarray(matrix[start : start + rows]).data.cast("B")


def _csv_field(text: str) -> str:
    """Quote a CSV field as the csv module's minimal quoting does."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text])
    return buffer.getvalue()[:-1]
