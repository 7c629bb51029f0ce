"""Random streams for the draws that estimate the pruned part of an exact distribution.

Every node of an expansion that draws tokens gets its own stream, seeded from the run's seed, the
prompt's key and the node's token path, so the draws do not depend on how branches were batched,
on the order genes were scored in, or on other genes: a run repeated with other batch sizes gives
the same draws, and two models (keyed apart by the caller) draw independently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable

import numpy as np
from numpy.typing import NDArray

__all__ = ["engine_seed", "node_stream", "poisson_uniforms", "sorted_uniforms"]


def node_stream(
    seed: int, prompt_key: str, path: tuple[Hashable, ...], kind: str
) -> np.random.Generator:
    """Return a random generator for one node, reproducible from its identity alone.

    Parameters
    ----------
    seed : int
        The run's seed.
    prompt_key : str
        Identity of the prompt (and of the model, when the caller wants models independent).
    path : tuple
        The node's token path; tokens are keyed by their ``repr``.
    kind : str
        What the draws are for, so that two uses at one node are independent.

    Returns
    -------
    numpy.random.Generator
    """
    digest = hashlib.blake2b(
        repr((seed, prompt_key, path, kind)).encode("utf-8", "surrogatepass"), digest_size=16
    ).digest()
    return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))


def poisson_uniforms(rng: np.random.Generator, rate: float) -> tuple[float, ...]:
    """Draw a Poisson number of mean ``rate`` of uniform numbers in ``[0, 1)``, sorted.

    Examples
    --------
    >>> len(poisson_uniforms(np.random.default_rng(0), 0.0))
    0
    """
    return sorted_uniforms(rng, int(rng.poisson(rate)) if rate > 0 else 0)


def sorted_uniforms(rng: np.random.Generator, count: int) -> tuple[float, ...]:
    """Draw ``count`` uniform numbers in ``[0, 1)``, sorted."""
    values: NDArray[np.float64] = np.sort(rng.random(count))
    return tuple(float(v) for v in values)


def engine_seed(uniforms: tuple[float, ...]) -> int:
    """Derive a 31-bit seed for an engine's own sampler from a node's uniforms.

    Engines that cannot take our uniforms (vLLM, servers) draw a node's tokens themselves with
    this seed: the uniforms are keyed by the model, the prompt and the node, so the seed is too.

    >>> engine_seed((0.25, 0.5)) == engine_seed((0.25, 0.5)) != engine_seed((0.5,))
    True
    """
    digest = hashlib.blake2b(repr(uniforms).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") >> 1
