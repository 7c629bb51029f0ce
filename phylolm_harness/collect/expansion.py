"""Exact allele distributions by expanding the most probable continuations.

Sampling ``N`` continuations per gene estimates ``P(allele | gene)`` with an error of order
``1/N``. When a model exposes next-token log-probabilities, the distribution can instead be
computed: starting from the gene, every branch is extended by the tokens that hold the top-p
share of its next-token mass (at most ``top_k`` of them), level by level, until its decoded text
settles an allele (4 characters after stripping), the model ends the text, or ``max_tokens``
tokens were written, as in the sampled path. Branches whose path probability drops below
``min_mass`` before they settle, and the mass outside each top-p set, go into a ``tail``, so that
``sum(alleles) + tail == 1``.

This module holds the backend-independent algorithm. A backend supplies one function that scores
a whole frontier of branches at once (and so batches across branches and genes) and one that
decodes a branch's token path to text.

References
----------
.. [1] N. Yax, P.-Y. Oudeyer, S. Palminteri, "PhyloLM: Inferring the Phylogeny of Large Language
   Models and Predicting their Performances in Benchmarks", ICLR 2025, arXiv:2404.04671.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.alleles import ALLELE_CHARS, AlleleDistribution, allele_of
from phylolm_harness.errors import InputError

__all__ = [
    "Branch",
    "ExpansionSettings",
    "NextTokens",
    "expand_alleles",
    "keep_count",
    "rescale_top_logprobs",
    "settled_allele",
]

TokenT = TypeVar("TokenT", bound=Hashable)

_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class ExpansionSettings:
    """How far to expand continuations.

    Attributes
    ----------
    temperature : float
        Sampling temperature the distribution is computed at (log-probs are ``logits / T``
        normalised over the whole vocabulary).
    top_p : float
        At each branch, keep the most probable tokens until their mass reaches ``top_p``.
    top_k : int
        Never keep more than ``top_k`` tokens at one branch.
    min_mass : float
        Branches whose path probability falls below this before their allele is settled are not
        expanded further; their mass goes to the tail.
    max_tokens : int
        Continuations stop after this many tokens, as in the sampled path.
    """

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 20
    min_mass: float = 3e-3
    max_tokens: int = 5

    def __post_init__(self) -> None:
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise InputError(f"temperature must be a positive number, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 1:
            raise InputError(f"top_k must be at least 1, got {self.top_k}")
        if not 0 <= self.min_mass < 1:
            raise InputError(f"min_mass must be in [0, 1), got {self.min_mass}")
        if self.max_tokens < 1:
            raise InputError(f"max_tokens must be at least 1, got {self.max_tokens}")

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> ExpansionSettings:
        """Build settings from request arguments, ignoring keys this class does not know.

        Parameters
        ----------
        options : Mapping[str, Any]
            For example ``{"temperature": 0.7, "top_p": 0.95, "top_k": 20, "min_mass": 0.003,
            "max_tokens": 5}``; missing keys take the defaults.

        Returns
        -------
        ExpansionSettings
        """
        known = {
            "temperature": float,
            "top_p": float,
            "top_k": int,
            "min_mass": float,
            "max_tokens": int,
        }
        values: dict[str, Any] = {}
        for key, kind in known.items():
            if options.get(key) is not None:
                values[key] = kind(options[key])
        return cls(**values)


@dataclass(frozen=True)
class Branch(Generic[TokenT]):
    """One partial continuation in the frontier.

    Attributes
    ----------
    prompt : int
        Index of the gene (prompt) it continues.
    path : tuple
        Tokens written so far.
    logprob : float
        Log-probability of the path.
    parent : int
        Index of the branch it extends in the previous frontier, ``-1`` for the empty path.
    """

    prompt: int
    path: tuple[TokenT, ...]
    logprob: float
    parent: int


@dataclass(frozen=True)
class NextTokens(Generic[TokenT]):
    """Candidate next tokens of one branch, most probable first.

    Attributes
    ----------
    tokens : Sequence
        Candidate tokens (at least the ``top_k`` most probable ones, or all of them).
    logprobs : numpy.ndarray
        Their log-probabilities at the expansion temperature, normalised over the whole
        vocabulary, in non-increasing order.
    ends : numpy.ndarray of bool
        Whether each token ends the text (end of sequence).
    """

    tokens: Sequence[TokenT]
    logprobs: NDArray[np.float64]
    ends: NDArray[np.bool_]


def keep_count(probs: NDArray[np.float64], top_p: float, top_k: int) -> int:
    """Count the leading tokens that hold ``top_p`` of the mass, at most ``top_k``.

    Parameters
    ----------
    probs : numpy.ndarray
        Token probabilities in non-increasing order.
    top_p : float
        Share of the mass to cover.
    top_k : int
        Largest count returned.

    Returns
    -------
    int
        The smallest ``n`` with ``probs[:n].sum() >= top_p`` (all tokens if none), capped at
        ``top_k``.

    Examples
    --------
    >>> keep_count(np.array([0.5, 0.3, 0.2]), 0.8, 10)
    2
    >>> keep_count(np.array([0.5, 0.3, 0.2]), 0.81, 10)
    3
    """
    cumulative = np.cumsum(probs)
    # A tiny tolerance so that float round-off does not add a token at top_p == 1.
    reached = np.flatnonzero(cumulative >= top_p - 1e-12)
    count = int(reached[0]) + 1 if reached.size else int(probs.size)
    return min(count, top_k)


def settled_allele(text: str) -> str | None:
    r"""Return the allele of a partial continuation if more tokens cannot change it, else ``None``.

    A byte-level tokenizer may end the text in the middle of a character, which decodes as
    U+FFFD; those trailing characters are not counted until they are complete.

    Parameters
    ----------
    text : str
        Decoded text of the tokens written so far.

    Returns
    -------
    str or None

    Examples
    --------
    >>> settled_allele(" \nab")
    >>> settled_allele(" \nabcd") == "abcd"
    True
    >>> settled_allele("abc\ufffd")
    """
    stable = allele_of(text.rstrip(_REPLACEMENT))
    return stable if len(stable) >= ALLELE_CHARS else None


def expand_alleles(
    n_prompts: int,
    score: Callable[[Sequence[Branch[TokenT]]], Sequence[NextTokens[TokenT]]],
    decode: Callable[[int, tuple[TokenT, ...]], str],
    settings: ExpansionSettings,
) -> list[AlleleDistribution]:
    """Allele distributions of several prompts by level-by-level expansion.

    Parameters
    ----------
    n_prompts : int
        Number of prompts (genes), indexed ``0 .. n_prompts - 1``.
    score : callable
        Given the whole frontier (every branch has the same path length), returns the candidate
        next tokens of each branch, in the same order. Called at most ``max_tokens`` times.
    decode : callable
        ``decode(prompt, path)`` returns the text of a token path, decoded as a whole.
    settings : ExpansionSettings
        Expansion limits and temperature (the temperature is applied by ``score``).

    Returns
    -------
    list of AlleleDistribution
        One per prompt; for each, the allele probabilities plus ``tail`` sum to 1.
    """
    alleles: list[dict[str, float]] = [{} for _ in range(n_prompts)]
    tails = np.zeros(n_prompts)
    queries = np.zeros(n_prompts, dtype=np.int64)
    frontier: list[Branch[TokenT]] = [Branch(g, (), 0.0, -1) for g in range(n_prompts)]

    for depth in range(settings.max_tokens):
        if not frontier:
            break
        candidates = score(frontier)
        if len(candidates) != len(frontier):
            raise ValueError(f"scorer returned {len(candidates)} results for {len(frontier)}")
        last_level = depth + 1 == settings.max_tokens
        next_frontier: list[Branch[TokenT]] = []
        for index, (branch, nxt) in enumerate(zip(frontier, candidates, strict=True)):
            prompt = branch.prompt
            queries[prompt] += 1
            probs = np.exp(np.asarray(nxt.logprobs, dtype=np.float64))
            kept = keep_count(probs, settings.top_p, settings.top_k)
            branch_mass = math.exp(branch.logprob)
            tails[prompt] += branch_mass * max(0.0, 1.0 - float(probs[:kept].sum()))
            for token, logprob, ends in zip(
                nxt.tokens[:kept], nxt.logprobs[:kept], nxt.ends[:kept], strict=True
            ):
                path_logprob = branch.logprob + float(logprob)
                mass = math.exp(path_logprob)
                if ends:
                    allele = allele_of(decode(prompt, branch.path))
                else:
                    path = (*branch.path, token)
                    text = decode(prompt, path)
                    settled = allele_of(text) if last_level else settled_allele(text)
                    if settled is None:
                        if mass < settings.min_mass:
                            tails[prompt] += mass
                        else:
                            next_frontier.append(Branch(prompt, path, path_logprob, index))
                        continue
                    allele = settled
                found = alleles[prompt]
                found[allele] = found.get(allele, 0.0) + mass
        frontier = next_frontier

    return [
        AlleleDistribution(alleles=alleles[g], tail=float(tails[g]), queries=int(queries[g]))
        for g in range(n_prompts)
    ]


def rescale_top_logprobs(logprobs: NDArray[np.float64], temperature: float) -> NDArray[np.float64]:
    """Log-probabilities at ``temperature`` of the top tokens, from their raw log-probabilities.

    Backends that report only the top tokens' raw (temperature 1) log-probabilities do not give
    the normaliser over the whole vocabulary. For ``temperature <= 1`` the unseen tokens each have
    a probability at most that of the least probable top token, which bounds their contribution
    to the normaliser; the result is a lower bound of each token's probability (exact at
    temperature 1), and the missing mass ends up in the tail.

    Parameters
    ----------
    logprobs : numpy.ndarray
        Raw log-probabilities of the top tokens, normalised over the whole vocabulary.
    temperature : float
        Target temperature, in ``(0, 1]``.

    Returns
    -------
    numpy.ndarray
        Log-probabilities at ``temperature`` (lower bounds), same order.

    Raises
    ------
    InputError
        If ``temperature`` is above 1 (no bound without the vocabulary size).

    Examples
    --------
    >>> out = rescale_top_logprobs(np.log(np.array([0.5, 0.5])), 0.5)
    >>> np.round(np.exp(out), 6).tolist()
    [0.5, 0.5]
    """
    if not 0 < temperature <= 1:
        raise InputError(
            f"temperature {temperature}: only temperatures in (0, 1] can be served from "
            "top-token log-probabilities"
        )
    raw = np.asarray(logprobs, dtype=np.float64)
    if raw.size == 0:
        return raw
    inverse = 1.0 / temperature
    rest = max(0.0, 1.0 - float(np.exp(raw).sum()))
    scaled = raw * inverse
    bound = np.log(rest) + (inverse - 1.0) * float(raw.min()) if rest > 0 else -np.inf
    normaliser = np.logaddexp(np.logaddexp.reduce(scaled), bound)
    result: NDArray[np.float64] = scaled - normaliser
    return result
