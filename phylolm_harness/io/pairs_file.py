"""The pairs a tree folder keeps for the next, grown tree: ``pairs.npy`` and ``pairs.json``.

``pairs.npy`` holds the ``n x n`` cross products of the models (NumPy format, float64) and
``pairs.json`` their fingerprints in the same order (see :mod:`phylolm_harness.core.pairs`).
An unreadable or inconsistent pair of files is set aside with a note: every pair is then
computed, as for a new folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from phylolm_harness.core.pairs import KnownPairs

__all__ = ["PAIRS_INDEX", "PAIRS_MATRIX", "pairs_index", "read_known_pairs"]

PAIRS_MATRIX = "pairs.npy"
PAIRS_INDEX = "pairs.json"


def read_known_pairs(folder: Path) -> tuple[KnownPairs | None, str]:
    """Return the pairs an earlier tree left in ``folder`` (memory-mapped), and a note.

    ``(None, note)`` when there are none or they cannot be used.
    """
    index, matrix = folder / PAIRS_INDEX, folder / PAIRS_MATRIX
    if not index.exists() and not matrix.exists():
        return None, f"{folder}: no pairs kept by an earlier tree there; every pair was computed"
    try:
        for path in (index, matrix):
            if not path.is_file():  # a FIFO or device would block or never end
                raise ValueError(f"{path.name} is not a regular file")
        data = json.loads(index.read_text(encoding="utf-8"))
        prints, checksum = data["fingerprints"], data["checksum"]
        if not isinstance(prints, list) or not all(isinstance(p, str) for p in prints):
            raise ValueError("fingerprints must be a list of strings")
        if matrix.stat().st_size < 8 * len(prints) ** 2:  # before mapping what the header claims
            raise ValueError(f"{PAIRS_MATRIX} is smaller than {len(prints)} x {len(prints)} floats")
        cross = np.load(matrix, mmap_mode="r", allow_pickle=False)
        if cross.dtype != np.float64 or cross.shape != (len(prints), len(prints)):
            raise ValueError(f"{PAIRS_MATRIX} is not a {len(prints)} x {len(prints)} float matrix")
        known = KnownPairs(tuple(prints), cross)
        if known.checksum() != checksum:
            raise ValueError(f"{PAIRS_MATRIX} changed since it was written")
    except (
        OSError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        RecursionError,
        OverflowError,
        MemoryError,
    ) as error:
        why = "not a NumPy float matrix" if "pickle" in str(error) else error
        return None, (
            f"{folder}: the pairs an earlier tree kept there are unreadable ({why}); every pair "
            "was computed"
        )
    return known, ""


def pairs_index(pairs: KnownPairs) -> bytes:
    """Return ``pairs.json``: the fingerprints of the rows of ``pairs.npy`` and its checksum."""
    content = {"fingerprints": list(pairs.fingerprints), "checksum": pairs.checksum()}
    return json.dumps(content).encode()
