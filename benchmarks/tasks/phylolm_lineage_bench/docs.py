"""Data of the two benchmarks the lineage prediction benchmark runs with ``lm_eval``.

Held-out documents of the three kinds the lineages are tuned on (code, maths, prose), written by
:func:`phylolm_harness.demo.corpus.synthetic_corpus` with its fixed words (every fine-tune of a
lineage uses a vocabulary of its own, so no model saw these documents) from seeds no lineage
uses. Fixed seeds: every run on every machine sees the same items, and no dataset hub is needed.

* ``phylolm_lineage_cloze`` (``multiple_choice``, ``acc``): the first lines of a document, and
  four candidates for its next line: the true one and three lines of other documents of the same
  kind, in a seeded order.
* ``phylolm_lineage_bpb`` (``loglikelihood_rolling``, ``bits_per_byte``): whole documents.
"""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np

from phylolm_harness.demo.corpus import synthetic_corpus

KINDS = ("code", "math", "prose")
SEED = 9_100_000
"""Base seed of the documents (the lineages' fine-tunes use seeds below 100,000)."""

CLOZE_PER_KIND = 40
BPB_PER_KIND = 20


def _lines(doc: str) -> list[str]:
    return [line for line in doc.splitlines(keepends=True) if line.strip()]


def cloze_items() -> list[dict[str, Any]]:
    """Four-way next-line questions, :data:`CLOZE_PER_KIND` of each kind."""
    rng = np.random.default_rng(SEED)
    items: list[dict[str, Any]] = []
    for k, kind in enumerate(KINDS):
        docs = [_lines(d) for d in synthetic_corpus(kind, 4 * CLOZE_PER_KIND, seed=SEED + k)]
        docs = [d for d in docs if len(d) >= 3]
        pool = [line for d in docs for line in d]
        for doc in docs[:CLOZE_PER_KIND]:
            cut = int(rng.integers(2, len(doc)))
            true = doc[cut]
            wrong: list[str] = []
            while len(wrong) < 3:
                line = pool[int(rng.integers(len(pool)))]
                if line != true and line not in wrong:
                    wrong.append(line)
            answer = int(rng.integers(4))
            choices = [*wrong[:answer], true, *wrong[answer:]]
            items.append(
                {"kind": kind, "context": "".join(doc[:cut]), "choices": choices, "answer": answer}
            )
    return items


def bpb_items() -> list[dict[str, Any]]:
    """Whole documents, :data:`BPB_PER_KIND` of each kind."""
    return [
        {"kind": kind, "text": doc}
        for k, kind in enumerate(KINDS)
        for doc in synthetic_corpus(kind, BPB_PER_KIND, seed=SEED + 10 + k)
    ]


def load_cloze(**_: Any) -> datasets.DatasetDict:
    """``custom_dataset`` of ``phylolm_lineage_cloze``."""
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(cloze_items())})


def load_bpb(**_: Any) -> datasets.DatasetDict:
    """``custom_dataset`` of ``phylolm_lineage_bpb``."""
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(bpb_items())})
