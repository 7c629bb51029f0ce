"""The random-questions baseline: run a model on a few questions, regress the full score on them.

Zhang, Dorner & Hardt (arXiv 2506.07673) found this baseline hard to beat across 11 benchmark
prediction methods: draw ``k`` questions at random, score every model on them, and fit a linear
regression of the full benchmark score on that subset score over the models with both; a new model
then costs ``k`` questions. A prediction from the tree is worth its genes only where it beats this
at a comparable cost, so the report shows it beside every figure when the runs logged their
per-question results (``lm_eval --log_samples``).

Per-question results are summed as lm-eval aggregates them: a mean of per-question values
(``acc``, ``exact_match``), or a ratio of sums of ``(log-likelihood, size)`` pairs
(``bits_per_byte = -Σ ll / Σ bytes / ln 2``; ``word_perplexity``, ``byte_perplexity``:
``exp(-Σ ll / Σ size)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["AGGREGATES", "NAME", "QUESTIONS", "QuestionScores", "subset_baseline"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

QUESTIONS = 100
"""Questions each draw of the baseline scores a model on."""

DRAWS = 20
"""Random draws of questions the baseline's error is averaged over."""

NAME = f"{QUESTIONS} random questions + regression"
"""The baseline's name in an evaluation's baselines and in the report."""

AGGREGATES = ("mean", "bits_per_byte", "perplexity")
"""How per-question results make a score (see the module)."""


@dataclass(frozen=True)
class QuestionScores:
    """Per-question results of one benchmark for some models, on the questions they all answered.

    Attributes
    ----------
    labels : tuple of str
        Models, in the order of the rows.
    values : ndarray
        ``(models, questions)``: a per-question value, or the log-likelihood of a pair.
    sizes : ndarray
        ``(models, questions)``: 1, or the size (bytes, words) of a pair.
    aggregate : str
        One of :data:`AGGREGATES`.
    """

    labels: tuple[str, ...]
    values: FloatArray
    sizes: FloatArray
    aggregate: str

    def of(self, models: Sequence[str]) -> QuestionScores | None:
        """Return the rows of ``models``, in that order; ``None`` if one of them has none."""
        row = {m: i for i, m in enumerate(self.labels)}
        if any(m not in row for m in models):
            return None
        take = np.array([row[m] for m in models], dtype=np.int64)
        return QuestionScores(tuple(models), self.values[take], self.sizes[take], self.aggregate)

    def score(self, rows: IntArray, questions: IntArray) -> FloatArray:
        """Return the benchmark's score of ``rows`` on ``questions`` only.

        Examples
        --------
        >>> q = QuestionScores(("a",), np.array([[1.0, 0.0, 1.0]]), np.ones((1, 3)), "mean")
        >>> q.score(np.array([0]), np.array([0, 1])).tolist()
        [0.5]
        """
        block = np.ix_(rows, questions)
        ratio: FloatArray = self.values[block].sum(axis=1) / self.sizes[block].sum(axis=1)
        if self.aggregate == "bits_per_byte":
            return -ratio / math.log(2)
        if self.aggregate == "perplexity":
            return np.exp(-ratio)
        return ratio


def subset_baseline(
    questions: QuestionScores,
    scores: FloatArray,
    trains: Sequence[IntArray],
    folds: Sequence[IntArray],
    seed: int = 0,
) -> tuple[str, float, float] | None:
    """``(name, r, MAE)`` of the random-questions baseline under the given folds.

    Row ``i`` of ``questions`` is scored model ``i``. Every fold's held-out models are predicted
    by a least-squares line of ``scores`` on the subset score, fitted on that fold's training
    models (their mean where the subset scores of the training models are all
    equal). r and MAE are averaged over :data:`DRAWS` draws of :data:`QUESTIONS` questions.
    ``None`` when the benchmark has no more than twice that many questions (the subset would be
    most of it).
    """
    total = questions.values.shape[1]
    if total <= 2 * QUESTIONS:
        return None
    rows = np.arange(len(scores), dtype=np.int64)
    rng = np.random.default_rng(seed)
    rs, errors = [], []
    for _ in range(DRAWS):
        x = questions.score(rows, rng.choice(total, QUESTIONS, replace=False))
        if not np.isfinite(x).all():
            return None
        guess = np.empty(len(scores))
        for train, held in zip(trains, folds, strict=True):
            xt, yt = x[train], scores[train]
            if len(train) < 2 or np.ptp(xt) == 0:
                guess[held] = yt.mean()
                continue
            slope, intercept = np.polyfit(xt, yt, 1)
            guess[held] = intercept + slope * x[held]
        errors.append(float(np.mean(np.abs(guess - scores))))
        if len(scores) >= 3 and np.ptp(guess) > 0 and np.ptp(scores) > 0:
            rs.append(float(np.corrcoef(guess, scores)[0, 1]))
    r = float(np.mean(rs)) if rs else math.nan
    return NAME, r, float(np.mean(errors))
