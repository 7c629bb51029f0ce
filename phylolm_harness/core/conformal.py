"""How sure a predicted score is: split-conformal intervals from held-out errors, and their reach.

The held-out predictions of the scored models (leave-one-out or leave-one-family-out) give one
absolute error each. The conformal radius at level ``c`` is the ``ceil((n + 1) c)``-th smallest
of ``n`` such errors [1]_; a new model's interval is its prediction plus or minus that radius,
clipped to ``[0, 1]``. When ``n`` is too small for the level the radius is infinite and the
interval is all of ``[0, 1]``.

Coverage is measured, not assumed: each scored model's held-out prediction gets the interval
calibrated on the errors of the *other* folds only (its whole family left out), and the share of
real scores inside is the coverage reported. It is only measured when some fold holds several
models: with one model per fold (leave-one-out) the share inside is fixed by the ranks of the
errors (``ceil(n c) / n`` whatever they are), so it would say nothing.

Intervals are honest only for models like those the errors came from: a model whose nearest
scored relative is farther than any held-out prediction was checked at is flagged as an
extrapolation (predictions for a new family fail most, [2]_).

References
----------
.. [1] Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J., Wasserman, L. "Distribution-Free
   Predictive Inference for Regression", JASA 2018.
.. [2] Zhang, G., Dorner, F. E., Hardt, M. "How Benchmark Prediction from Fewer Data Misses the
   Mark", arXiv:2506.07673.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["DEFAULT_LEVEL", "conformal_radius", "fold_coverage", "interval", "reach"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DEFAULT_LEVEL = 0.9
"""Nominal coverage of the intervals."""


def conformal_radius(errors: FloatArray, level: float) -> float:
    """Return the split-conformal radius of absolute held-out errors at a coverage level.

    Parameters
    ----------
    errors : ndarray
        Absolute errors of held-out predictions (NaN entries are ignored).
    level : float
        Coverage in ``(0, 1)``.

    Returns
    -------
    float
        The ``ceil((n + 1) * level)``-th smallest error, or ``inf`` when that exceeds ``n``.

    Examples
    --------
    >>> conformal_radius(np.arange(1.0, 20.0) / 100, 0.9)
    0.18
    >>> conformal_radius(np.array([0.1, 0.2]), 0.9)
    inf
    """
    e = np.sort(np.asarray(errors, dtype=np.float64)[np.isfinite(errors)])
    rank = math.ceil((len(e) + 1) * level)
    return math.inf if rank > len(e) else float(e[rank - 1])


def interval(
    predicted: FloatArray,
    radius: FloatArray | float,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> tuple[FloatArray, FloatArray]:
    """Return ``predicted -/+ radius``, clipped to the scores' ``bounds`` if any (NaN stays NaN)."""
    p = np.asarray(predicted, dtype=np.float64)
    low, high = (-np.inf, np.inf) if bounds is None else bounds
    with np.errstate(invalid="ignore"):
        return np.clip(p - radius, low, high), np.clip(p + radius, low, high)


def fold_coverage(
    real: FloatArray,
    predicted: FloatArray,
    folds: Sequence[IntArray],
    level: float,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> tuple[FloatArray, float, float]:
    """Intervals of held-out predictions calibrated without their own fold, and their coverage.

    Parameters
    ----------
    real, predicted : ndarray
        Real scores and held-out predictions of the scored models.
    folds : sequence of ndarray of int
        The models held out together (one per model under leave-one-out).
    level : float
        Nominal coverage.

    Returns
    -------
    radius : ndarray
        Per model, the conformal radius of the errors of every other fold.
    coverage : float
        Share of real scores inside their interval; NaN when nothing was predicted, or when
        every fold is a single model (the share is then fixed by the ranks, not measured).
    width : float
        Mean width of the clipped intervals.
    """
    errors = np.abs(np.asarray(real) - np.asarray(predicted))
    radius = np.full(len(errors), math.nan)
    for held in folds:
        others = np.ones(len(errors), dtype=bool)
        others[held] = False
        radius[held] = conformal_radius(errors[others], level)
    if not np.any(np.isfinite(predicted)):
        return radius, math.nan, math.nan
    low, high = interval(predicted, radius, bounds)
    inside = (real >= low - 1e-12) & (real <= high + 1e-12)
    ok = np.isfinite(predicted)
    width = float((high - low)[ok].mean())
    if all(len(held) == 1 for held in folds):
        return radius, math.nan, width
    return radius, float(inside[ok].mean()), width


def reach(distances: FloatArray, scored: IntArray, groups: IntArray) -> float:
    """Return the farthest distance at which a held-out prediction was checked.

    For each scored model, the distance to its nearest scored model outside its own held-out
    group; the largest of these. A prediction from farther away is an extrapolation.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` distances between all models.
    scored : ndarray of int
        Indices of the scored models.
    groups : ndarray of int
        ``(n,)`` held-out group of every model (its own index under leave-one-out).

    Returns
    -------
    float
        The reach (``nan`` with fewer than two groups among the scored models).
    """
    d = distances[np.ix_(scored, scored)].copy()
    g = groups[scored]
    d[g[:, None] == g[None, :]] = np.inf
    nearest = d.min(axis=1) if len(scored) else np.array([])
    finite = nearest[np.isfinite(nearest)]
    return float(finite.max()) if finite.size else math.nan
