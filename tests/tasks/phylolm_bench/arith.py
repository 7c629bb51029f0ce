"""Data of the test-only multiple-choice benchmark ``phylolm_arith_mc``.

The benchmark is two-digit addition asked as a four-way multiple-choice question. Items are
generated from a fixed seed, so every run on every machine sees the same questions, and no
network or dataset hub is needed. lm-eval loads it through ``custom_dataset: !function
arith.load_arith_mc`` in ``phylolm_arith_mc.yaml`` beside this file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ARITH_ITEMS", "ARITH_SEED", "arith_items", "load_arith_mc"]

ARITH_ITEMS = 300
"""Number of questions in the shipped benchmark."""

ARITH_SEED = 20240404
"""Seed of the generator that draws the questions (fixed: the benchmark never changes)."""

_OFFSETS = np.array([-11, -10, -9, -2, -1, 1, 2, 9, 10, 11], dtype=np.int64)


def arith_items(n_items: int = ARITH_ITEMS, seed: int = ARITH_SEED) -> list[dict[str, Any]]:
    """Generate two-digit addition questions with four choices.

    Distractors are the true sum shifted by ±1, ±2, ±9, ±10 or ±11: wrong in the units digit,
    in the carry, or in both, so a model must add both digits to score well. The correct
    answer's position is drawn uniformly, so always picking one position scores 25 %.

    Parameters
    ----------
    n_items : int
        Number of questions.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    list of dict
        Records with ``question`` (``"23 + 45 ="``), ``choices`` (four strings) and
        ``answer`` (index of the correct choice).

    Examples
    --------
    >>> items = arith_items(3)
    >>> len(items), len(items[0]["choices"])
    (3, 4)
    >>> a, b = (int(t) for t in items[0]["question"].rstrip(" =").split(" + "))
    >>> int(items[0]["choices"][items[0]["answer"]]) == a + b
    True
    """
    if n_items < 1:
        raise ValueError(f"phylolm_arith_mc: n_items must be at least 1, got {n_items}")
    rng = np.random.default_rng(seed)
    items: list[dict[str, Any]] = []
    for _ in range(n_items):
        a, b = (int(x) for x in rng.integers(10, 100, size=2))
        total = a + b
        offsets = rng.choice(_OFFSETS, size=3, replace=False)
        distractors = [int(total + o) for o in offsets]
        answer = int(rng.integers(0, 4))
        choices = [str(d) for d in distractors]
        choices.insert(answer, str(total))
        items.append({"question": f"{a} + {b} =", "choices": choices, "answer": answer})
    return items


def load_arith_mc(**kwargs: Any) -> Any:
    """Build the ``phylolm_arith_mc`` dataset for lm-eval's ``custom_dataset`` hook.

    lm-eval passes the task's ``metadata`` (and ``--metadata`` from the command line) as
    keyword arguments; ``arith_items`` (int) changes the number of questions, every other
    keyword is ignored.

    Parameters
    ----------
    **kwargs
        Task metadata from lm-eval.

    Returns
    -------
    datasets.DatasetDict
        One ``test`` split of :func:`arith_items` records.
    """
    import datasets  # imported here: the rest of the package does not need it

    n_items = int(kwargs.get("arith_items", ARITH_ITEMS))
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(arith_items(n_items))})
