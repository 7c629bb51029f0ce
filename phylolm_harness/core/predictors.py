"""The predictors of benchmark scores from distances, each a batch fit-and-predict function.

``paper``
    The PhyloLM reference predictor [1]_: the features of a model are its distances to the
    training models; FastICA (``min(15, n_train - 1)`` components, ``random_state=42``) is fitted
    on the training models, then a linear layer with a sigmoid is trained with mean squared error
    (Adam, learning rate 1e-3, weight decay 0.01, 1,000 full-batch epochs). The sigmoid only for
    bounded scores; an unbounded metric (perplexity, bits per byte) gets a linear output.
``kernel``
    Kernel ridge regression with the kernel ``exp(-D / tau)`` between training models
    (``tau = 1`` is Nei's identity ``S`` itself), around the mean training score.
``knn``
    The ``k`` nearest relatives, weighted by ``exp(-D / tau)``.
``mean``
    The mean score of the training models, ignoring the tree: the baseline every other
    predictor must beat, and ``auto``'s fallback when none does.

Private kernels: inputs are validated by :func:`phylolm_harness.core.predict.predict_scores`.

References
----------
.. [1] Yax, N., Oudeyer, P.-Y., Palminteri, S. "PhyloLM: Inferring the Phylogeny of Large
   Language Models and Predicting their Performances in Benchmarks", ICLR 2025,
   arXiv:2404.04671.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.errors import InputError

__all__ = ["MEAN", "METHODS", "SIMPLICITY", "Candidate", "Predictor", "Task", "candidates"]

FloatArray = NDArray[np.float64]

METHODS = ("auto", "paper", "kernel", "knn")
"""Accepted values of ``method``."""

_PAPER_EPOCHS = 1000
_PAPER_LR = 1e-3
_PAPER_WEIGHT_DECAY = 0.01
_PAPER_MAX_COMPONENTS = 15
_PAPER_SEED = 42


@dataclass(frozen=True, eq=False)
class Task:
    """One fit: distances between training models, their scores, query-to-training distances."""

    d_train: FloatArray
    y_train: FloatArray
    """Scores on the predictors' scale (see :mod:`phylolm_harness.core.crossval`)."""
    d_query: FloatArray
    bounded: bool = True
    """Whether the benchmark's scores are bounded (the paper's sigmoid output is used only then;
    otherwise its output layer is linear)."""

    @functools.cached_property
    def median_distance(self) -> float:
        """Median positive distance between two training models (1 when there is none).

        Computed once for every candidate fitted on the task (the scale of their ``tau``).
        """
        off = self.d_train[~np.eye(len(self.d_train), dtype=bool)]
        positive = off[off > 0]
        return float(np.median(positive)) if positive.size else 1.0


Predictor = Callable[[Sequence[Task]], list[FloatArray]]
"""Fits and predicts several tasks at once (batched where that is faster)."""


@dataclass(frozen=True)
class Candidate:
    """One predictor with fixed hyper-parameters.

    Attributes
    ----------
    name : str
        Readable name with the hyper-parameters, e.g. ``"kernel(tau=0.5*median, lambda=0.01)"``.
    method : str
        ``"paper"``, ``"kernel"`` or ``"knn"``.
    predict : Predictor
        ``predict([Task(d_train, y_train, d_query), ...]) -> [y_query, ...]``.
    """

    name: str
    method: str
    predict: Predictor


