"""lm-eval task whose requests ask a model for exact allele distributions.

Each gene becomes one request of type ``phylolm_alleles`` with arguments ``(gene_text, options)``,
where ``options`` holds the expansion settings (``temperature``, ``top_p``, ``top_k``, ``min_mass``,
``max_tokens``, ``tail_samples``, ``seed``). lm-eval calls ``lm.phylolm_alleles(requests)``, which
the ``phylolm-*`` model classes provide; each answer is the JSON string ``{"alleles": {...},
"tail": t}`` (with ``"draws"`` where the pruned branches were sampled) and lands in the samples
file under ``resps[0][0]`` and ``filtered_resps[0]``.

The YAML keeps ``output_type: generate_until`` (lm-eval accepts no other name there) and stores
the expansion settings in ``generation_kwargs``, so ``--gen_kwargs top_p=0.99,min_mass=0.001``
overrides them from the command line.
"""

from __future__ import annotations

from typing import Any

from phylolm_harness.collect.expansion import ExpansionSettings
from phylolm_harness.collect.lm_eval_compat import (
    GenerationTask,
    copied_request,
    first_request,
    flat_responses,
)
from phylolm_harness.core.alleles import AlleleDistribution, parse_distribution

REQUEST_TYPE = "phylolm_alleles"
"""Name of the request type, and of the model method that serves it."""

__all__ = [
    "REQUEST_TYPE",
    "PhyloExactGenesTask",
    "expansion_options",
    "process_results",
    "summarise",
]


def expansion_options(generation_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """Expansion settings sent with every request, validated, from a task's generation kwargs.

    Parameters
    ----------
    generation_kwargs : dict or None
        The task's ``generation_kwargs`` (unknown keys such as ``until`` are ignored).

    Returns
    -------
    dict
        ``temperature``, ``top_p``, ``top_k``, ``min_mass``, ``max_tokens``, ``tail_samples``
        and ``seed``.
    """
    settings = ExpansionSettings.from_mapping(generation_kwargs or {})
    return {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "top_k": settings.top_k,
        "min_mass": settings.min_mass,
        "max_tokens": settings.max_tokens,
        "tail_samples": settings.tail_samples,
        "seed": settings.seed,
    }


def summarise(distribution: AlleleDistribution) -> dict[str, float]:
    """Per-gene metrics of an exact distribution.

    Parameters
    ----------
    distribution : AlleleDistribution

    Returns
    -------
    dict
        ``effective_alleles``: ``1 / sum p^2`` over the alleles, renormalised to their mass
        (``nan`` when nothing was found; with draws, a plug-in figure: a few draws that all
        differ would make the unbiased square 0); ``unexpanded_mass``: the tail;
        ``sampled_mass``: the mass estimated by draws.
    """
    draws = distribution.draws
    metrics = {
        "effective_alleles": float("nan"),
        "unexpanded_mass": distribution.tail,
        "sampled_mass": 0.0 if draws is None else draws.mass,
    }
    mass = sum(distribution.alleles.values())
    sum_sq = sum(p * p for p in distribution.alleles.values())
    if mass > 0 and sum_sq > 0:
        metrics["effective_alleles"] = mass * mass / sum_sq
    return metrics


def process_results(doc: dict[str, Any], results: list[Any]) -> dict[str, float]:
    """Metrics of one gene from the model's JSON answer (see :func:`summarise`).

    Parameters
    ----------
    doc : dict
        The gene's document (``genome``, ``fingerprint``, ``gene``, ``text``).
    results : list
        One JSON string, the model's answer.

    Returns
    -------
    dict
    """
    source = f"gene {doc.get('gene', '?')}"
    return summarise(parse_distribution(str(flat_responses(results)[0]), source))


class PhyloExactGenesTask(GenerationTask):  # type: ignore[misc]
    """Exact PhyloLM task: one ``phylolm_alleles`` request per gene."""

    def __init__(self, config: dict[str, Any]) -> None:
        config = dict(config)
        config.pop("class", None)
        config["repeats"] = 1
        super().__init__(config=config)

    def construct_requests(self, doc: dict[str, Any], ctx: Any, **kwargs: Any) -> Any:
        """Build the ``phylolm_alleles`` request of one gene (in the shape lm-eval expects)."""
        built = super().construct_requests(doc, ctx, **kwargs)
        base = first_request(built)
        arguments = (base.arguments[0], expansion_options(self.config.generation_kwargs))
        request = copied_request(base, request_type=REQUEST_TYPE, arguments=arguments)
        return [request] if isinstance(built, list) else request
