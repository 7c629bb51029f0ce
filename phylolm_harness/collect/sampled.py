"""The sampled PhyloLM tasks: N continuations per gene, all kept, summarised per gene.

The sampled task YAML files under ``tasks/phylolm/`` refer to the callables here with
``!function``; lm-eval imports this module when it builds such a task.

Each of a gene's N probes is its own request, with its own ``seed`` in the generation settings
where the backend takes one (API models and vLLM). Servers honour a request's seed, and lm-eval
sends one fixed seed with every request: N copies of one request would come back identical. The
seeds are keyed by the model's identity in ``--model_args`` (``pretrained``, ``model``,
``base_url``, ``revision``, ``dtype``, ``seed``), by the torch seed lm-eval sets (``--seed``) and by
the gene, so two models never share a random stream (shared streams would pull close relatives
together), a re-run of the same command asks the same questions, and another ``--seed`` or
``--metadata seed=S`` draws a fresh sample. The ``hf`` backend takes no per-request seed; its
sampler (torch's generator) is re-seeded from the same identity.

lm-eval never caches sampled generations (``do_sample``), so ``--use_cache`` does not resume an
interrupted sampled run: it starts over.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from phylolm_harness.collect.lm_eval_compat import (
    GenerationTask,
    copied_request,
    first_request,
    flat_responses,
)
from phylolm_harness.core.alleles import allele_of

DEFAULT_PROBES = 32
"""Sampled continuations per gene, as in the PhyloLM paper."""


def keep_all(resps: Iterable[list[str]], docs: Iterable[dict[str, Any]]) -> Iterator[list[str]]:
    """Keep every repeated continuation of a request (lm-eval keeps only the first by default)."""
    del docs
    return iter(list(r) for r in resps)


def process_results(doc: dict[str, Any], results: list[Any]) -> dict[str, float]:
    """Summarise the alleles of one gene: number of distinct alleles and their homozygosity.

    The homozygosity is Nei's unbiased estimate ``(N * sum p^2 - 1) / (N - 1)`` of the probability
    that two continuations share their allele.
    """
    del doc
    continuations = flat_responses(results)
    counts = Counter(allele_of(c) for c in continuations)
    n = sum(counts.values())
    sum_sq = sum((c / n) ** 2 for c in counts.values())
    homozygosity = (n * sum_sq - 1) / (n - 1) if n > 1 else math.nan
    return {"distinct_alleles": float(len(counts)), "allele_homozygosity": homozygosity}


class PhyloGenesTask(GenerationTask):  # type: ignore[misc]
    """Sampled PhyloLM task: ``--metadata probes=N`` (default 32) requests per gene."""

    def __init__(self, config: dict[str, Any]) -> None:
        config = dict(config)
        config.pop("class", None)
        metadata = config.get("metadata") or {}
        config["repeats"] = _positive_int(metadata.get("probes", DEFAULT_PROBES), "probes")
        super().__init__(config=config)
        self._identity = probe_identity({**metadata, "torch_seed": _torch_seed()})
        self._seeded = takes_request_seeds(metadata)
        if not self._seeded:
            _reseed_torch(probe_seed(self._identity, "", 0))

    def construct_requests(self, doc: dict[str, Any], ctx: Any, **kwargs: Any) -> list[Any]:
        """One request per probe; each carries its own seed where the backend takes one."""
        base = first_request(super().construct_requests(doc, ctx, **kwargs))
        requests = []
        for probe in range(int(self.config.repeats)):
            context, settings = base.arguments[0], dict(base.arguments[1])
            if self._seeded:
                settings["seed"] = probe_seed(self._identity, str(doc.get("text", "")), probe)
            arguments = (context, settings, *base.arguments[2:])
            requests.append(copied_request(base, arguments=arguments, idx=probe))
        return requests


_IDENTITY_KEYS = ("pretrained", "model", "base_url", "revision", "dtype", "seed", "torch_seed")
"""``--model_args`` (and ``--metadata``) keys that pick a model's probe seeds."""


def probe_identity(metadata: Mapping[str, Any]) -> str:
    """Pick what keys the seeds from a task's metadata (lm-eval puts ``--model_args`` there).

    >>> probe_identity({"model": "m", "base_url": "http://h/v1", "num_concurrent": 4})
    '{"base_url": "http://h/v1", "model": "m"}'
    """
    chosen = {key: str(metadata[key]) for key in _IDENTITY_KEYS if key in metadata}
    return json.dumps(chosen, sort_keys=True)


def probe_seed(identity: str, gene: str, probe: int) -> int:
    """Derive a 31-bit seed for one probe of one gene by one model.

    >>> probe_seed("{}", "gene", 0) != probe_seed("{}", "gene", 1)
    True
    """
    key = json.dumps([identity, gene, probe]).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") >> 1


def takes_request_seeds(metadata: Mapping[str, Any]) -> bool:
    """Whether the backend takes a ``seed`` per request: API models and vLLM.

    API models are named by ``model`` (and ``base_url``), local ones by ``pretrained``. The model
    is built before the tasks, so vLLM's adapter has imported ``vllm`` by now; the ``hf`` adapter
    never does, and its ``generate`` refuses unknown settings. A model passed as an object (no
    ``--model_args``) gets no seeds: if it is a seed-honouring server, ``tree`` notes the collapse.

    >>> takes_request_seeds({"model": "gpt-x"}), takes_request_seeds({})
    (True, False)
    """
    api = "pretrained" not in metadata and ("model" in metadata or "base_url" in metadata)
    return api or "vllm" in sys.modules


def _torch_seed() -> int | None:
    """Read the seed lm-eval gave torch (``--seed``'s third value, 1234 by default)."""
    torch = sys.modules.get("torch")
    return None if torch is None else int(torch.initial_seed())


def _reseed_torch(seed: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or str(number) != str(value).strip():
        raise ValueError(f"--metadata {name}={value!r}: expected a positive integer")
    return number
