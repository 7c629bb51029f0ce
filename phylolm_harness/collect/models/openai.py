"""Exact allele distributions from OpenAI-compatible servers, and lm-eval's API models with them.

Every branch is one request with ``max_tokens=1`` asking for the top token log-probabilities
(``logprobs=k`` on ``/v1/completions``; ``logprobs=true, top_logprobs=k`` on
``/v1/chat/completions``). Requests are made at temperature 1, and the top log-probs are rescaled
to the task's temperature with
:func:`phylolm_harness.collect.expansion.rescale_top_logprobs` (a lower
bound; the unseen mass goes to the tail), which is right whether the server reports raw or
temperature-scaled log-probs.

Branches are text: the next prompt is the gene followed by the branch's token strings. A token
that is only part of a character (byte tokens) cannot be sent back as text; its mass goes to the
tail. Chat models get the gene as one user message; deeper levels send the branch's text as a
final assistant message to continue (``continue_final_message``, as vLLM's server accepts).
Servers usually cache the shared prompt prefix themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from lm_eval.models.api_models import JsonChatStr
from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI

from phylolm_harness.collect.expansion import (
    Branch,
    ExpansionSettings,
    NextTokens,
    expand_alleles,
    rescale_top_logprobs,
)
from phylolm_harness.collect.models.base import ExactAllelesMixin
from phylolm_harness.core.alleles import AlleleDistribution

__all__ = [
    "PhyloLocalChatCompletions",
    "PhyloLocalCompletions",
    "chat_candidates",
    "completion_candidates",
]

_BYTES_PREFIX = "bytes:"


def _candidates(
    pairs: Sequence[tuple[str, float]], settings: ExpansionSettings, eos: str | None
) -> NextTokens[str]:
    """Candidates from (token text, raw log-prob) pairs; partial characters are left out."""
    ranked = sorted(pairs, key=lambda pair: -pair[1])[: settings.top_k]
    logprobs = rescale_top_logprobs(np.array([lp for _, lp in ranked]), settings.temperature)
    usable = [
        i
        for i, (token, _) in enumerate(ranked)
        if "\ufffd" not in token and not token.startswith(_BYTES_PREFIX)
    ]
    tokens = [ranked[i][0] for i in usable]
    ends = np.array([bool(eos) and t == eos for t in tokens], dtype=np.bool_)
    return NextTokens(tokens, logprobs[usable], ends)


def completion_candidates(
    response: dict[str, Any], settings: ExpansionSettings, eos: str | None
) -> NextTokens[str]:
    """Candidates from a ``/v1/completions`` response with ``logprobs=k, max_tokens=1``.

    Parameters
    ----------
    response : dict
        The JSON response; reads ``choices[0].logprobs.top_logprobs[0]`` (token -> log-prob).
    settings : ExpansionSettings
    eos : str or None
        Text of the end-of-text token, if known.

    Returns
    -------
    NextTokens
    """
    top = response["choices"][0]["logprobs"]["top_logprobs"][0] or {}
    return _candidates([(str(t), float(lp)) for t, lp in top.items()], settings, eos)


def chat_candidates(
    response: dict[str, Any], settings: ExpansionSettings, eos: str | None
) -> NextTokens[str]:
    """Candidates from a ``/v1/chat/completions`` response with ``top_logprobs=k``.

    Parameters
    ----------
    response : dict
        The JSON response; reads ``choices[0].logprobs.content[0].top_logprobs`` (a list of
        ``{"token", "logprob", "bytes"}``).
    settings : ExpansionSettings
    eos : str or None
        Text of the end-of-text token, if known.

    Returns
    -------
    NextTokens
    """
    content = response["choices"][0]["logprobs"]["content"] or []
    if not content:
        return NextTokens([], np.zeros(0), np.zeros(0, dtype=np.bool_))
    top = content[0]["top_logprobs"]
    return _candidates([(str(e["token"]), float(e["logprob"])) for e in top], settings, eos)


def _exact(
    genes: Sequence[str],
    call: Callable[[str, str], dict[str, Any]],
    parse: Callable[[dict[str, Any], ExpansionSettings, str | None], NextTokens[str]],
    settings: ExpansionSettings,
    eos: str | None,
) -> list[AlleleDistribution]:
    """Expand alleles with one request per branch: ``call(gene, branch_text) -> response``."""

    def score(frontier: Sequence[Branch[str]]) -> list[NextTokens[str]]:
        return [parse(call(genes[b.prompt], "".join(b.path)), settings, eos) for b in frontier]

    def decode(_prompt: int, path: tuple[str, ...]) -> str:
        return "".join(path)

    return expand_alleles(len(genes), score, decode, settings)


class PhyloLocalCompletions(ExactAllelesMixin, LocalCompletionsAPI):  # type: ignore[misc]
    """lm-eval's ``local-completions`` that also serves exact allele distributions.

    Registered as ``phylolm-local-completions``; same ``--model_args``.
    """

    def exact_alleles(
        self, genes: Sequence[str], settings: ExpansionSettings
    ) -> list[AlleleDistribution]:
        """Allele distributions of some genes, one ``/v1/completions`` request per branch."""

        def call(gene: str, branch: str) -> dict[str, Any]:
            response: dict[str, Any] = self.model_call(
                [gene + branch],
                generate=True,
                gen_kwargs={"max_tokens": 1, "temperature": 1.0, "logprobs": settings.top_k},
            )
            return response

        eos = getattr(self, "eos_string", None)
        return _exact(genes, call, completion_candidates, settings, eos)


class PhyloLocalChatCompletions(ExactAllelesMixin, LocalChatCompletion):  # type: ignore[misc]
    """lm-eval's ``local-chat-completions`` that also serves exact allele distributions.

    Registered as ``phylolm-local-chat-completions``; same ``--model_args``.
    """

    def exact_alleles(
        self, genes: Sequence[str], settings: ExpansionSettings
    ) -> list[AlleleDistribution]:
        """Allele distributions of some genes, one ``/v1/chat/completions`` request per branch."""

        def call(gene: str, branch: str) -> dict[str, Any]:
            messages: list[dict[str, str]] = [{"role": "user", "content": gene}]
            extra: dict[str, Any] = {}
            if branch:
                messages.append({"role": "assistant", "content": branch})
                extra = {"continue_final_message": True, "add_generation_prompt": False}
            response: dict[str, Any] = self.model_call(
                [JsonChatStr(json.dumps(messages, ensure_ascii=False))],
                generate=True,
                gen_kwargs={
                    "max_tokens": 1,
                    "temperature": 1.0,
                    "logprobs": True,
                    "top_logprobs": settings.top_k,
                    **extra,
                },
            )
            return response

        return _exact(genes, call, chat_candidates, settings, None)
