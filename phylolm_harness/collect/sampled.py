"""The sampled PhyloLM tasks: N continuations per gene, all kept, summarised per gene.

The sampled task YAML files under ``tasks/phylolm/`` refer to the callables here with
``!function``; lm-eval imports this module when it builds such a task.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from lm_eval.api.task import ConfigurableTask

from phylolm_harness.core.alleles import allele_of

DEFAULT_PROBES = 32
"""Sampled continuations per gene, as in the PhyloLM paper."""


def keep_all(resps: Iterable[list[str]], docs: Iterable[dict[str, Any]]) -> Iterator[list[str]]:
    """Keep every repeated continuation of a request (lm-eval keeps only the first by default)."""
    del docs
    return iter(list(r) for r in resps)


def process_results(doc: dict[str, Any], results: list[list[str]]) -> dict[str, float]:
    """Summarise the alleles of one gene: number of distinct alleles and their homozygosity.

    The homozygosity is Nei's unbiased estimate ``(N * sum p^2 - 1) / (N - 1)`` of the probability
    that two continuations share their allele.
    """
    del doc
    continuations = results[0]
    counts = Counter(allele_of(c) for c in continuations)
    n = sum(counts.values())
    sum_sq = sum((c / n) ** 2 for c in counts.values())
    homozygosity = (n * sum_sq - 1) / (n - 1) if n > 1 else math.nan
    return {"distinct_alleles": float(len(counts)), "allele_homozygosity": homozygosity}


class PhyloGenesTask(ConfigurableTask):  # type: ignore[misc]
    """Sampled PhyloLM task: ``repeats`` comes from ``--metadata probes=N`` (default 32)."""

    def __init__(self, config: dict[str, Any]) -> None:
        config = dict(config)
        config.pop("class", None)
        metadata = config.get("metadata") or {}
        config["repeats"] = _positive_int(metadata.get("probes", DEFAULT_PROBES), "probes")
        super().__init__(config=config)


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or str(number) != str(value).strip():
        raise ValueError(f"--metadata {name}={value!r}: expected a positive integer")
    return number
