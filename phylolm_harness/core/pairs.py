"""Cross products kept from an earlier result: a grown result computes only pairs with new models.

The cross product ``Σ_g Σ_a P_i(a|g) P_j(a|g)`` of two models depends on nothing but their two
allele distributions, and it is the one ``n x n`` product of the similarity: every other term is
per model. A model's *fingerprint* hashes its distribution (each allele named by its genome, gene
and text, with its frequency), so a model seen before, even among other models or read from
another file, finds its old pairs again; anything changed (one more probe, another genome
selected) gives another fingerprint, and its pairs are computed afresh.

Examples
--------
>>> from phylolm_harness.core.observations import GeneObservation as Obs
>>> obs = [Obs(m, "g", "f", "1", {"ab": n, "cd": 4 - n}, 4) for m, n in [("a", 1), ("b", 3)]]
>>> pops = Populations.from_observations(obs)
>>> known = KnownPairs(model_fingerprints(pops), gram(pops.frequencies))
>>> grown = Populations.from_observations([*obs, Obs("c", "g", "f", "1", {"ab": 2, "cd": 2}, 4)])
>>> cross, reused = cross_products(grown, known)
>>> reused, bool(np.allclose(cross, gram(grown.frequencies)))
(2, True)
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from phylolm_harness.core.populations import Populations
from phylolm_harness.core.similarity import gram

__all__ = ["KnownPairs", "UntrustedPairs", "cross_products", "model_fingerprints"]


class UntrustedPairs(ValueError):
    """Cached cross products that disagree with the models they claim to belong to."""


@dataclass(frozen=True)
class KnownPairs:
    """Cross products of models of an earlier result, with their fingerprints."""

    fingerprints: tuple[str, ...]
    cross: NDArray[np.float64]
    """``(k, k)``, rows and columns in the order of ``fingerprints`` (may be a memory map)."""

    def checksum(self) -> str:
        """Return a hash of the fingerprints, in order, and of the cross products' float64 bytes.

        It guards against accidents (a truncated or mismatched file), not against edits: anyone
        can recompute it, so :func:`cross_products` also checks cached values against the
        populations before using any.
        """
        digest = hashlib.blake2b(repr(self.cross.shape).encode(), digest_size=16)
        digest.update(json.dumps(self.fingerprints).encode())
        for start in range(0, len(self.cross), 1024):
            digest.update(np.ascontiguousarray(self.cross[start : start + 1024], "<f8").tobytes())
        return digest.hexdigest()


def model_fingerprints(pops: Populations) -> tuple[str, ...]:
    """Return a fingerprint of each model's allele frequencies (hex, 32 characters).

    Equal fingerprints mean equal frequencies on equally named alleles, whatever the other models
    and the column order of the populations.
    """
    names = [
        json.dumps([gene.genome, gene.fingerprint, gene.id, allele]).encode()
        for gene, allele in zip(
            (pops.genes[g] for g in pops.column_gene.tolist()), pops.column_allele, strict=True
        )
    ]
    digests = np.frombuffer(
        b"".join(hashlib.blake2b(name, digest_size=16).digest() for name in names), dtype=">u8"
    ).reshape(-1, 2)
    by_name = np.lexsort((digests[:, 1], digests[:, 0]))
    rank = np.empty_like(by_name)
    rank[by_name] = np.arange(len(by_name))
    matrix = pops.frequencies
    ranked = sp.csr_array(
        (matrix.data.copy(), rank[matrix.indices], matrix.indptr.copy()), shape=matrix.shape
    )
    ranked.sort_indices()  # each model's alleles in the order of their names' digests
    names_of = memoryview(np.ascontiguousarray(digests[by_name[ranked.indices]]).tobytes())
    values_of = memoryview(ranked.data.astype("<f8").tobytes())
    prints = []
    for start, stop in itertools.pairwise(ranked.indptr.tolist()):
        digest = hashlib.blake2b(names_of[16 * start : 16 * stop], digest_size=16)
        digest.update(values_of[8 * start : 8 * stop])
        prints.append(digest.hexdigest())
    return tuple(prints)


def cross_products(
    pops: Populations, known: KnownPairs | None = None, prints: tuple[str, ...] = ()
) -> tuple[NDArray[np.float64], int]:
    """Return every pair's cross product and how many models took theirs from ``known``.

    ``prints`` are :func:`model_fingerprints` of ``pops`` when already computed.

    Pairs of two known models are copied; the rows of the other models are one product of their
    frequencies with everyone's. The copied values are those an earlier product gave: equal to a
    product over the grown populations up to the rounding of a sum in another order (about 1e-16).
    """
    if known is None:
        return gram(pops.frequencies), 0
    where = {fingerprint: k for k, fingerprint in enumerate(known.fingerprints)}
    prints = prints or model_fingerprints(pops)
    old = np.array([where.get(f, -1) for f in prints], dtype=np.int64)
    kept = np.flatnonzero(old >= 0)
    if len(kept) < 2:
        return gram(pops.frequencies), 0
    n = len(pops.models)
    cross = np.empty((n, n))
    for start in range(0, len(kept), 1024):  # a band of rows at a time from a memory map
        rows = kept[start : start + 1024]
        cross[np.ix_(rows, kept)] = np.asarray(known.cross[old[rows]])[:, old[kept]]
    _verify(pops, cross, kept)
    new = np.flatnonzero(old < 0)
    if len(new):
        product = gram(pops.frequencies, rows=new)
        cross[new, :] = product
        cross[:, new] = product.T
    return cross, len(kept)


def _verify(pops: Populations, cross: NDArray[np.float64], kept: NDArray[np.int64]) -> None:
    """Check the copied block against the populations with one random product (Freivalds).

    ``cross[K, K] @ w`` must equal ``F_K @ (F_K.T @ w)`` for a random ``w``: one sparse product,
    not a whole Gram matrix, and any edit of the block (one pair, a row, a reordered fingerprint
    list) shows, whatever was done to the checksum. Rounding is allowed for relative to
    ``|cross| @ |w|``.
    """
    weights = np.random.default_rng().standard_normal(len(kept))
    rows = sp.csr_array(pops.frequencies)[kept]
    direct = rows @ (rows.T @ weights)
    stored, scale = np.empty(len(kept)), np.empty(len(kept))
    for start in range(0, len(kept), 1024):  # a band of rows at a time: no k x k copy
        band = cross[kept[start : start + 1024]][:, kept]
        stored[start : start + 1024] = band @ weights
        scale[start : start + 1024] = np.abs(band) @ np.abs(weights)
    # Written so that NaN and infinity count as disagreement (a product of frequencies is neither).
    bad = ~(np.abs(stored - direct) <= 1e-9 * scale + 1e-300) | ~np.isfinite(scale)
    if bad.any():
        k = int(np.argmax(bad))
        raise UntrustedPairs(
            f"the kept row of {pops.models[kept[k]]!r} disagrees with its alleles (a random "
            f"combination gives {stored[k]:.6g}, the alleles {direct[k]:.6g})"
        )
