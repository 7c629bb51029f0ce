"""Which models to run a benchmark on, chosen from the tree alone, before any benchmark runs.

The scores of related models are correlated the way their genes are: the model treats a
benchmark score as a Gaussian process over the models with the kernel ``exp(-D / tau)`` (Nei's
distance ``D``; ``tau`` the median distance between models) and a small noise. Each step picks the
model whose real score would most reduce the summed predictive variance of all models' scores
(greedy variance reduction; the objective is submodular, so greedy is within ``1 - 1/e`` of
the best set [1]_). Models already scored are conditioned on first, so the plan says what to
run *next*.

References
----------
.. [1] Krause, A., Singh, A., Guestrin, C. "Near-Optimal Sensor Placements in Gaussian
   Processes", JMLR 2008.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.errors import InputError

__all__ = ["NOISE", "Plan", "plan_runs"]

FloatArray = NDArray[np.float64]

NOISE = 0.01
"""Noise variance of a real score, relative to the prior variance 1 of the process."""


@dataclass(frozen=True)
class Plan:
    """Models to run, in order, and how much of the scores' uncertainty each run removes.

    Attributes
    ----------
    chosen : tuple of str
        The models, best first.
    remaining : tuple of float
        After each chosen model, the summed predictive variance of every model's score as a
        share of its value before the plan (after conditioning on models already scored).
    scored : tuple of str
        Models conditioned on (already scored).
    """

    chosen: tuple[str, ...]
    remaining: tuple[float, ...]
    scored: tuple[str, ...]


def _tau(d: FloatArray) -> float:
    off = d[~np.eye(len(d), dtype=bool)]
    positive = off[off > 0]
    return float(np.median(positive)) if positive.size else 1.0


def plan_runs(
    distances: FloatArray, labels: Sequence[str], k: int, scored: Sequence[str] = ()
) -> Plan:
    """Choose the ``k`` models whose real scores would best predict every other model's.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` Nei distances between the models.
    labels : sequence of str
        Model names, in the order of ``distances``.
    k : int
        How many models to propose (at least 1, at most the unscored models).
    scored : sequence of str
        Models that already have real scores.

    Returns
    -------
    Plan

    Raises
    ------
    InputError
        ``k`` out of range, or a scored model that is not among ``labels``.

    Examples
    --------
    Two families of three: one run per family, the centre of each first.

    >>> d = np.full((6, 6), 2.0)
    >>> for block in ((0, 1, 2), (3, 4, 5)):
    ...     for i in block:
    ...         for j in block:
    ...             d[i, j] = 0.0 if i == j else (0.1 if 1 in (i, j) or 4 in (i, j) else 0.2)
    >>> plan_runs(d, list("abcdef"), 2).chosen
    ('b', 'e')
    """
    names = list(labels)
    unknown = sorted(set(scored) - set(names))
    if unknown:
        raise InputError(f"scored models not in the tree: {', '.join(unknown)}")
    free = len(names) - len(set(scored))
    if not 1 <= k <= free:
        raise InputError(f"--plan must be between 1 and {free} (the models without a score)")
    d = np.asarray(distances, dtype=np.float64)
    cov = np.exp(-d / _tau(d))
    taken = np.zeros(len(names), dtype=bool)

    def condition(j: int) -> None:
        nonlocal cov
        col = cov[:, j].copy()
        cov = cov - np.outer(col, col) / (col[j] + NOISE)
        taken[j] = True

    for name in dict.fromkeys(scored):
        condition(names.index(name))
    start = float(np.trace(cov))
    chosen: list[str] = []
    remaining: list[float] = []
    for _ in range(k):
        gain = (cov * cov).sum(axis=0) / (np.diag(cov) + NOISE)
        gain[taken] = -np.inf
        j = int(np.argmax(gain))
        condition(j)
        chosen.append(names[j])
        remaining.append(float(np.trace(cov)) / start if start > 0 else 0.0)
    return Plan(tuple(chosen), tuple(remaining), tuple(dict.fromkeys(scored)))
