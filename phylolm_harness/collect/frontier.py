"""What an expansion and a backend exchange: settings, branches and candidate next tokens.

Also the rules both sides apply: which tokens of a branch are expanded (:func:`keep_count`), when
a partial continuation has settled its allele (:func:`settled_allele`), and how top-token
log-probabilities from a server are moved to another temperature (:func:`rescale_top_logprobs`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.alleles import ALLELE_CHARS, allele_of
from phylolm_harness.errors import InputError

__all__ = [
    "Branch",
    "ExpansionSettings",
    "NextTokens",
    "TokenT",
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
    tail_samples : float
        The mass the expansion prunes is estimated by draws, each carrying ``1 / tail_samples``
        of the probability: the pruned part is sampled as densely as ``tail_samples`` samples of
        the whole distribution would sample it. ``0`` leaves it unexpanded, in the tail. Only
        backends that can draw from whole next-token distributions use it.
    seed : int
        Seed of the draws.
    """

    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 10
    min_mass: float = 1e-2
    max_tokens: int = 5
    tail_samples: float = 16.0
    seed: int = 0

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
        if not (self.tail_samples == 0 or 1 <= self.tail_samples <= 1e6):
            raise InputError(f"tail_samples must be 0 or in [1, 1e6], got {self.tail_samples}")

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> ExpansionSettings:
        """Build settings from request arguments, ignoring keys this class does not know.

        Parameters
        ----------
        options : Mapping[str, Any]
            For example ``{"temperature": 0.7, "top_p": 0.9, "top_k": 10, "min_mass": 0.01,
            "max_tokens": 5, "tail_samples": 16, "seed": 0}``; missing keys take the defaults.

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
            "tail_samples": float,
            "seed": int,
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
    expand : bool
        Whether its top tokens are expanded; ``False`` for a node that only carries draws.
    draws : tuple of float
        Uniform numbers in ``[0, 1)``, sorted: the scorer returns, for each, the token whose
        interval of the cumulative next-token distribution (whole vocabulary, any fixed order)
        holds it, that is one independent draw from the distribution per number.
    """

    prompt: int
    path: tuple[TokenT, ...]
    logprob: float
    parent: int
    expand: bool = True
    draws: tuple[float, ...] = ()


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
    drawn : Sequence
        The tokens drawn at the branch's :attr:`Branch.draws`, in the same order.
    drawn_ends : numpy.ndarray of bool
        Whether each drawn token ends the text.
    """

    tokens: Sequence[TokenT]
    logprobs: NDArray[np.float64]
    ends: NDArray[np.bool_]
    drawn: Sequence[TokenT] = ()
    drawn_ends: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))


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
