"""What every ``phylolm-*`` model class shares: answering ``phylolm_alleles`` requests.

lm-eval calls ``lm.phylolm_alleles(requests)`` for the exact tasks' requests
(:mod:`phylolm_harness.collect.exact`); each request carries ``(gene_text, options)``. The mixin
groups the requests by their expansion settings, asks the backend for the distributions of each
group's genes at once (:meth:`ExactAllelesMixin.exact_alleles`) and answers one JSON string per
request (:meth:`phylolm_harness.core.alleles.AlleleDistribution.to_json`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from phylolm_harness.collect.exact import REQUEST_TYPE
from phylolm_harness.collect.expansion import ExpansionSettings
from phylolm_harness.core.alleles import AlleleDistribution

__all__ = [
    "ExactAllelesMixin",
    "end_token_ids",
    "group_requests",
    "saved_generation_config",
    "tokenizer_end_ids",
]


def group_requests(requests: Sequence[Any]) -> Iterator[tuple[ExpansionSettings, list[int]]]:
    """Group requests by their expansion settings: yield each settings with its indices."""
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        key = json.dumps(request.args[1], sort_keys=True, default=str)
        groups.setdefault(key, []).append(index)
    for key, indices in groups.items():
        yield ExpansionSettings.from_mapping(json.loads(key)), indices


def end_token_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """End-of-text ids: the tokenizer's plus the generation config's.

    Chat models often end a turn with a token other than the tokenizer's ``eos_token`` (listed
    only in ``generation_config.json``); a branch that reaches any of them has ended.

    Parameters
    ----------
    tokenizer : object with ``eos_token_id``, or None
    generation_config : object with ``eos_token_id`` (int or list), or None

    Returns
    -------
    list of int

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> end_token_ids(NS(eos_token_id=2), NS(eos_token_id=[2, 7]))
    [2, 7]
    """
    ids: set[int] = set()
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is not None:
        ids.add(int(eos))
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(int(i) for i in configured)
    return sorted(ids)


def saved_generation_config(source: Any) -> Any:
    """Read the ``generation_config.json`` of a local or cached model (None if there is none)."""
    if not isinstance(source, str) or not source:
        return None
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(source)
    except (OSError, ValueError):
        return None


def tokenizer_end_ids(tokenizer: Any) -> list[int]:
    """End-of-text ids of a tokenizer and of the generation config saved beside it, if any."""
    source = getattr(tokenizer, "name_or_path", None)
    return end_token_ids(tokenizer, saved_generation_config(source))


class ExactAllelesMixin:
    """Mixin for an lm-eval model class: serves ``phylolm_alleles`` through ``exact_alleles``."""

    def exact_alleles(
        self, genes: Sequence[str], settings: ExpansionSettings
    ) -> list[AlleleDistribution]:
        """Allele distributions of some genes under one set of expansion settings."""
        raise NotImplementedError

    def phylolm_alleles(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[str]:
        """Answer ``phylolm_alleles`` requests.

        With lm-eval's ``--use_cache DB``, answers are read from and written to that cache, a
        chunk of genes at a time, so an interrupted run resumes where it stopped (lm-eval caches
        only its own request types itself).

        Parameters
        ----------
        requests : Sequence[lm_eval.api.instance.Instance]
            Each with arguments ``(gene_text, options)``.
        disable_tqdm : bool
            Unused; kept for the signature lm-eval uses.

        Returns
        -------
        list of str
            One JSON string ``{"alleles": {...}, "tail": t}`` per request.
        """
        del disable_tqdm
        answers = [""] * len(requests)
        cache = getattr(getattr(self, "cache_hook", None), "dbdict", None)
        for settings, indices in group_requests(requests):
            todo = []
            for i in indices:
                hit = cache.get(_key(requests[i].args)) if cache is not None else None
                if isinstance(hit, str):
                    answers[i] = hit
                else:
                    todo.append(i)
            for start in range(0, len(todo), CACHE_CHUNK):
                chunk = todo[start : start + CACHE_CHUNK]
                found = self.exact_alleles([str(requests[i].args[0]) for i in chunk], settings)
                for i, distribution in zip(chunk, found, strict=True):
                    answers[i] = distribution.to_json()
                    if cache is not None:
                        cache[_key(requests[i].args)] = answers[i]
        return answers


CACHE_CHUNK = 256
"""Genes computed between two writes to lm-eval's request cache (``--use_cache``)."""


def _key(args: Sequence[Any]) -> str:
    """lm-eval's cache key of a request (``lm_eval.api.model.hash_args``)."""
    from lm_eval.api.model import hash_args

    return str(hash_args(REQUEST_TYPE, args))
