"""Deterministic synthetic text (code-like, math-like and prose-like lines), built offline.

The demo fine-tunes its relatives on it; tiny test models are trained on it.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from phylolm_harness.errors import InputError

__all__ = ["CorpusKind", "own_words", "synthetic_corpus"]

CorpusKind = Literal["code", "math", "prose"]
"""Styles of synthetic text :func:`synthetic_corpus` can write."""

_NAMES = ("x", "y", "n", "total", "value", "items", "count", "result", "data", "key", "idx", "acc")
_FUNCS = ("add", "scale", "merge", "parse", "count_items", "normalize", "find", "update", "square")
_MATH_SYMS = ("x", "y", "z", "n", "k", "a", "b", "t")
_NOUNS = ("river", "garden", "letter", "window", "village", "teacher", "market", "train", "song")
_VERBS = ("opened", "followed", "painted", "carried", "watched", "found", "remembered", "crossed")
_ADJS = ("quiet", "old", "bright", "narrow", "warm", "distant", "small", "green")


class _Words(NamedTuple):
    names: tuple[str, ...]
    funcs: tuple[str, ...]
    math_syms: tuple[str, ...]
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adjs: tuple[str, ...]


_DEFAULT_WORDS = _Words(_NAMES, _FUNCS, _MATH_SYMS, _NOUNS, _VERBS, _ADJS)
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")


def own_words(seed: int) -> _Words:
    """Draw a vocabulary of pseudo-words from syllables, the same for the same seed.

    Identifiers, nouns, verbs and adjectives of the templates are replaced by it; the single
    letters of maths are kept, so the style of the text stays that of its kind.
    """
    rng = np.random.default_rng([seed, 0x5EED])

    def words(n: int, suffix: str = "") -> tuple[str, ...]:
        made: list[str] = []
        while len(made) < n:
            syllables = int(rng.integers(2, 4))
            word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
            if word + suffix not in made:
                made.append(word + suffix)
        return tuple(made)

    return _Words(words(12), words(9), _MATH_SYMS, words(9), words(8, "ed"), words(8))


def _code_line(rng: np.random.Generator, w: _Words) -> str:
    name, other = rng.choice(w.names, size=2, replace=False)
    func = rng.choice(w.funcs)
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


def _math_line(rng: np.random.Generator, w: _Words) -> str:
    s, t = rng.choice(w.math_syms, size=2, replace=False)
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


def _prose_line(rng: np.random.Generator, w: _Words) -> str:
    noun, other = rng.choice(w.nouns, size=2, replace=False)
    verb = rng.choice(w.verbs)
    adj = rng.choice(w.adjs)
    templates = (
        f"The {adj} {noun} {verb} the {other} before night.\n",
        f"She {verb} a {adj} {noun} near the {other}.\n",
        f"In the morning the {noun} was {adj}, and nobody {verb} it.\n",
        f"They {verb} the {other} and the {noun} stayed {adj}.\n",
    )
    return str(templates[int(rng.integers(len(templates)))])


_LINE_WRITERS = {"code": _code_line, "math": _math_line, "prose": _prose_line}


def synthetic_corpus(
    kind: CorpusKind, n_docs: int, seed: int, vocabulary: int | None = None
) -> list[str]:
    """Write a deterministic synthetic corpus of short documents.

    Parameters
    ----------
    kind : {"code", "math", "prose"}
        Style of the text: Python-like code, LaTeX-flavoured maths, or plain English sentences.
    n_docs : int
        Number of documents; each holds 3 to 8 template lines.
    seed : int
        Seed of the generator; the same arguments always give the same corpus.
    vocabulary : int, optional
        Seed of a vocabulary of its own (:func:`own_words`) for the identifiers and words, so
        that two corpora of one kind differ in content as two real data sets do, not only in
        the order of their lines; by default the fixed English and code words.

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
    words = _DEFAULT_WORDS if vocabulary is None else own_words(vocabulary)
    return [
        "".join(write(rng, words) for _ in range(int(rng.integers(3, 9)))) for _ in range(n_docs)
    ]
