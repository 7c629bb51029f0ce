"""Distinct byte strings numbered in order of first appearance, by compiled code.

A reader that works on bytes (:mod:`phylolm_harness.io.populations_scan`) codes millions of
names (models, genes, alleles) without making a Python string of each: :func:`key_code` looks a
name up in an open-addressing hash table and adds it when new. The table lives in plain arrays
(:class:`ByteKeys`) so one table serves every block of a file; :meth:`ByteKeys.reserve` makes room
before each block, so the compiled code never has to grow anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["ByteKeys", "key_code"]

_OFFSET, _PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


@njit(cache=True, nogil=True)
def _hash(buf: NDArray[np.uint8], start: int, stop: int) -> np.uint64:  # pragma: no cover
    """FNV-1a of ``buf[start:stop]``, its bits then mixed (MurmurHash3's finaliser).

    FNV-1a's low bits depend only on the low bits of each byte; the slots are chosen by the low
    bits, so they are mixed with the high ones first.
    """
    h = _OFFSET
    for i in range(start, stop):
        h = (h ^ np.uint64(buf[i])) * _PRIME
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@njit(cache=True, nogil=True)
def key_code(
    table: tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.int64], NDArray[np.uint8]],
    state: NDArray[np.int64],
    buf: NDArray[np.uint8],
    start: int,
    stop: int,
) -> int:  # pragma: no cover
    """Return the number of ``buf[start:stop]``, adding it (numbered next) when new.

    ``table`` is ``(slots, hashes, offsets, store)`` and ``state`` ``[keys, bytes used]`` of a
    :class:`ByteKeys` with room reserved.
    """
    slots, hashes, offsets, store = table
    h = _hash(buf, start, stop)
    mask = len(slots) - 1
    at = np.int64(h & np.uint64(mask))
    size = stop - start
    while True:
        code = slots[at]
        if code < 0:
            break
        if hashes[code] == h and offsets[code + 1] - offsets[code] == size:
            first = offsets[code]
            same = True
            for k in range(size):
                if store[first + k] != buf[start + k]:
                    same = False
                    break
            if same:
                return int(code)
        at = (at + 1) & mask
    code = state[0]
    used = state[1]
    for k in range(size):
        store[used + k] = buf[start + k]
    hashes[code] = h
    offsets[code + 1] = used + size
    slots[at] = code
    state[0] = code + 1
    state[1] = used + size
    return int(code)


@njit(cache=True, nogil=True)
def _rehash(
    slots: NDArray[np.int64], hashes: NDArray[np.uint64], count: int
) -> None:  # pragma: no cover
    mask = len(slots) - 1
    for code in range(count):
        at = np.int64(hashes[code] & np.uint64(mask))
        while slots[at] >= 0:
            at = (at + 1) & mask
        slots[at] = code


@dataclass
class ByteKeys:
    """A growing table of distinct byte strings (see :func:`key_code`)."""

    slots: NDArray[np.int64]
    hashes: NDArray[np.uint64]
    offsets: NDArray[np.int64]
    store: NDArray[np.uint8]
    state: NDArray[np.int64]

    @classmethod
    def empty(cls) -> ByteKeys:
        """Return a table with no key."""
        return cls(
            np.full(16, -1, np.int64),
            np.zeros(8, np.uint64),
            np.zeros(9, np.int64),
            np.zeros(64, np.uint8),
            np.zeros(2, np.int64),
        )

    @property
    def arrays(
        self,
    ) -> tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.int64], NDArray[np.uint8]]:
        """What :func:`key_code` takes as ``table``."""
        return self.slots, self.hashes, self.offsets, self.store

    def __len__(self) -> int:
        return int(self.state[0])

    def reserve(self, keys: int, size: int) -> None:
        """Make room for ``keys`` more keys of ``size`` bytes in all (grown by doubling)."""
        count, used = int(self.state[0]), int(self.state[1])
        if count + keys > len(self.hashes):  # grown in place, the new room zeroed
            room = max(count + keys, 2 * len(self.hashes))
            self.hashes.resize(room, refcheck=False)
            self.offsets.resize(room + 1, refcheck=False)
        if used + size > len(self.store):
            self.store.resize(max(used + size, 2 * len(self.store)), refcheck=False)
        if 2 * (count + keys) > len(self.slots):
            slots = 1 << (2 * (count + keys)).bit_length()
            self.slots = np.full(slots, -1, np.int64)
            _rehash(self.slots, self.hashes, count)

    def texts(self) -> list[str]:
        """Every key, decoded from UTF-8, in order of first appearance."""
        store, bounds = self.store, self.offsets[: len(self) + 1].tolist()
        return [
            store[a:b].tobytes().decode("utf-8") for a, b in zip(bounds, bounds[1:], strict=False)
        ]
