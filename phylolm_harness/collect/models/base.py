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

from phylolm_harness.collect.expansion import ExpansionSettings
from phylolm_harness.core.alleles import AlleleDistribution

__all__ = ["ExactAllelesMixin", "group_requests"]


def group_requests(requests: Sequence[Any]) -> Iterator[tuple[ExpansionSettings, list[int]]]:
    """Group requests by their expansion settings: yield each settings with its indices."""
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        key = json.dumps(request.args[1], sort_keys=True, default=str)
        groups.setdefault(key, []).append(index)
    for key, indices in groups.items():
        yield ExpansionSettings.from_mapping(json.loads(key)), indices


class ExactAllelesMixin:
    """Mixin for an lm-eval model class: serves ``phylolm_alleles`` through ``exact_alleles``."""

    def exact_alleles(
        self, genes: Sequence[str], settings: ExpansionSettings
    ) -> list[AlleleDistribution]:
        """Allele distributions of some genes under one set of expansion settings."""
        raise NotImplementedError

    def phylolm_alleles(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[str]:
        """Answer ``phylolm_alleles`` requests.

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
        for settings, indices in group_requests(requests):
            genes = [str(requests[i].args[0]) for i in indices]
            found = self.exact_alleles(genes, settings)
            for i, distribution in zip(indices, found, strict=True):
                answers[i] = distribution.to_json()
        return answers
