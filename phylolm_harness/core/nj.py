"""Neighbour-Joining compiled with numba: scikit-bio's joins, without scanning every pair.

:func:`nj_linkage` returns the linkage matrix of scikit-bio's ``nj`` (``skbio.tree._nj``) bit for
bit: the same joins in the same order, the same branch lengths, ties broken the same way. It keeps
scikit-bio's matrix, its in-place updates and its sums (numpy's pairwise summation, reproduced
here), and changes only how the pair to join is found. scikit-bio scans every pair of every
iteration for the least ``Q(a, b) = (r - 2) d(a, b) - S(a) - S(b)``; here each cluster keeps its
:data:`KEPT` nearest older clusters, sorted, and a row is read only while ``(r - 2) d`` minus the
largest possible sums can still reach the least ``Q`` found so far (the bound of rapid
Neighbour-Joining, Simonsen et al. 2008). Every pair within rounding of the least ``Q`` is then
compared in scikit-bio's order with scikit-bio's arithmetic, so near ties resolve as there; when
such pairs crowd (many identical models), every pair is scanned, as scikit-bio does.

The kernels release the GIL, so resampled trees can be built on several threads.

References
----------
.. [1] N. Saitou, M. Nei, "The neighbor-joining method", Mol. Biol. Evol. 4 (1987).
.. [2] M. Simonsen, T. Mailund, C. N. S. Pedersen, "Rapid neighbour-joining", WABI (2008).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from phylolm_harness.core.nj_steps import (
    _append,
    _first_least,
    _keep,
    _pairwise_sum,
    _scan_all,
    _sort,
)

KEPT = 16
"""Nearest older clusters first kept, sorted, per cluster; the rest of a row is read only when
needed, and a row read whole keeps twice as many next time, up to :data:`KEPT_MAX`."""

KEPT_MAX = 128
"""Most nearest older clusters kept for one cluster."""

_EPS = float(np.finfo(np.float64).eps)


def nj_linkage(distances: NDArray[np.float64], overwrite: bool = False) -> NDArray[np.float64]:
    """Neighbour-Joining linkage matrix, identical to scikit-bio's ``_nj``.

    Parameters
    ----------
    distances : ndarray
        ``(n, n)`` symmetric matrix with a zero diagonal, ``n >= 3``; not modified, unless
        ``overwrite`` (it is then worked on in place when it is a C-ordered float64 array).

    Returns
    -------
    ndarray
        ``(n - 1, 4)`` rows ``(cluster, cluster, length, length)``: cluster ``n + r`` is made by
        row ``r``; the last two rows join the three clusters left at an unrooted root.

    Examples
    --------
    >>> d = np.array([[0, 5, 9, 9, 8], [5, 0, 10, 10, 9], [9, 10, 0, 8, 7],
    ...               [9, 10, 8, 0, 3], [8, 9, 7, 3, 0]], dtype=float)
    >>> nj_linkage(d)
    array([[0., 1., 2., 3.],
           [5., 2., 3., 4.],
           [4., 3., 1., 2.],
           [6., 7., 2., 0.]])
    """
    if overwrite:
        matrix = np.ascontiguousarray(distances, dtype=np.float64)
    else:
        matrix = np.array(distances, dtype=np.float64, order="C", copy=True)
    sums = matrix.sum(axis=0)  # as scikit-bio: numpy's sums, not the kernel's
    linkage: NDArray[np.float64] = _nj(matrix, sums, KEPT, KEPT_MAX)
    return linkage


@njit(cache=True, nogil=True)
def _nj(dm: Any, sums: Any, k: int, k_max: int) -> Any:
    """scikit-bio's ``_nj`` on ``dm`` (modified) and its column sums, with a pruned search."""
    big_n = dm.shape[0]
    linkage = np.empty((big_n - 1, 4))
    idxs = np.arange(big_n)
    pos_of = np.empty(2 * big_n, dtype=np.int64)  # position of each live cluster, else -1
    slot_of = np.empty(2 * big_n, dtype=np.int64)  # row of its kept neighbours
    kept_d = np.empty((big_n, k_max))
    kept_id = np.empty((big_n, k_max), dtype=np.int64)
    kept_cap = np.full(big_n, k, dtype=np.int64)
    kept_len = np.zeros(big_n, dtype=np.int64)
    kept_start = np.zeros(big_n, dtype=np.int64)
    kept_bound = np.empty(big_n)
    values = np.empty(big_n)
    ids = np.empty(big_n, dtype=np.int64)
    dabs = 0.0
    for t in range(big_n, 2 * big_n):
        pos_of[t] = -1
    for t in range(big_n):
        pos_of[t] = t
        slot_of[t] = t
        for b in range(t):  # a tip's older clusters: the tips before it
            values[b] = dm[t, b]
            ids[b] = b
            dabs = max(dabs, abs(dm[t, b]))
        _keep(kept_d, kept_id, kept_len, kept_start, kept_bound, t, values, ids, t, k)
    order = np.arange(big_n)  # live clusters, oldest first
    n_order = big_n
    smax_older = np.empty(2 * big_n)
    found = np.empty((64, 3))
    n = big_n
    while n > 3:
        n2 = n - 2.0
        top = -np.inf
        sabs = 0.0
        for r in range(n_order):
            c = order[r]
            smax_older[c] = top
            top = max(top, sums[pos_of[c]])
            sabs = max(sabs, abs(sums[pos_of[c]]))
        gap = 64.0 * _EPS * (n2 * dabs + 2.0 * sabs)  # far above the rounding of any Q
        margin = 256.0 * gap
        # a start: the nearest live older cluster of every cluster
        best = np.inf
        for r in range(n_order):
            c = order[r]
            if smax_older[c] == -np.inf:
                continue
            slot = slot_of[c]
            while True:
                e = kept_start[slot]
                while e < kept_len[slot] and pos_of[kept_id[slot, e]] < 0:
                    e += 1
                kept_start[slot] = e
                if e < kept_len[slot] or kept_bound[slot] == np.inf:
                    break
                m = 0
                for p in range(n):
                    if idxs[p] < c:
                        values[m] = dm[pos_of[c], p]
                        ids[m] = idxs[p]
                        m += 1
                cap = kept_cap[slot]
                _keep(kept_d, kept_id, kept_len, kept_start, kept_bound, slot, values, ids, m, cap)
            if e < kept_len[slot]:
                b = kept_id[slot, e]
                best = min(best, n2 * kept_d[slot, e] - sums[pos_of[c]] - sums[pos_of[b]])
        crowded = False
        while True:  # every pair within margin of the least Q
            count = 0
            for r in range(n_order):
                if count > 8 * n + 64:  # ties crowd (identical models): read every pair instead
                    crowded = True
                    break
                c = order[r]
                if smax_older[c] == -np.inf:
                    continue
                slot = slot_of[c]
                pc = pos_of[c]
                sc = sums[pc]
                reach = sc + smax_older[c]
                pruned = False
                for e in range(kept_start[slot], kept_len[slot]):
                    b = kept_id[slot, e]
                    if pos_of[b] < 0:
                        continue
                    d = kept_d[slot, e]
                    if n2 * d - reach > best + margin:
                        pruned = True
                        break
                    q = n2 * d - sc - sums[pos_of[b]]
                    best = min(best, q)
                    if q <= best + margin:
                        found = _append(found, count, c, b, q)
                        count += 1
                if pruned or n2 * kept_bound[slot] - reach > best + margin:
                    continue
                m = 0  # the kept ones may all be close: read the whole row, then keep anew
                for p in range(n):
                    if idxs[p] < c:
                        q = n2 * dm[pc, p] - sc - sums[p]
                        best = min(best, q)
                        if q <= best + margin:
                            found = _append(found, count, c, idxs[p], q)
                            count += 1
                        values[m] = dm[pc, p]
                        ids[m] = idxs[p]
                        m += 1
                cap = min(2 * kept_cap[slot], k_max)  # a crowded row: keep more of it
                kept_cap[slot] = cap
                _keep(kept_d, kept_id, kept_len, kept_start, kept_bound, slot, values, ids, m, cap)
            if crowded:
                break
            near = np.empty(count)
            n_near = 0
            for r in range(count):
                if found[r, 2] <= best + margin:
                    near[n_near] = found[r, 2]
                    n_near += 1
            _sort(near, n_near)
            last = 0
            while last + 1 < n_near and near[last + 1] - near[last] <= gap:
                last += 1
            if near[last] <= best + margin - 2.0 * gap:
                break
            margin *= 16.0
        if crowded:
            i, j = _scan_all(dm, sums, n)
        else:
            # the near ties, in scikit-bio's scan order and arithmetic
            keys = np.empty(count, dtype=np.int64)
            n_keys = 0
            for r in range(count):
                if found[r, 2] <= near[last]:
                    pa = pos_of[np.int64(found[r, 0])]
                    pb = pos_of[np.int64(found[r, 1])]
                    keys[n_keys] = min(pa, pb) * big_n + max(pa, pb)
                    n_keys += 1
            _sort(keys, n_keys)
            i, j = _first_least(dm, sums, n2, keys, n_keys, big_n)
        # scikit-bio's update, operation for operation
        d_ij_ = dm[i, j] / 2
        for p in range(n):
            dm[i, p] = (dm[i, p] + dm[j, p]) / 2
        delta_ = (sums[i] - sums[j]) / (2 * n - 4)
        for p in range(n):
            sums[p] -= dm[i, p]
            sums[p] -= d_ij_
            dm[i, p] -= d_ij_
        for p in range(n):
            dm[p, i] = dm[i, p]
        n_1 = n - 1
        for p in range(n):
            dm[j, p] = dm[n_1, p]
        for p in range(n):
            dm[p, j] = dm[p, n_1]
        sums[j] = sums[n_1]
        sums[i] = _pairwise_sum(dm[i], n_1)
        linkage[big_n - n, 0] = idxs[i]
        linkage[big_n - n, 1] = idxs[j]
        linkage[big_n - n, 2] = d_ij_ + delta_
        linkage[big_n - n, 3] = d_ij_ - delta_
        # bookkeeping: the joined pair leaves, the new cluster takes position i
        ci, cj, new = idxs[i], idxs[j], 2 * big_n - n
        pos_of[ci] = -1
        pos_of[cj] = -1
        idxs[i] = new
        idxs[j] = idxs[n_1]
        pos_of[new] = i
        if j != n_1:
            pos_of[idxs[j]] = j
        slot_of[new] = slot_of[ci]
        cap = max(kept_cap[slot_of[ci]], kept_cap[slot_of[cj]])
        kept_cap[slot_of[new]] = cap
        w = 0
        for r in range(n_order):
            if order[r] != ci and order[r] != cj:
                order[w] = order[r]
                w += 1
        order[w] = new
        n_order = w + 1
        m = 0
        for p in range(n_1):  # every other live cluster is older than the new one
            if p != i:
                values[m] = dm[i, p]
                ids[m] = idxs[p]
                dabs = max(dabs, abs(dm[i, p]))
                m += 1
        _keep(kept_d, kept_id, kept_len, kept_start, kept_bound, slot_of[new], values, ids, m, cap)
        n -= 1
    l_0 = (dm[0, 1] + dm[0, 2] - dm[1, 2]) / 2
    linkage[big_n - 3, 0] = idxs[1]
    linkage[big_n - 3, 1] = idxs[2]
    linkage[big_n - 3, 2] = dm[0, 1] - l_0
    linkage[big_n - 3, 3] = dm[0, 2] - l_0
    linkage[big_n - 2, 0] = idxs[0]
    linkage[big_n - 2, 1] = 2 * big_n - 3
    linkage[big_n - 2, 2] = l_0
    linkage[big_n - 2, 3] = 0.0
    return linkage