# ---------------------------------------------------------------------------------------------
# Predictors (private kernels: inputs already validated)


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def _paper_features(d_train: FloatArray, d_query: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the FastICA components of the training rows and the query rows projected on them."""
    from sklearn.decomposition import FastICA
    from sklearn.exceptions import ConvergenceWarning

    centred = d_train - d_train.mean(axis=0)
    rank = int(np.linalg.matrix_rank(centred)) if np.any(centred) else 0
    # min(15, n_train - 1) as in the reference, but never more than the data's rank: with
    # identical training rows (relatives at distance 0) FastICA's whitening divides by zero.
    k = min(_PAPER_MAX_COMPONENTS, len(d_train) - 1, rank)
    if k == 0:  # nothing to learn from: the sigmoid's bias alone fits the scores
        return np.zeros((len(d_train), 1)), np.zeros((len(d_query), 1))
    ica = FastICA(n_components=k, random_state=_PAPER_SEED, max_iter=1000)
    # sklearn divides by every singular value, also those of the components it then drops
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        z_train = np.asarray(ica.fit_transform(d_train), dtype=np.float64)
    return z_train, np.asarray(ica.transform(d_query), dtype=np.float64)


def _paper_batch(tasks: Sequence[Task]) -> list[FloatArray]:
    """Fit the reference predictor on several training sets at once.

    Each task gets its own FastICA and its own linear layer; the 1,000 Adam epochs run on all
    of them together, padded to a common shape (padded rows carry no loss, padded weights start
    at zero and receive no gradient), which gives the same result as fitting them one by one.
    """
    feats = [_paper_features(task.d_train, task.d_query) for task in tasks]
    n_tasks = len(tasks)
    sigmoid = np.array([task.bounded for task in tasks])[:, None]  # else a linear output
    n_max = max(len(task.y_train) for task in tasks)
    k_max = max(z.shape[1] for z, _ in feats)
    x = np.zeros((n_tasks, n_max, k_max + 1))
    y = np.zeros((n_tasks, n_max))
    scale = np.zeros((n_tasks, n_max))  # 2 / n on real rows, 0 on padding
    theta = np.zeros((n_tasks, k_max + 1))
    for t, ((z, _), task) in enumerate(zip(feats, tasks, strict=True)):
        n, k = z.shape
        x[t, :n, :k] = z
        x[t, :n, k_max] = 1.0
        y[t, :n] = task.y_train
        scale[t, :n] = 2.0 / n
        # torch.nn.Linear's initialisation: U(-1/sqrt(k), 1/sqrt(k)), weights then bias.
        bound = 1.0 / math.sqrt(k)
        draws = np.random.default_rng(_PAPER_SEED).uniform(-bound, bound, size=k + 1)
        theta[t, :k] = draws[:k]
        theta[t, k_max] = draws[k]
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, _PAPER_EPOCHS + 1):
        z = np.einsum("tnk,tk->tn", x, theta)
        p = np.where(sigmoid, _sigmoid(z), z)
        grad_z = scale * (p - y) * np.where(sigmoid, p * (1.0 - p), 1.0)
        # Adam's weight_decay (as torch.optim.Adam): an L2 term added to the gradient.
        grad = np.einsum("tnk,tn->tk", x, grad_z) + _PAPER_WEIGHT_DECAY * theta
        m = beta1 * m + (1.0 - beta1) * grad
        v = beta2 * v + (1.0 - beta2) * grad * grad
        m_hat = m / (1.0 - beta1**step)
        v_hat = v / (1.0 - beta2**step)
        theta = theta - _PAPER_LR * m_hat / (np.sqrt(v_hat) + eps)
    out: list[FloatArray] = []
    for t, (_, z_query) in enumerate(feats):
        k = z_query.shape[1]
        linear = z_query @ theta[t, :k] + theta[t, k_max]
        out.append(_sigmoid(linear) if tasks[t].bounded else linear)
    return out


def _each(predict: Callable[[Task], FloatArray]) -> Predictor:
    def batch(tasks: Sequence[Task]) -> list[FloatArray]:
        return [predict(task) for task in tasks]

    return batch


def _kernel_predictor(factor: float | None, lam: float) -> Predictor:
    def predict(task: Task) -> FloatArray:
        tau = 1.0 if factor is None else factor * task.median_distance
        y = task.y_train
        k_train = np.exp(-task.d_train / tau)
        k_query = np.exp(-task.d_query / tau)
        mean = float(y.mean())
        system = k_train + lam * np.eye(len(y))
        try:
            alpha = np.linalg.solve(system, y - mean)
        except np.linalg.LinAlgError:
            alpha = np.linalg.lstsq(system, y - mean, rcond=None)[0]
        out: FloatArray = mean + k_query @ alpha
        return out

    return _each(predict)


def _knn_predictor(k: int | None, factor: float) -> Predictor:
    def predict(task: Task) -> FloatArray:
        tau = factor * task.median_distance
        y, d_query = task.y_train, task.d_query
        n_keep = len(y) if k is None else min(k, len(y))
        order = np.argsort(d_query, axis=1, kind="stable")[:, :n_keep]
        near = np.take_along_axis(d_query, order, axis=1)
        # Relative weights: subtracting the nearest distance avoids underflow.
        w = np.exp(-(near - near[:, :1]) / tau)
        out: FloatArray = (w * y[order]).sum(axis=1) / w.sum(axis=1)
        return out

    return _each(predict)


def _mean_predictor(tasks: Sequence[Task]) -> list[FloatArray]:
    return [np.full(len(task.d_query), float(task.y_train.mean())) for task in tasks]


MEAN = Candidate("mean of the others", "mean", _mean_predictor)
"""The baseline: every query gets the training models' mean score."""

SIMPLICITY = {"mean": 0, "knn": 1, "kernel": 2, "paper": 3}
"""Order in which ``auto``'s one-standard-error rule prefers candidates (simplest first)."""


def candidates(method: str) -> tuple[Candidate, ...]:
    """Return the predictors (with their hyper-parameter grid) a method chooses among.

    Parameters
    ----------
    method : {"auto", "paper", "kernel", "knn"}
        ``paper`` has a single candidate; ``kernel`` and ``knn`` a small grid; ``auto`` the mean
        of the training scores, both grids and the paper's predictor (the cross-validation
        leaves the paper's out below ten training models).

    Returns
    -------
    tuple of Candidate
        The candidates, in a fixed order (ties in cross-validation go to the first).
    """
    if method not in METHODS:
        raise InputError(f"unknown prediction method {method!r}; expected one of {METHODS}")
    out: list[Candidate] = [MEAN] if method == "auto" else []
    if method in ("auto", "kernel"):
        for factor in (None, 0.25, 0.5, 1.0, 2.0):
            for lam in (1e-3, 1e-2, 1e-1, 1.0):
                tau = "1" if factor is None else f"{factor:g}*median"
                out.append(
                    Candidate(
                        f"kernel(tau={tau}, lambda={lam:g})",
                        "kernel",
                        _kernel_predictor(factor, lam),
                    )
                )
    if method in ("auto", "knn"):
        for k in (1, 3, 5, None):
            for factor in (0.25, 1.0):
                name = f"knn(k={'all' if k is None else k}, tau={factor:g}*median)"
                out.append(Candidate(name, "knn", _knn_predictor(k, factor)))
    if method in ("auto", "paper"):
        out.append(Candidate("paper(FastICA+linear-sigmoid)", "paper", _paper_batch))
    return tuple(out)
