"""Held-out evaluation of the benchmark predictors: folds, model selection, cross-validation.

Leave-one-out holds each scored model out in turn; leave-one-family-out holds out a whole family,
as in the PhyloLM paper. ``auto`` picks its candidate inside each fold, from the training models
only, so the reported errors are honest estimates for unseen models.

Every fit is a small dense problem (a few hundred training models at most), so the fits run on
one BLAS thread: on small matrices a BLAS library's threads cost more than they give (a FastICA
fit took 14 ms on 2 threads and 10 ms on 1 at 1,000 models, with the same numbers).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from phylolm_harness.core.conformal import DEFAULT_LEVEL, fold_coverage
from phylolm_harness.core.predictors import SIMPLICITY, Candidate, Task, candidates
from phylolm_harness.core.subsample import QuestionScores, subset_baseline
from phylolm_harness.errors import InputError

__all__ = ["PROTOCOLS", "Bounds", "Evaluation", "cross_validate", "fit_predict", "min_train"]

Bounds = tuple[float, float] | None
"""The range of a benchmark's scores (``(0, 1)``, ``(0, 100)``), or None for an unbounded one."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_Args = ParamSpec("_Args")
_Out = TypeVar("_Out")

PROTOCOLS = ("leave-one-out", "leave-one-family-out")
"""Evaluation protocols, in the order they are reported."""


@dataclass(frozen=True)
class Evaluation:
    """Cross-validated predictions of the scored models under one protocol.

    Attributes
    ----------
    protocol : str
        ``"leave-one-out"`` or ``"leave-one-family-out"``.
    method : str
        Method requested (``"auto"``, ``"paper"``, ``"kernel"`` or ``"knn"``).
    chosen : str
        Candidate used in the folds; for ``auto`` the most frequent choice with its count.
    labels : tuple of str
        Scored models, in the order of ``real`` and ``predicted``.
    real : ndarray
        Real scores.
    predicted : ndarray
        Held-out predictions (NaN when the protocol could not run).
    r : float
        Pearson correlation of ``predicted`` and ``real`` (NaN when undefined).
    mae : float
        Mean absolute error (NaN when the protocol could not run).
    n_folds : int
        Number of held-out groups.
    note : str
        Why the protocol could not run, or an empty string.
    coverage : float
        Share of real scores inside their conformal interval, each calibrated on the errors of
        the other folds (see :mod:`phylolm_harness.core.conformal`).
    width : float
        Mean width of those intervals.
    radius : ndarray or None
        Per model, the radius of its interval.
    """

    protocol: str
    method: str
    chosen: str
    labels: tuple[str, ...]
    real: FloatArray
    predicted: FloatArray
    r: float
    mae: float
    n_folds: int
    note: str = ""
    coverage: float = math.nan
    width: float = math.nan
    radius: FloatArray | None = None
    baselines: tuple[tuple[str, float, float], ...] = ()
    """``(name, r, MAE)`` of the baselines under the same folds: the mean of the other scored
    models, the score of the nearest scored relative, and where the runs logged per-question
    results, a regression on a random sample of questions (:mod:`.subsample`)."""
    choices: tuple[tuple[str, int], ...] = ()
    """How many folds chose each candidate, most often first."""


def _folds(groups: IntArray) -> list[IntArray]:
    """Return the indices held out together: one array per group, in order of first appearance."""
    _, first = np.unique(groups, return_index=True)
    return [np.flatnonzero(groups == groups[i]) for i in np.sort(first)]


def min_train(method: str) -> int:
    """Fewest training models a method can be fitted on."""
    return 2 if method in ("paper", "auto") else 1


def _unit(y_train: FloatArray, bounds: Bounds) -> tuple[float, float]:
    """Offset and span of the predictors' scale: ``u = (y - offset) / span``.

    A bounded benchmark maps its range onto [0, 1] (where the paper's sigmoid lives); an
    unbounded one maps the training scores' range onto [0.1, 0.9]. Every predictor fits on that
    scale and its predictions are mapped back, so any real-valued metric is predicted the same
    way (the kernel and nearest-relative predictors do not depend on the scale at all).

    >>> _unit(np.array([2.0, 4.0]), None), _unit(np.array([0.5]), (0.0, 100.0))
    ((1.75, 2.5), (0.0, 100.0))
    """
    if bounds is not None:
        return bounds[0], bounds[1] - bounds[0]
    lo, hi = float(y_train.min()), float(y_train.max())
    span = (hi - lo) / 0.8 if hi > lo else 1.0
    return lo - 0.1 * span, span


def _task(
    d: FloatArray, y: FloatArray, train: IntArray, query: IntArray, bounds: Bounds = (0.0, 1.0)
) -> Task:
    offset, span = _unit(y[train], bounds)
    u = (y[train] - offset) / span
    return Task(d[np.ix_(train, train)], u, d[np.ix_(query, train)], bounds is not None)


