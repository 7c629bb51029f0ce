"""Predict benchmark scores from PhyloLM distances.

A model's benchmark score is predicted from its genetic distances to models whose score is
known, with one of the predictors of :mod:`phylolm_harness.core.predictors` (``paper``,
``kernel``, ``knn``) or:

``auto``
    Picks among the ``kernel`` and ``knn`` candidates (a small grid of hyper-parameters each)
    and the paper's predictor by inner cross-validation on the training models: the default.

Evaluation is leave-one-out (each scored model predicted from all others) and
leave-one-family-out (each family predicted from the other families, as in [1]_). Any
real-valued metric is predicted: a bounded one (accuracies in [0, 1] or [0, 100]) keeps its
predictions inside its range, an unbounded one (perplexity, bits per byte) does not
(:func:`score_bounds`). Every prediction carries a split-conformal interval calibrated on the
held-out errors, and a flag when its nearest scored relative is farther than any held-out
prediction was checked at (see :mod:`phylolm_harness.core.conformal`).

This module is pure numeric: it takes arrays and mappings, never reads files.

References
----------
.. [1] Yax, N., Oudeyer, P.-Y., Palminteri, S. "PhyloLM: Inferring the Phylogeny of Large
   Language Models and Predicting their Performances in Benchmarks", ICLR 2025,
   arXiv:2404.04671.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.conformal import DEFAULT_LEVEL, conformal_radius, interval, reach
from phylolm_harness.core.crossval import (
    PROTOCOLS,
    Bounds,
    Evaluation,
    cross_validate,
    fit_predict,
    min_train,
)
from phylolm_harness.core.families import families_from_tree
from phylolm_harness.core.predictors import METHODS
from phylolm_harness.core.subsample import QuestionScores
from phylolm_harness.errors import InputError

__all__ = [
    "FRACTIONS",
    "METHODS",
    "PROTOCOLS",
    "Predictions",
    "paper_reference",
    "predict_scores",
    "score_bounds",
]

FRACTIONS = frozenset(
    {"acc", "acc_norm", "exact_match", "em", "f1", "mc1", "mc2", "pass@1", "accuracy"}
)
"""lm-eval metrics that are shares of questions: bounded, in [0, 1] or in percent."""


def score_bounds(benchmark: str, metric: str, scores: Mapping[str, float]) -> Bounds:
    """Return the range of a benchmark's scores: ``(0, 1)``, ``(0, 100)``, or None (unbounded).

    A share of questions (:data:`FRACTIONS`) is bounded: in [0, 1], or in percent when a score
    is above 1. Any other metric (perplexity, bits per byte, a log-likelihood) is unbounded.

    >>> score_bounds("b", "acc", {"m": 0.5}), score_bounds("b", "acc", {"m": 55.0})
    ((0.0, 1.0), (0.0, 100.0))
    >>> score_bounds("b", "bits_per_byte", {"m": 0.8}) is None
    True
    """
    if metric not in FRACTIONS:
        return None
    high = 1.0 if all(v <= 1.0 for v in scores.values()) else 100.0
    for model, value in scores.items():
        if not 0.0 <= value <= high:
            raise InputError(
                f"{benchmark}: {metric} of {model} is {value!r}, outside [0, {high:g}] for a "
                "share of questions"
            )
    return (0.0, high)


FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Predictions:
    """Predicted scores of every model on one benchmark.

    Attributes
    ----------
    benchmark : str
        Benchmark name.
    labels : tuple of str
        Every model with a population, in the order of the distance matrix.
    real : ndarray
        Real score, NaN for models that were not scored.
    predicted : ndarray
        For scored models, the held-out prediction under ``protocol`` (the model, and under
        leave-one-family-out its whole family, left out of training); for the others, the
        prediction of the predictor fitted on every scored model.
    held_out : ndarray of bool
        True where ``predicted`` is a cross-validated prediction of a scored model.
    method : str
        Method requested.
    chosen : str
        Candidate fitted on all scored models (what predicted the unscored ones).
    protocol : str
        Protocol of the held-out predictions in ``predicted``.
    families : Mapping[str, str]
        Family of every model, as used by leave-one-family-out.
    evaluations : tuple of Evaluation
        Leave-one-out and leave-one-family-out results.
    level : float
        Nominal coverage of the intervals.
    lower, upper : ndarray
        Interval of every prediction: for scored models calibrated on the other folds' held-out
        errors, for the others on every held-out error (under ``protocol``).
    nearest : tuple of str
        Every model's nearest scored relative (itself excluded; for a scored model under
        leave-one-family-out, its whole family excluded, as its held-out prediction was).
    nearest_distance : ndarray
        Distance to it.
    reach : float
        Farthest distance at which a held-out prediction was checked under ``protocol``.
    limits : ndarray
        Per model, the distance ``extrapolates`` compares ``nearest_distance`` with.
    extrapolates : ndarray of bool
        True where ``nearest_distance`` exceeds ``reach``; for a scored model held out with its
        family, where it exceeds the same distance of every model of the other families (its
        family lies farther from the rest than any other family).
    """

    benchmark: str
    labels: tuple[str, ...]
    real: FloatArray
    predicted: FloatArray
    held_out: NDArray[np.bool_]
    method: str
    chosen: str
    protocol: str
    families: Mapping[str, str]
    evaluations: tuple[Evaluation, ...]
    level: float
    lower: FloatArray
    upper: FloatArray
    nearest: tuple[str, ...]
    nearest_distance: FloatArray
    reach: float
    limits: FloatArray
    extrapolates: NDArray[np.bool_]
    bounds: Bounds = (0.0, 1.0)
    """Range of the scores, or None for an unbounded metric (see :func:`score_bounds`)."""

    def evaluation(self, protocol: str) -> Evaluation:
        """Return the evaluation under ``protocol``."""
        for ev in self.evaluations:
            if ev.protocol == protocol:
                return ev
        raise KeyError(protocol)


def _check_distances(distances: FloatArray, labels: Sequence[str]) -> FloatArray:
    d = np.asarray(distances, dtype=np.float64)
    n = len(labels)
    if d.shape != (n, n):
        raise InputError(f"distance matrix has shape {d.shape}, expected ({n}, {n}) for {n} models")
    if len(set(labels)) != n:
        dup = sorted(k for k, c in Counter(labels).items() if c > 1)
        raise InputError(f"duplicated model labels in the distance matrix: {', '.join(dup)}")
    if not np.all(np.isfinite(d)):
        i, j = np.argwhere(~np.isfinite(d))[0]
        raise InputError(f"distance between {labels[i]} and {labels[j]} is not finite ({d[i, j]})")
    if np.any(d < 0) or not _symmetric(d) or np.any(np.diag(d) != 0):
        raise InputError("distance matrix must be symmetric, non-negative, with a zero diagonal")
    return d


def _symmetric(d: FloatArray, band: int = 256) -> bool:
    """``np.allclose(d, d.T, atol=1e-9)``, a band of rows at a time, exact bands at once."""
    for start in range(0, len(d), band):
        rows, columns = d[start : start + band], d[:, start : start + band].T
        if not np.array_equal(rows, columns) and not np.allclose(rows, columns, atol=1e-9):
            return False
    return True


def _check_scores(
    benchmark: str, scores: Mapping[str, float], labels: Sequence[str], bounds: Bounds
) -> None:
    unknown = sorted(set(scores) - set(labels))
    if unknown:
        raise InputError(
            f"{benchmark}: scores for models with no PhyloLM population: {', '.join(unknown)}"
        )
    if len(scores) < 2:
        have = "no model" if not scores else f"only one model ({next(iter(scores))})"
        raise InputError(f"{benchmark}: scores found for {have}; prediction needs at least 2")
    low, high = (-math.inf, math.inf) if bounds is None else bounds
    for model, value in scores.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{benchmark}: score of {model} is {value!r}, not a finite number")
        if not low <= value <= high:
            raise InputError(
                f"{benchmark}: score of {model} is {value!r}, expected a number in "
                f"[{low:g}, {high:g}]"
            )


def predict_scores(
    distances: FloatArray,
    labels: Sequence[str],
    scores: Mapping[str, float],
    families: Mapping[str, str] | None = None,
    method: str = "auto",
    benchmark: str = "benchmark",
    protocol: str = "leave-one-family-out",
    level: float = DEFAULT_LEVEL,
    bounds: Bounds = (0.0, 1.0),
    questions: QuestionScores | None = None,
) -> Predictions:
    """Predict one benchmark's score for every model from PhyloLM distances.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` Nei distances between all models (``D = -ln S``).
    labels : sequence of str
        Model names, in the order of ``distances``.
    scores : Mapping[str, float]
        Real scores of the models that ran the benchmark (at least 2), inside ``bounds``.
    families : Mapping[str, str], optional
        Family of each model; every scored model needs one. Default: clades of the UPGMA
        tree, see :func:`families_from_tree`.
    method : {"auto", "paper", "kernel", "knn"}
        Predictor, see the module documentation.
    benchmark : str
        Name used in messages and in the result.
    protocol : {"leave-one-family-out", "leave-one-out"}
        Protocol of the held-out predictions reported for scored models in ``predicted``, and
        of the errors the intervals are calibrated on.
    level : float
        Nominal coverage of the intervals, in ``(0, 1)``.
    bounds : (low, high) or None
        Range of the scores (default ``(0, 1)``), None for an unbounded metric; see
        :func:`score_bounds`.
    questions : QuestionScores, optional
        Per-question results of the scored models, for the random-questions baseline beside
        the evaluations.

    Returns
    -------
    Predictions
        Held-out predictions for scored models, fitted predictions for the others, and both
        evaluations.

    Raises
    ------
    InputError
        Bad matrix, duplicated labels, scores for unknown models, fewer than 2 scored models,
        scores outside ``bounds``, scored models with no family, or a level outside ``(0, 1)``.

    Examples
    --------
    >>> d = np.array([[0, .1, 1, 1], [.1, 0, 1, 1], [1, 1, 0, .1], [1, 1, .1, 0]])
    >>> p = predict_scores(d, ["a", "b", "c", "d"], {"a": .8, "b": .7, "c": .3}, method="knn")
    >>> bool(p.predicted[3] < 0.5), bool(p.held_out[3])
    (True, False)
    """
    if method not in METHODS:
        raise InputError(f"unknown prediction method {method!r}; expected one of {METHODS}")
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown evaluation protocol {protocol!r}; expected one of {PROTOCOLS}")
    if not 0 < level < 1:
        raise InputError(f"interval coverage must be between 0 and 1, got {level}")
    d = _check_distances(distances, labels)
    _check_scores(benchmark, scores, labels, bounds)
    fam = dict(families) if families is not None else families_from_tree(d, labels)
    missing = sorted(m for m in scores if m not in fam)
    if missing:
        raise InputError(f"{benchmark}: no family given for {', '.join(missing)}")
    names = tuple(labels)
    scored = np.array([i for i, m in enumerate(names) if m in scores], dtype=np.int64)
    unscored = np.array([i for i, m in enumerate(names) if m not in scores], dtype=np.int64)
    real = np.array([float(scores[m]) if m in scores else math.nan for m in names])
    family_names = [fam.get(m, f"\0{m}") for m in names]
    codes = {f: i for i, f in enumerate(dict.fromkeys(family_names))}
    groups = np.array([codes[f] for f in family_names], dtype=np.int64)

    sub = np.ix_(scored, scored)
    aligned = None if questions is None else questions.of([names[i] for i in scored])
    evaluations = tuple(
        cross_validate(
            d[sub],
            real[scored],
            groups[scored],
            method,
            p,
            [names[i] for i in scored],
            level,
            bounds,
            aligned,
        )
        for p in PROTOCOLS
    )
    predicted = np.full(len(names), np.nan)
    held_out = np.zeros(len(names), dtype=bool)
    main = next(ev for ev in evaluations if ev.protocol == protocol)
    predicted[scored] = main.predicted
    held_out[scored] = np.isfinite(main.predicted)
    if len(scored) >= min_train(method):
        everyone = np.arange(len(names), dtype=np.int64)
        fitted, chosen = fit_predict(d, real, scored, everyone, method, groups, bounds)
        predicted[unscored] = fitted[unscored]
    else:
        chosen = ""
    lower, upper = _intervals(main, predicted, scored, unscored, level, bounds)
    held_groups = groups if protocol == "leave-one-family-out" else np.arange(len(names))
    near = d[:, scored].copy()
    near[scored, np.arange(len(scored))] = np.inf
    if protocol == "leave-one-family-out":  # a held-out model was predicted without its family
        kin = held_groups[scored][:, None] == held_groups[scored][None, :]
        near[scored] = np.where(kin, np.inf, near[scored])
    nearest_at = np.argmin(near, axis=1)
    nearest_distance = near[np.arange(len(names)), nearest_at]
    limit = reach(d, scored, held_groups)
    # A family held out is an extrapolation when it lies farther from the other families than
    # any other family does: its nearest outside model is farther than theirs all are.
    bar = np.full(len(names), limit)
    if protocol == "leave-one-family-out":
        own = held_groups[scored]
        for g in np.unique(own):
            others = own != g
            bar[scored[~others]] = (
                nearest_distance[scored[others]].max() if others.any() else np.nan
            )
    return Predictions(
        benchmark=benchmark,
        labels=names,
        real=real,
        predicted=predicted,
        held_out=held_out,
        method=method,
        chosen=chosen,
        protocol=protocol,
        families={m: fam[m] for m in names if m in fam},
        evaluations=evaluations,
        level=level,
        lower=lower,
        upper=upper,
        nearest=tuple(names[scored[j]] for j in nearest_at),
        nearest_distance=nearest_distance,
        reach=limit,
        limits=bar,
        extrapolates=np.isfinite(nearest_distance) & (nearest_distance > bar + 1e-12),
        bounds=bounds,
    )


def _intervals(
    main: Evaluation,
    predicted: FloatArray,
    scored: IntArray,
    unscored: IntArray,
    level: float,
    bounds: Bounds,
) -> tuple[FloatArray, FloatArray]:
    """Scored models: intervals calibrated on the other folds; unscored: on every fold."""
    radius = np.full(len(predicted), np.nan)
    if main.radius is not None:
        radius[scored] = main.radius
    errors = np.abs(main.real - main.predicted)
    radius[unscored] = conformal_radius(errors, level) if np.any(np.isfinite(errors)) else np.inf
    return interval(predicted, radius, bounds)


def paper_reference(
    distances: FloatArray, preds: Predictions, families: Mapping[str, str]
) -> tuple[Evaluation, ...]:
    """Evaluate the paper's reference predictor on the models ``preds`` scored, for comparison.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` distances between the models of ``preds.labels``.
    preds : Predictions
        Predictions of one benchmark (gives the scored models and their real scores).
    families : Mapping[str, str]
        Family of every scored model.

    Returns
    -------
    tuple of Evaluation
        One per protocol of :data:`PROTOCOLS`.
    """
    labels = preds.labels
    scored = np.flatnonzero(np.isfinite(preds.real))
    sub = np.ix_(scored, scored)
    groups = np.unique([families[labels[i]] for i in scored], return_inverse=True)[1]
    return tuple(
        cross_validate(
            np.asarray(distances, dtype=np.float64)[sub],
            preds.real[scored],
            groups.astype(np.int64),
            "paper",
            protocol,
            [labels[i] for i in scored],
            preds.level,
            preds.bounds,
        )
        for protocol in PROTOCOLS
    )
