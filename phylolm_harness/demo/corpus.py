"""Deterministic synthetic text (code-like, math-like and prose-like lines), built offline.

The demo fine-tunes its relatives on it; tiny test models are trained on it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from phylolm_harness.errors import InputError

__all__ = ["CorpusKind", "synthetic_corpus"]

CorpusKind = Literal["code", "math", "prose"]
"""Styles of synthetic text :func:`synthetic_corpus` can write."""

_NAMES = ("x", "y", "n", "total", "value", "items", "count", "result", "data", "key", "idx", "acc")
_FUNCS = ("add", "scale", "merge", "parse", "count_items", "normalize", "find", "update", "square")
_MATH_SYMS = ("x", "y", "z", "n", "k", "a", "b", "t")
_NOUNS = ("river", "garden", "letter", "window", "village", "teacher", "market", "train", "song")
_VERBS = ("opened", "followed", "painted", "carried", "watched", "found", "remembered", "crossed")
_ADJS = ("quiet", "old", "bright", "narrow", "warm", "distant", "small", "green")


def _code_line(rng: np.random.Generator) -> str:
    name, other = rng.choice(_NAMES, size=2, replace=False)
    func = rng.choice(_FUNCS)
    num = int(rng.integers(0, 100))
    templates = (
        f"def {func}({name}, {other}):\n    return {name} + {other} * {num}\n",
        f"for {name} in range({num}):\n    {other} += {name}\n",
        f"if {name} > {num}:\n    {other} = {func}({name})\nelse:\n    {other} = {num}\n",
        f"{name} = [{func}(i) for i in range({num})]\n",
        f"while {name} < {num}:\n    {name} = {name} * 2\n",
        f"print({func}({name}, {num}))\n",
    )
    return str(templates[int(rng.integers(len(templates)))])


def _math_line(rng: np.random.Generator) -> str:
    s, t = rng.choice(_MATH_SYMS, size=2, replace=False)
    a, b, c = (int(v) for v in rng.integers(1, 20, size=3))
    templates = (
        f"Let ${s} = {a}$ and ${t} = {b}$. Then ${s} + {t} = {a + b}$.\n",
        f"We have $\\frac{{{s}}}{{{a}}} = {b}$, so ${s} = {a * b}$.\n",
        f"Solve ${a}{s} + {b} = {c}$ for ${s}$.\n",
        f"The sum $\\sum_{{{s}=1}}^{{{a}}} {s} = {a * (a + 1) // 2}$.\n",
        f"Since ${s}^2 = {a * a}$, we get ${s} = \\pm {a}$.\n",
        f"Theorem {a}. If ${s} > {t}$ then ${s} - {t} > 0$.\n",
    )
    return str(templates[int(rng.integers(len(templates)))])


def _prose_line(rng: np.random.Generator) -> str:
    noun, other = rng.choice(_NOUNS, size=2, replace=False)
    verb = rng.choice(_VERBS)
    adj = rng.choice(_ADJS)
    templates = (
        f"The {adj} {noun} {verb} the {other} before night.\n",
        f"She {verb} a {adj} {noun} near the {other}.\n",
        f"In the morning the {noun} was {adj}, and nobody {verb} it.\n",
        f"They {verb} the {other} and the {noun} stayed {adj}.\n",
    )
    return str(templates[int(rng.integers(len(templates)))])


_LINE_WRITERS = {"code": _code_line, "math": _math_line, "prose": _prose_line}


def synthetic_corpus(kind: CorpusKind, n_docs: int, seed: int) -> list[str]:
    """Write a deterministic synthetic corpus of short documents.

    Parameters
    ----------
    kind : {"code", "math", "prose"}
        Style of the text: Python-like code, LaTeX-flavoured maths, or plain English sentences.
    n_docs : int
        Number of documents; each holds 3 to 8 template lines.
    seed : int
        Seed of the generator; the same arguments always give the same corpus.

    Returns
    -------
    list of str
        The documents.

    Examples
    --------
    >>> docs = synthetic_corpus("code", 2, seed=0)
    >>> len(docs), docs == synthetic_corpus("code", 2, seed=0)
    (2, True)
    """
    if kind not in _LINE_WRITERS:
        raise InputError(f"unknown corpus kind {kind!r}; expected one of {sorted(_LINE_WRITERS)}")
    if n_docs < 0:
        raise InputError(f"n_docs must be >= 0, got {n_docs}")
    rng = np.random.default_rng(seed)
    write = _LINE_WRITERS[kind]
    return ["".join(write(rng) for _ in range(int(rng.integers(3, 9)))) for _ in range(n_docs)]
