"""A toy language model over byte strings, with exact next-token log-probabilities.

Used to test the expansion against brute-force enumeration: "é" is split in two byte tokens and
the empty token ends the text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phylolm_harness.collect.expansion import Branch, NextTokens

VOCAB: list[bytes] = [b"a", b"b", b" ", b"\n", b"cd", b"\xc3", b"\xa9", b""]
EOS = len(VOCAB) - 1


def toy_logits(prompt: int, path: Sequence[int], seed: int) -> np.ndarray:
    """Deterministic logits of the toy model for a prompt and a token path."""
    key = hash((seed, prompt, tuple(path))) % (2**32)
    return np.random.default_rng(key).normal(0.0, 2.0, size=len(VOCAB))


def decode(path: Sequence[int]) -> str:
    return b"".join(VOCAB[t] for t in path).decode("utf-8", errors="replace")


class ToyScorer:
    def __init__(self, temperature: float, seed: int = 0) -> None:
        self.temperature = temperature
        self.seed = seed
        self.calls = 0

    def logprobs(self, prompt: int, path: Sequence[int]) -> np.ndarray:
        z = toy_logits(prompt, path, self.seed) / self.temperature
        return z - np.logaddexp.reduce(z)

    def __call__(self, frontier: Sequence[Branch[int]]) -> list[NextTokens[int]]:
        self.calls += 1
        depths = {len(b.path) for b in frontier}
        assert len(depths) == 1, "frontier must be level-synchronous"
        out = []
        for b in frontier:
            lp = self.logprobs(b.prompt, b.path)
            order = np.argsort(-lp, kind="stable")
            cumulative = np.cumsum(np.exp(lp))
            drawn = np.minimum(
                np.searchsorted(cumulative, np.asarray(b.draws) * cumulative[-1], side="right"),
                len(VOCAB) - 1,
            )
            out.append(
                NextTokens(
                    [int(t) for t in order],
                    lp[order],
                    order == EOS,
                    [int(t) for t in drawn],
                    drawn == EOS,
                )
            )
        return out