def _finish(pred: FloatArray, y_train: FloatArray, bounds: Bounds = (0.0, 1.0)) -> FloatArray:
    """Map predictions back from the predictors' scale (a failed fit predicts the mean)."""
    offset, span = _unit(y_train, bounds)
    u = np.nan_to_num(pred, nan=float(np.mean((y_train - offset) / span)))
    if bounds is not None:
        u = np.clip(u, 0.0, 1.0)
    out: FloatArray = offset + span * u
    return out


def _apply(
    c: Candidate,
    d: FloatArray,
    y: FloatArray,
    train: IntArray,
    query: IntArray,
    bounds: Bounds = (0.0, 1.0),
) -> FloatArray:
    return _finish(c.predict([_task(d, y, train, query, bounds)])[0], y[train], bounds)


PAPER_MIN_TRAIN = 10
"""Fewest training models for ``auto`` to consider the paper's predictor: FastICA on fewer
models than that fits noise, and inner cross-validation on so few cannot tell."""


OUTER_FOLDS = 20
"""Most held-out folds of an evaluation. With more scored models (leave-one-out) or families,
they are dealt into this many folds, whole families kept together: a model is then predicted
without the other models of its fold too (20-fold cross-validation, a little pessimistic), and
the cost stops growing with the number of scored models."""

SLACK = 1.0
"""Standard errors above the best inner error under which ``auto`` takes a simpler candidate
(the one-standard-error rule; figures in benchmarks/results/predict_selection.md)."""

INNER_FOLDS = 10
"""Most folds of the inner cross-validation that picks ``auto``'s candidate. With more held-out
groups (scored models, or families) they are dealt into this many folds, whole groups kept
together: the choice then costs ten fits per candidate, not one per scored model (with 100
scored models, 10 times fewer FastICA fits for the paper's predictor)."""


def _dealt(folds: list[IntArray], most: int) -> list[IntArray]:
    """Deal folds, in order, into ``most`` folds (round robin) when there are more of them.

    >>> [f.tolist() for f in _dealt([np.array([i]) for i in range(5)], 2)]
    [[0, 2, 4], [1, 3]]
    """
    if len(folds) <= most:
        return folds
    return [np.sort(np.concatenate(folds[start::most])) for start in range(most)]


def _select(
    cands: Sequence[Candidate],
    d: FloatArray,
    y: FloatArray,
    groups: IntArray,
    bounds: Bounds = (0.0, 1.0),
) -> Candidate:
    """Pick a candidate by inner cross-validation with the one-standard-error rule.

    The candidate with the lowest mean absolute error sets the bar: its error plus one standard
    error of that mean (across the inner folds). The simplest candidate under the bar wins (the
    mean of the training scores first, then nearest relatives, kernels, the paper's predictor):
    with 10 to 20 training models the inner errors are noisy, and the lowest of 30 noisy errors
    is usually an optimistic one.
    """
    if len(cands) > 1 and len(y) < PAPER_MIN_TRAIN:
        cands = [c for c in cands if c.method != "paper"]
    if len(cands) == 1:
        return cands[0]
    inner = groups if len(np.unique(groups)) >= 3 else np.arange(len(y), dtype=np.int64)
    folds = [f for f in _dealt(_folds(inner), INNER_FOLDS) if len(y) - len(f) >= 2]
    if not folds:
        return cands[0]
    everyone = np.arange(len(y))
    trains = [np.setdiff1d(everyone, held) for held in folds]
    tasks = [_task(d, y, train, held, bounds) for train, held in zip(trains, folds, strict=True)]
    errors = np.zeros((len(cands), len(folds)))  # mean absolute error of each inner fold
    for i, c in enumerate(cands):
        preds = c.predict(tasks)
        for j, (pred, train, held) in enumerate(zip(preds, trains, folds, strict=True)):
            errors[i, j] = float(np.abs(_finish(pred, y[train], bounds) - y[held]).mean())
    weights = np.array([len(f) for f in folds], dtype=np.float64)
    mean = errors @ weights / weights.sum()
    best = int(np.argmin(mean))
    spread = float(errors[best].std(ddof=1)) / math.sqrt(len(folds)) if len(folds) > 1 else 0.0
    under = [i for i in range(len(cands)) if mean[i] <= mean[best] + SLACK * spread]
    return cands[min(under, key=lambda i: (SIMPLICITY.get(cands[i].method, 9), mean[i], i))]


def _one_blas_thread(function: Callable[_Args, _Out]) -> Callable[_Args, _Out]:
    """Run ``function`` with one BLAS thread (see the module)."""

    @functools.wraps(function)
    def wrapped(*args: _Args.args, **kwargs: _Args.kwargs) -> _Out:
        with threadpool_limits(1, "blas"):
            return function(*args, **kwargs)

    return wrapped


