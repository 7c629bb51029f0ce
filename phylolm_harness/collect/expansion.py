"""Exact allele distributions by expanding the most probable continuations.

Sampling ``N`` continuations per gene estimates ``P(allele | gene)`` with an error of order
``1/N``. When a model exposes next-token log-probabilities, the distribution can instead be
computed: starting from the gene, every branch is extended by the tokens that hold the top-p
share of its next-token mass (at most ``top_k`` of them), level by level, until its decoded text
settles an allele (4 characters after stripping), the model ends the text, or ``max_tokens``
tokens were written, as in the sampled path. Branches whose path probability drops below
``min_mass`` before they settle, and the mass outside each top-p set, are pruned.

Pruned mass left out would bias every estimate built on the distribution (the homozygosity most).
Where the backend can draw from whole next-token distributions, the pruned part is instead
estimated by draws: at every expanded branch a Poisson number of tokens of mean ``branch mass x
tail_samples`` is drawn from its whole distribution and the draws that fall outside its top-p
set are kept (thinning a Poisson process leaves one), each pruned branch starts a Poisson number
of draws of mean ``mass x tail_samples``, and every draw then walks down by ancestral sampling
until its allele is settled, adding ``1 / tail_samples`` to it. The allele estimates are
unbiased and the draws form a Poisson process, which makes ``Σ P̂² - count / tail_samples²`` an
unbiased estimate of ``Σ P²`` (:class:`~phylolm_harness.core.alleles.TailDraws`). Otherwise the
pruned mass goes into a ``tail``, so that ``sum(alleles) + tail == 1``.

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
from collections.abc import Callable, Sequence
from typing import Generic

import numpy as np

from phylolm_harness.collect.frontier import (
    Branch,
    ExpansionSettings,
    NextTokens,
    TokenT,
    keep_count,
    rescale_top_logprobs,
    settled_allele,
)
from phylolm_harness.collect.tail import node_stream, poisson_uniforms, sorted_uniforms
from phylolm_harness.core.alleles import AlleleDistribution, TailDraws, allele_of

__all__ = [
    "Branch",
    "ExpansionSettings",
    "NextTokens",
    "expand_alleles",
    "keep_count",
    "rescale_top_logprobs",
    "settled_allele",
]


def expand_alleles(
    n_prompts: int,
    score: Callable[[Sequence[Branch[TokenT]]], Sequence[NextTokens[TokenT]]],
    decode: Callable[[int, tuple[TokenT, ...]], str],
    settings: ExpansionSettings,
    *,
    draws: bool = False,
    streams: Sequence[str] | None = None,
) -> list[AlleleDistribution]:
    """Allele distributions of several prompts by level-by-level expansion.

    Parameters
    ----------
    n_prompts : int
        Number of prompts (genes), indexed ``0 .. n_prompts - 1``.
    score : callable
        Given the whole frontier (every branch has the same path length), returns the candidate
        next tokens of each branch, in the same order, and the tokens at each branch's
        :attr:`Branch.draws`. Called at most ``max_tokens`` times.
    decode : callable
        ``decode(prompt, path)`` returns the text of a token path, decoded as a whole.
    settings : ExpansionSettings
        Expansion limits and temperature (the temperature is applied by ``score``).
    draws : bool
        Whether ``score`` can draw tokens from whole next-token distributions. With it and
        ``settings.tail_samples > 0``, the pruned branches are estimated by draws (see
        :class:`~phylolm_harness.core.alleles.TailDraws`) instead of left in the tail.
    streams : Sequence[str], optional
        Key of each prompt's random draws (default: its index). Keys that name the model as well
        as the gene keep two models' draws independent.

    Returns
    -------
    list of AlleleDistribution
        One per prompt; for each, the allele probabilities plus ``tail`` sum to 1, or, with draws,
        the expanded probabilities plus the draws' mass plus ``tail`` do.
    """
    run = _Run(n_prompts, decode, settings, draws, streams)
    frontier = [run.branch(g, (), 0.0, -1) for g in range(n_prompts)]
    for depth in range(settings.max_tokens):
        if not frontier:
            break
        candidates = score(frontier)
        if len(candidates) != len(frontier):
            raise ValueError(f"scorer returned {len(candidates)} results for {len(frontier)}")
        run.last_level = depth + 1 == settings.max_tokens
        next_frontier: list[Branch[TokenT]] = []
        walkers: dict[tuple[int, tuple[TokenT, ...]], list[int]] = {}
        for index, (branch, nxt) in enumerate(zip(frontier, candidates, strict=True)):
            run.queries[branch.prompt] += 1
            if len(nxt.drawn) != len(branch.draws):
                raise ValueError(f"scorer drew {len(nxt.drawn)} tokens for {len(branch.draws)}")
            kept: frozenset[TokenT] = frozenset()
            if branch.expand:
                kept = run.expand(branch, index, nxt, next_frontier, walkers)
            for token, ends in zip(nxt.drawn, nxt.drawn_ends, strict=True):
                if token not in kept:  # the kept tokens are computed exactly
                    run.walk(branch, index, token, bool(ends), walkers)
        for (prompt, path), (parent, count) in walkers.items():
            stream = node_stream(settings.seed, run.keys[prompt], path, "walk")
            draws_at = sorted_uniforms(stream, count)
            next_frontier.append(Branch(prompt, path, -math.inf, parent, False, draws_at))
        frontier = next_frontier
    return run.results()


class _Run(Generic[TokenT]):
    """What one expansion accumulates per prompt, and how each kind of node adds to it."""

    def __init__(
        self,
        n_prompts: int,
        decode: Callable[[int, tuple[TokenT, ...]], str],
        settings: ExpansionSettings,
        draws: bool,
        streams: Sequence[str] | None,
    ) -> None:
        self.decode = decode
        self.settings = settings
        self.sampling = draws and settings.tail_samples > 0
        self.weight = 1.0 / settings.tail_samples if self.sampling else 0.0
        self.keys = [str(g) for g in range(n_prompts)] if streams is None else list(streams)
        if len(self.keys) != n_prompts:
            raise ValueError(f"{len(self.keys)} stream keys for {n_prompts} prompts")
        self.alleles: list[dict[str, float]] = [{} for _ in range(n_prompts)]
        self.tails = np.zeros(n_prompts)
        self.sampled = np.zeros(n_prompts)
        self.drawn = np.zeros(n_prompts, dtype=np.int64)
        self.queries = np.zeros(n_prompts, dtype=np.int64)
        self.last_level = False

    def branch(
        self, prompt: int, path: tuple[TokenT, ...], logprob: float, parent: int
    ) -> Branch[TokenT]:
        """Make an expanded branch, with the draws that will sample the mass it prunes."""
        draws_at: tuple[float, ...] = ()
        if self.sampling:
            stream = node_stream(self.settings.seed, self.keys[prompt], path, "rest")
            draws_at = poisson_uniforms(stream, math.exp(logprob) * self.settings.tail_samples)
        return Branch(prompt, path, logprob, parent, True, draws_at)

    def prune(self, prompt: int, mass: float) -> None:
        """Mass that leaves the expansion: sampled by draws, or left in the tail."""
        if self.sampling:
            self.sampled[prompt] += mass
        else:
            self.tails[prompt] += mass

    def settle(self, prompt: int, allele: str, mass: float) -> None:
        found = self.alleles[prompt]
        found[allele] = found.get(allele, 0.0) + mass

    def expand(
        self,
        branch: Branch[TokenT],
        index: int,
        nxt: NextTokens[TokenT],
        next_frontier: list[Branch[TokenT]],
        walkers: dict[tuple[int, tuple[TokenT, ...]], list[int]],
    ) -> frozenset[TokenT]:
        """Add the top tokens of an expanded branch; return them."""
        settings, prompt = self.settings, branch.prompt
        probs = np.exp(np.asarray(nxt.logprobs, dtype=np.float64))
        kept = keep_count(probs, settings.top_p, settings.top_k)
        self.prune(prompt, math.exp(branch.logprob) * max(0.0, 1.0 - float(probs[:kept].sum())))
        for token, logprob, ends in zip(
            nxt.tokens[:kept], nxt.logprobs[:kept], nxt.ends[:kept], strict=True
        ):
            path_logprob = branch.logprob + float(logprob)
            mass = math.exp(path_logprob)
            if ends:
                self.settle(prompt, allele_of(self.decode(prompt, branch.path)), mass)
                continue
            path = (*branch.path, token)
            settled = self.allele(prompt, path)
            if settled is not None:
                self.settle(prompt, settled, mass)
            elif mass >= settings.min_mass:
                next_frontier.append(self.branch(prompt, path, path_logprob, index))
            else:
                self.prune(prompt, mass)
                if self.sampling:
                    stream = node_stream(settings.seed, self.keys[prompt], path, "prune")
                    count = int(stream.poisson(mass * settings.tail_samples))
                    if count:
                        walkers.setdefault((prompt, path), [index, 0])[1] += count
        return frozenset(nxt.tokens[:kept])

    def walk(
        self,
        branch: Branch[TokenT],
        index: int,
        token: TokenT,
        ends: bool,
        walkers: dict[tuple[int, tuple[TokenT, ...]], list[int]],
    ) -> None:
        """Move one draw by the token it drew: settle it, or carry it to the next level."""
        prompt = branch.prompt
        if ends:
            settled = allele_of(self.decode(prompt, branch.path))
        else:
            path = (*branch.path, token)
            found = self.allele(prompt, path)
            if found is None:
                walkers.setdefault((prompt, path), [index, 0])[1] += 1
                return
            settled = found
        self.settle(prompt, settled, self.weight)
        self.drawn[prompt] += 1

    def allele(self, prompt: int, path: tuple[TokenT, ...]) -> str | None:
        text = self.decode(prompt, path)
        return allele_of(text) if self.last_level else settled_allele(text)

    def results(self) -> list[AlleleDistribution]:
        return [
            AlleleDistribution(
                alleles=self.alleles[g],
                tail=float(self.tails[g]),
                queries=int(self.queries[g]),
                draws=(
                    TailDraws(min(1.0, float(self.sampled[g])), int(self.drawn[g]), self.weight)
                    if self.sampling
                    else None
                ),
            )
            for g in range(len(self.alleles))
        ]
