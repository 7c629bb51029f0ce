"""The compiled steps of :func:`~phylolm_harness.core.nj.nj_linkage`.

numpy's pairwise sum (for scikit-bio's row sums), the kept nearest neighbours of a cluster, and the
choice of the pair to join among candidates, in scikit-bio's order and arithmetic
(``skbio.tree._c_nj.nj_minq_cy``), or among every pair when the candidates crowd.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _block_sum(a: Any, lo: int, n: int) -> float:
    """Sum at most 128 contiguous numbers as numpy does: eight running sums, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return float(res)


@njit(cache=True, nogil=True)
def _pairwise_sum(a: Any, n: int) -> float:
    """Sum ``a[:n]`` pairwise as numpy does (``np.add.reduce`` of a contiguous row).

    numpy halves the range (at a multiple of 8) until 128 numbers are left; this walks the same
    halving with a stack, adding each half's sum to its sibling's, as numpy's recursion does.
    """
    todo_lo = np.empty(128, dtype=np.int64)
    todo_n = np.empty(128, dtype=np.int64)  # a range to sum, or -1: add the two sums on top
    done = np.empty(128)
    todo_lo[0], todo_n[0] = 0, n
    n_todo = 1
    n_done = 0
    while n_todo:
        n_todo -= 1
        lo, size = todo_lo[n_todo], todo_n[n_todo]
        if size < 0:
            n_done -= 1
            done[n_done - 1] = done[n_done - 1] + done[n_done]
        elif size <= 128:
            done[n_done] = _block_sum(a, lo, size)
            n_done += 1
        else:
            half = size // 2
            half -= half % 8
            todo_n[n_todo] = -1
            todo_lo[n_todo + 1], todo_n[n_todo + 1] = lo + half, size - half
            todo_lo[n_todo + 2], todo_n[n_todo + 2] = lo, half
            n_todo += 3
    return float(done[0])


@njit(cache=True, nogil=True)
def _keep(
    kept_d: Any,
    kept_id: Any,
    kept_len: Any,
    kept_start: Any,
    kept_bound: Any,
    slot: int,
    values: Any,
    ids: Any,
    m: int,
    k: int,
) -> None:
    """Keep the ``k`` smallest of ``values[:m]`` sorted in row ``slot``; bound the others."""
    count = 0
    for r in range(m):
        v = values[r]
        if count == k and v >= kept_d[slot, k - 1]:
            continue  # dropped: at least the k-th kept, which only falls
        e = min(count, k - 1)
        while e > 0 and kept_d[slot, e - 1] > v:
            kept_d[slot, e] = kept_d[slot, e - 1]
            kept_id[slot, e] = kept_id[slot, e - 1]
            e -= 1
        kept_d[slot, e] = v
        kept_id[slot, e] = ids[r]
        count = min(count + 1, k)
    kept_start[slot] = 0
    kept_len[slot] = count
    kept_bound[slot] = kept_d[slot, k - 1] if m > k else np.inf


@njit(cache=True, nogil=True)
def _append(found: Any, count: int, c: int, b: int, q: float) -> Any:
    """Store the pair ``(c, b)`` and its ``Q`` at ``count``, growing the store when full."""
    if count == found.shape[0]:
        grown = np.empty((2 * count, 3))
        for r in range(count):
            for f in range(3):
                grown[r, f] = found[r, f]
        found = grown
    found[count, 0] = c
    found[count, 1] = b
    found[count, 2] = q
    return found


@njit(cache=True, nogil=True)
def _sort(a: Any, n: int) -> None:
    """Sort ``a[:n]`` in place (Shell's sort, gaps 1, 4, 13, ...): short lists, cheap to compile."""
    gap = 1
    while gap < n // 3:
        gap = 3 * gap + 1
    while gap >= 1:
        for r in range(gap, n):
            v = a[r]
            e = r
            while e >= gap and a[e - gap] > v:
                a[e] = a[e - gap]
                e -= gap
            a[e] = v
        gap //= 3


@njit(cache=True, nogil=True)
def _first_least(dm: Any, sums: Any, n2: float, keys: Any, n_keys: int, big_n: int) -> Any:
    """scikit-bio's pair among candidate pairs ``i * big_n + j`` (``i < j``, sorted).

    The scan of ``nj_minq_cy`` restricted to the candidates: a row starts from the least ``Q``
    so far plus its sum, a pair replaces the best when its ``(r - 2) d - S_j`` is smaller.
    """
    min_q = np.inf
    min_q_plus = np.inf
    row = -1
    i = j = -1
    for r in range(n_keys):
        if r > 0 and keys[r] == keys[r - 1]:
            continue
        a, z = keys[r] // big_n, keys[r] % big_n
        if a != row:
            row = a
            min_q_plus = min_q + sums[a]
        q_plus = dm[a, z] * n2 - sums[z]
        if q_plus < min_q_plus:
            min_q_plus = q_plus
            min_q = q_plus - sums[a]
            i, j = a, z
    return i, j


@njit(cache=True, nogil=True)
def _scan_all(dm: Any, sums: Any, n: int) -> Any:
    """scikit-bio's pair among every pair of the first ``n`` positions (``nj_minq_cy``)."""
    n2 = n - 2.0
    min_q = np.inf
    i = j = -1
    for a in range(n):
        min_q_plus = min_q + sums[a]
        for z in range(a + 1, n):
            q_plus = dm[a, z] * n2 - sums[z]
            if q_plus < min_q_plus:
                min_q_plus = q_plus
                min_q = q_plus - sums[a]
                i, j = a, z
    return i, j
