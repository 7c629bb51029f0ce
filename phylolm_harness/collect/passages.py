"""The likelihood-profile tasks: every model writes passages, then every model scores them all.

``phylolm_passages_write`` (``generate_until``, sampled) has each model continue the neutral
:data:`PROMPTS`, :data:`SAMPLES_PER_PROMPT` times each; ``phylolm-harness passages`` pools what
every model wrote into one passages file; ``phylolm_passages`` (``loglikelihood_rolling``) has every
model score every passage of that file (given as ``--metadata '{"passages": "passages.jsonl"}'``).
``phylolm-harness lineage`` reads the scores and builds the tree of
:mod:`phylolm_harness.core.likelihood`.
"""

from __future__ import annotations

from typing import Any

import datasets

__all__ = [
    "MAX_PASSAGE_TOKENS",
    "PROMPTS",
    "SAMPLES_PER_PROMPT",
    "load_passages",
    "load_prompts",
    "process_results",
    "written_length",
]

PROMPTS = ("The", "In the", "She", "We have", "Let", "def", "import", "#")
"""Neutral openings of prose, maths and code: what a model writes after them shows what it
learnt."""

SAMPLES_PER_PROMPT = 2
"""Continuations each model writes per prompt (16 passages per model)."""

MAX_PASSAGE_TOKENS = 48
"""Length of each continuation (the task's ``max_gen_toks``)."""


def load_prompts(**_: Any) -> datasets.DatasetDict:
    """Load the writing task's documents: every prompt, :data:`SAMPLES_PER_PROMPT` times."""
    rows = [
        {"id": f"p{i}-s{k}", "text": prompt}
        for i, prompt in enumerate(PROMPTS)
        for k in range(SAMPLES_PER_PROMPT)
    ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def load_passages(passages: str | None = None, **_metadata: Any) -> datasets.DatasetDict:
    """Load the scoring task's documents: the file of ``--metadata '{"passages": PATH}'``."""
    from phylolm_harness.errors import InputError
    from phylolm_harness.io.passages_file import read_passages_file

    if not passages:
        raise InputError(
            "phylolm_passages needs the passages file: "
            '--metadata \'{"passages": "passages.jsonl"}\' '
            "(written by `phylolm-harness passages RESULTS_DIR -o passages.jsonl`)"
        )
    rows = [{"id": p.id, "text": p.text} for p in read_passages_file(passages)]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def process_results(doc: dict[str, Any], results: Any) -> dict[str, float]:
    """Log-likelihood per byte of one passage (the per-passage value sits in the samples file)."""
    value = results[0]
    loglik = float(value[0] if isinstance(value, (list, tuple)) else value)
    return {"loglik_per_byte": loglik / max(1, len(doc["text"].encode("utf-8")))}


def written_length(doc: dict[str, Any], results: Any) -> dict[str, float]:
    """Length in bytes of what the model wrote (the text itself sits in the samples file)."""
    del doc
    value = results[0]
    return {"written_bytes": float(len(str(value).encode("utf-8")))}
