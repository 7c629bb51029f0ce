r"""Lineage trees from likelihood profiles: how well each model predicts what the others write.

Every model writes a few short passages (sampled continuations of neutral prompts); the passages
of all models are pooled, and every model scores every passage (its log-likelihood, as
``lm_eval``'s ``loglikelihood_rolling`` computes it). A model's *profile* is its log-likelihood
per byte of each passage (per byte, so that models with different tokenizers are comparable). Two
models are as far apart as the root mean square of their profile differences,

.. math:: d(i, j) = \sqrt{\tfrac{1}{P} \textstyle\sum_p (\ell_{ip} - \ell_{jp})^2},

in nats per byte. Passages are resampled for standard errors and branch supports, as genes are
for allele distances.

What it measures: a fine-tune's text leaves traces that later fine-tunes do not erase at once (its
words, names and phrasings stay more likely), and a model's own writing carries those traces, so
relatives predict each other's passages alike. Allele frequencies on fixed genes mostly show the
style of the text a model was tuned on last. The passages must come from the models compared (or
their relatives): fixed text carries no trace of their fine-tunes. How each does on known lineages:
``benchmarks/results/lineages-likelihood.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from skbio import TreeNode

from phylolm_harness.core.resample import RunningSpread
from phylolm_harness.core.support import SupportCounter, Supports
from phylolm_harness.core.tree import MIN_TAXA, Method, build_tree
from phylolm_harness.core.treelikeness import TreeFit, tree_fit
from phylolm_harness.errors import InputError

__all__ = ["LikelihoodTree", "Profiles", "infer_likelihood_tree", "profile_distances"]

MIN_PASSAGES = 16
"""Fewest passages a tree is built from (fewer give distances dominated by a handful of texts)."""


@dataclass(frozen=True, eq=False)
class Profiles:
    """Log-likelihoods of a shared set of passages under each model.

    Attributes
    ----------
    models : tuple of str
        Model labels, one per row.
    passages : tuple of str
        Passage ids, one per column.
    loglik : ndarray of float64
        ``(models, passages)`` total log-likelihood (nats) of each passage under each model.
    nbytes : ndarray of int64
        ``(passages,)`` length of each passage in UTF-8 bytes.
    """

    models: tuple[str, ...]
    passages: tuple[str, ...]
    loglik: NDArray[np.float64]
    nbytes: NDArray[np.int64]

    def __post_init__(self) -> None:
        shape = (len(self.models), len(self.passages))
        if self.loglik.shape != shape or self.nbytes.shape != shape[1:]:
            raise InputError(
                f"likelihood profiles: {self.loglik.shape} values and {self.nbytes.shape} passage "
                f"lengths for {shape[0]} models and {shape[1]} passages"
            )
        if len(set(self.models)) != len(self.models):
            raise InputError("likelihood profiles: model labels repeat")
        if np.any(self.nbytes <= 0):
            raise InputError("likelihood profiles: a passage is empty")
        bad = ~np.isfinite(self.loglik) | (self.loglik > 0)
        if bad.any():
            model, passage = (int(k[0]) for k in np.nonzero(bad))
            raise InputError(
                f"likelihood profiles: model {self.models[model]!r} gives passage "
                f"{self.passages[passage]!r} the log-likelihood {self.loglik[model, passage]!r} "
                "(expected a finite number <= 0)"
            )

    @property
    def per_byte(self) -> NDArray[np.float64]:
        """``(models, passages)`` log-likelihood per byte of each passage (nats per byte)."""
        return self.loglik / self.nbytes


def profile_distances(per_byte: NDArray[np.float64]) -> NDArray[np.float64]:
    """Root mean square difference of every two rows: ``(n, p)`` profiles -> ``(n, n)`` distances.

    Examples
    --------
    >>> profile_distances(np.array([[0.0, 0.0], [3.0, 4.0]])).round(3).tolist()
    [[0.0, 3.536], [3.536, 0.0]]
    """
    centred = per_byte - per_byte.mean(axis=0)  # same distances, better-conditioned products
    norms = np.einsum("ij,ij->i", centred, centred)
    squared = norms[:, None] + norms[None, :] - 2.0 * (centred @ centred.T)
    distances = np.sqrt(np.clip(squared, 0.0, None) / per_byte.shape[1])
    np.fill_diagonal(distances, 0.0)
    symmetric: NDArray[np.float64] = (distances + distances.T) / 2.0
    return symmetric


@dataclass(frozen=True, eq=False)
class LikelihoodTree:
    """A lineage tree from likelihood profiles, with its errors, supports and fit."""

    profiles: Profiles
    distances: NDArray[np.float64]
    standard_errors: NDArray[np.float64]
    """Bootstrap (passages resampled) standard error of each distance; NaN when not computed."""
    tree: TreeNode | None
    why_no_tree: str
    method: Method
    supports: Supports | None
    resampled: int
    fit: TreeFit | None

    @property
    def labels(self) -> tuple[str, ...]:
        """Model labels, in matrix order."""
        return self.profiles.models


def infer_likelihood_tree(
    profiles: Profiles, method: Method = "nj", resamples: int = 100, seed: int = 0
) -> LikelihoodTree:
    """Distances between likelihood profiles, their tree, and passage-bootstrap supports.

    Parameters
    ----------
    profiles : Profiles
        Every model's log-likelihood of every passage.
    method : {"nj", "upgma", "bme"}
        Tree-building method (:func:`~phylolm_harness.core.tree.build_tree`).
    resamples : int
        Passage resamples (with replacement, seeded) for the standard errors and branch supports;
        0 or 1 draws none.
    seed : int
        Seed of the resamples and of the quartets of the fit.

    Returns
    -------
    LikelihoodTree

    Raises
    ------
    InputError
        Fewer than :data:`MIN_PASSAGES` passages.
    """
    n, p = profiles.loglik.shape
    if p < MIN_PASSAGES:
        raise InputError(
            f"likelihood profiles: {p} passages; a tree needs at least {MIN_PASSAGES} (have more "
            "models write passages, or each write more)"
        )
    per_byte = profiles.per_byte
    distances = profile_distances(per_byte)
    labels: Sequence[str] = profiles.models
    tree: TreeNode | None = None
    why = ""
    if n < MIN_TAXA:
        why = f"a tree needs at least {MIN_TAXA} models and {n} were found"
    else:
        tree = build_tree(distances, labels, method)
    errors = np.full((n, n), np.nan)
    supports = None
    drawn = resamples if resamples > 1 and n > 1 else 0
    if drawn:
        rng = np.random.default_rng(seed)
        spread = RunningSpread(n)
        counter = SupportCounter(tree, labels) if tree is not None else None
        for _ in range(drawn):
            resampled = spread.add(profile_distances(per_byte[:, rng.integers(0, p, size=p)]))
            if counter is not None:
                counter.add_tree(build_tree(resampled, labels, method, ladderized=False))
        errors = spread.standard_errors()
        supports = counter.supports() if counter is not None else None
    fit = tree_fit(distances, tree, labels, seed) if tree is not None and n >= 4 else None
    return LikelihoodTree(profiles, distances, errors, tree, why, method, supports, drawn, fit)