@_one_blas_thread
def fit_predict(
    distances: FloatArray,
    scores: FloatArray,
    train: IntArray,
    query: IntArray,
    method: str,
    groups: IntArray | None = None,
    bounds: Bounds = (0.0, 1.0),
) -> tuple[FloatArray, str]:
    """Fit a method on some models and predict others (no validation: see :func:`predict_scores`).

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` distance matrix.
    scores : ndarray
        ``(n,)`` scores; only ``scores[train]`` is read.
    train, query : ndarray of int
        Indices of the training and query models.
    method : str
        One of :data:`METHODS`.
    groups : ndarray of int, optional
        Family of every model, for the inner cross-validation of ``auto``, ``kernel`` and
        ``knn`` (leave-one-family-out with 3 families or more, else leave-one-out).
    bounds : (low, high) or None
        Range of the scores (predictions are kept inside it), None for an unbounded metric.

    Returns
    -------
    predicted : ndarray
        Scores of ``query``.
    chosen : str
        Name of the candidate used.
    """
    cands = candidates(method)
    g = np.arange(len(scores), dtype=np.int64) if groups is None else groups
    sub = np.ix_(train, train)
    best = _select(cands, distances[sub], scores[train], g[train], bounds)
    return _apply(best, distances, scores, train, query, bounds), best.name


def _pearson(a: FloatArray, b: FloatArray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


@_one_blas_thread
def cross_validate(
    distances: FloatArray,
    scores: FloatArray,
    groups: IntArray,
    method: str,
    protocol: str,
    labels: Sequence[str] | None = None,
    level: float = DEFAULT_LEVEL,
    bounds: Bounds = (0.0, 1.0),
    questions: QuestionScores | None = None,
) -> Evaluation:
    """Held-out predictions of every scored model under one protocol.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` distances between the scored models only.
    scores : ndarray
        ``(n,)`` real scores.
    groups : ndarray of int
        ``(n,)`` family index of each model.
    method : str
        One of :data:`METHODS`; for ``auto``, ``kernel`` and ``knn`` the candidate is chosen
        again inside each fold, from the training models only, by the same protocol (inner
        leave-one-family-out falls back to leave-one-out with fewer than 3 families).
    protocol : {"leave-one-out", "leave-one-family-out"}
        Which models are held out together.
    labels : sequence of str, optional
        Model names, kept in the result.
    level : float
        Nominal coverage of the conformal intervals.
    bounds : (low, high) or None
        Range of the scores, None for an unbounded metric (see :func:`fit_predict`).
    questions : QuestionScores, optional
        Per-question results of the scored models (same order), for the random-questions
        baseline (:func:`~phylolm_harness.core.subsample.subset_baseline`).

    Returns
    -------
    Evaluation
        Predictions, Pearson r and MAE. When the protocol cannot run (fewer than 2 families for
        leave-one-family-out, or a fold leaving too few training models) the predictions are NaN
        and ``note`` says why.
    """
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown evaluation protocol {protocol!r}; expected one of {PROTOCOLS}")
    n = len(scores)
    names = tuple(labels) if labels is not None else tuple(str(i) for i in range(n))
    outer = np.arange(n, dtype=np.int64) if protocol == "leave-one-out" else groups
    folds = _dealt(_folds(outer), OUTER_FOLDS)
    predicted = np.full(n, np.nan)
    note = ""
    if len(folds) < 2:
        note = "needs at least 2 families"
    elif any(n - len(f) < min_train(method) for f in folds):
        note = f"a fold leaves fewer than {min_train(method)} training models"
    if note:
        return Evaluation(
            protocol, method, "", names, scores, predicted, math.nan, math.nan, len(folds), note
        )
    chosen: Counter[str] = Counter()
    everyone = np.arange(n)
    trains = [np.setdiff1d(everyone, held) for held in folds]
    cands = candidates(method)
    if len(cands) == 1:  # nothing to choose: fit every fold in one batch
        tasks = [_task(distances, scores, t, h, bounds) for t, h in zip(trains, folds, strict=True)]
        for pred, train, held in zip(cands[0].predict(tasks), trains, folds, strict=True):
            predicted[held] = _finish(pred, scores[train], bounds)
        chosen[cands[0].name] = len(folds)
    else:
        for train, held in zip(trains, folds, strict=True):
            pred, name = fit_predict(distances, scores, train, held, method, outer, bounds)
            predicted[held] = pred
            chosen[name] += 1
    top, count = chosen.most_common(1)[0]
    chosen_text = top if len(chosen) == 1 else f"{top} ({count}/{len(folds)} folds)"
    radius, coverage, width = fold_coverage(scores, predicted, folds, level, bounds)
    mean = np.empty(n)
    nearest = np.empty(n)
    for train, held in zip(trains, folds, strict=True):
        mean[held] = scores[train].mean()
        nearest[held] = scores[train][np.argmin(distances[np.ix_(held, train)], axis=1)]
    baselines = tuple(
        (name, _pearson(guess, scores), float(np.mean(np.abs(guess - scores))))
        for name, guess in (("mean of the others", mean), ("nearest scored relative", nearest))
    )
    subset = None if questions is None else subset_baseline(questions, scores, trains, folds)
    if subset is not None:
        baselines += (subset,)
    return Evaluation(
        protocol,
        method,
        chosen_text,
        names,
        scores,
        predicted,
        _pearson(predicted, scores),
        float(np.mean(np.abs(predicted - scores))),
        len(folds),
        coverage=coverage,
        width=width,
        radius=radius,
        baselines=baselines,
        choices=tuple(chosen.most_common()),
    )
