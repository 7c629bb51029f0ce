"""Symmetric matrices kept as upper triangles, and the compiled loop of gene resampling.

Resampled distances: one pass over the gene blocks for several resamples at once.

A resample's similarity is ``S_ij = Σ_b w_b C_b[i, j] / sqrt(W_ij W_ji)`` with ``C_b`` the cross
products of gene block ``b`` (symmetric, so only their upper triangles are kept, row after row)
and ``W_ij = Σ_g w_g J_i(g)`` over the genes model ``j`` was observed on. For a model observed on
every gene, ``W_ij`` does not depend on ``j``: one number a model, and a column only for the
models observed on some genes. :func:`resampled_distances` sums the drawn blocks row by row for
several resamples at once (their rows of sums stay in cache while each block's row is read once
for all of them) and turns each pair straight into its similarity, capped at 1, without ``n x n``
temporaries; one vectorised logarithm over the batch then gives the distances.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray


def packed_size(n: int) -> int:
    """Entries of the upper triangle, diagonal included, of an ``n x n`` matrix.

    Examples
    --------
    >>> packed_size(3)
    6
    """
    return n * (n + 1) // 2


def pack(
    matrix: NDArray[np.float64], out: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Upper triangle, diagonal included, row after row (into ``out`` when given).

    Examples
    --------
    >>> pack(np.arange(9.0).reshape(3, 3))
    array([0., 1., 2., 4., 5., 8.])
    """
    if out is None:
        out = np.empty(packed_size(len(matrix)))
    pack_band(matrix, 0, out)  # the whole matrix is the band of rows from the first
    return out


def pack_band(band: NDArray[np.float64], top: int, out: NDArray[np.float64]) -> None:
    """Pack rows ``top, top + 1, ...`` of a symmetric matrix, given from column ``top`` on.

    ``band[k]`` holds row ``top + k`` from column ``top`` to the last; its part from the
    diagonal on goes to its place in ``out``, the packed (:func:`pack`) whole matrix.

    Examples
    --------
    >>> m = np.arange(9.0).reshape(3, 3); out = np.zeros(6)
    >>> pack_band(m[1:, 1:], 1, out); out
    array([0., 0., 0., 4., 5., 8.])
    """
    band = np.asarray(band, dtype=np.float64)
    n = top + band.shape[1]
    t = top * n - top * (top - 1) // 2  # packed entries of the rows above ``top``
    for k in range(band.shape[0]):
        width = n - top - k
        out[t : t + width] = band[k, k:]
        t += width


def unpack(packed: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """Return the symmetric ``n x n`` matrix of a packed upper triangle.

    Examples
    --------
    >>> unpack(np.array([0.0, 1.0, 2.0, 4.0, 5.0, 8.0]), 3)
    array([[0., 1., 2.],
           [1., 4., 5.],
           [2., 5., 8.]])
    """
    out = np.empty((n, n))
    t = 0
    for i in range(n):  # the upper triangle, row by row
        out[i, i:] = packed[t : t + n - i]
        t += n - i
    for top in range(0, n, _BLOCK):  # then the lower one, a block of rows at a time
        end = min(top + _BLOCK, n)
        out[top:end, :top] = out[:top, top:end].T
        square = out[top:end, top:end]
        below = np.tril_indices(end - top, -1)
        square[below] = square.T[below]
    return out


_BLOCK = 512
"""Rows mirrored at a time by :func:`unpack` (a transposed block stays in cache)."""


def resampled_distances(
    cross: NDArray[np.float64],
    weights: NDArray[np.float64],
    within: NDArray[np.float64],
    within_partial: NDArray[np.float64],
    partial_column: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Nei distances on several resamples of genes at once, packed (:func:`pack`).

    The resamples share one pass over the blocks: each block row is read once for all of them
    while their rows of sums stay in cache. A resample's sums are added in block order, skipping
    the blocks it did not draw, so its distances do not depend on the resamples beside it.

    Parameters
    ----------
    cross : ndarray
        ``(B, n (n + 1) / 2)`` packed (:func:`pack`) cross products of each gene block.
    weights : ndarray
        ``(R, B)`` times each resample drew each block.
    within : ndarray
        ``(R, n)`` ``Σ_g w_g J_i(g)`` over every gene.
    within_partial : ndarray
        ``(R, n, p)`` the same sums over the genes each of the ``p`` partly observed models was
        observed on.
    partial_column : ndarray of int64
        ``(n,)`` column of ``within_partial`` of each model, ``-1`` if observed on every gene.

    Returns
    -------
    distances : ndarray
        ``(R, n (n + 1) / 2)`` packed distances, ``-ln`` of the similarity capped at 1, zero on
        the diagonal.
    defined : ndarray of bool
        ``(R,)`` false where two models share no allele (similarity 0) or a pair's within term
        is not positive; that resample's distances are then incomplete.
    """
    n = within.shape[1]
    out = np.empty((len(weights), packed_size(n)))
    defined = np.ones(len(weights), dtype=np.bool_)
    _similarities(cross, weights, within, within_partial, partial_column, out, defined)
    with np.errstate(divide="ignore", invalid="ignore"):  # undefined resamples hold anything
        np.log(out, out=out)  # numpy's vectorised log, as nei_distance's
    np.negative(out, out=out)
    row = np.arange(n)
    out[:, row * n - row * (row - 1) // 2] = 0.0  # the diagonal: where each row starts
    return out, defined


@njit(cache=True, nogil=True)
def _similarities(
    cross: Any,
    weights: Any,
    within: Any,
    within_partial: Any,
    partial_column: Any,
    out: Any,
    defined: Any,
) -> None:
    n_resamples, n_blocks = weights.shape
    n = within.shape[1]
    rows = np.empty((n_resamples, n))
    start = 0
    for i in range(n):
        width = n - i
        rows[:, :width] = 0.0
        for b in range(n_blocks):
            block = cross[b, start : start + width]
            for r in range(n_resamples):
                w = weights[r, b]
                if w != 0.0:
                    row = rows[r]
                    for e in range(width):
                        row[e] += w * block[e]
        ci = partial_column[i]
        for r in range(n_resamples):
            if not defined[r]:
                continue
            row = rows[r]
            out[r, start] = 1.0
            for e in range(1, width):
                j = i + e
                cj = partial_column[j]
                w_ij = within[r, i] if cj < 0 else within_partial[r, i, cj]
                w_ji = within[r, j] if ci < 0 else within_partial[r, j, ci]
                denominator = w_ij * w_ji
                if row[e] <= 0.0 or denominator <= 0.0:
                    defined[r] = False
                    break
                out[r, start + e] = min(row[e] / np.sqrt(denominator), 1.0)
        start += width


def spread_add(
    packed: NDArray[np.float64], mean: NDArray[np.float64], m2: NDArray[np.float64], count: int
) -> None:
    """Welford's update of the packed running ``mean`` and ``m2`` by a packed matrix.

    ``count`` counts ``packed``. The arithmetic is numpy's elementwise ``delta = x - mean;
    mean += delta / count; m2 += delta * (x - mean)``.
    """
    step = 1 << 18  # a stretch at a time: temporaries stay small at any size
    for start in range(0, len(packed), step):
        x, mu, sq = (a[start : start + step] for a in (packed, mean, m2))
        delta = x - mu
        mu += delta / count
        sq += delta * (x - mu)
