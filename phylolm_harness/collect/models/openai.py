"""Exact allele distributions from OpenAI-compatible servers, and lm-eval's API models with them.

Every branch is a prompt with ``max_tokens=1`` asking for the top token log-probabilities
(``logprobs=k`` on ``/v1/completions``; ``logprobs=true, top_logprobs=k`` on
``/v1/chat/completions``). Requests are made at temperature 1, and the top log-probs are rescaled
to the task's temperature with
:func:`phylolm_harness.collect.expansion.rescale_top_logprobs` (a lower
bound; the unseen mass goes to the tail), which is right whether the server reports raw or
temperature-scaled log-probs.

``phylolm-local-completions`` works in token ids whenever lm-eval has a tokenizer for the model
(``tokenizer_backend`` ``huggingface`` or ``remote``, with ``tokenized_requests`` left on):
prompts go out as token ids, and the server is asked for its top tokens as ids
(``return_tokens_as_token_ids``, as vLLM and SGLang accept). Nothing is re-tokenised, tokens
that are only part of a character keep their mass, and end of text is recognised by id (the
tokenizer's ``eos_token`` and those of the model's ``generation_config.json``). A server that
does not return ids is refused with the setting that switches to text.

In text (``tokenized_requests=False``, and always for chat), branches are strings: the next
prompt is the gene followed by the branch's token strings, which the server re-tokenises (the
result is approximate where a branch's text tokenises differently). A token that is only part
of a character cannot be sent back as text; its mass goes to the tail. Chat models get the gene
as one user message; deeper levels send the branch's text as a final assistant message to
continue (``continue_final_message``, as vLLM's server accepts).

Each level of the expansion goes out in requests of ``batch_size`` prompts (completions; chat
takes one), ``num_concurrent`` at a time: lm-eval's own settings for these models.
Servers usually cache the shared prompt prefix themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

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
from phylolm_harness.collect.models.base import ExactAllelesMixin, tokenizer_end_ids
from phylolm_harness.collect.tail import engine_seed
from phylolm_harness.core.alleles import AlleleDistribution

__all__ = [
    "PhyloLocalChatCompletions",
    "PhyloLocalCompletions",
    "ServerError",
    "chat_candidates",
    "completion_candidates",
    "token_id_candidates",
]

_BYTES_PREFIX = "bytes:"
_TOKEN_ID = "token_id:"


class ServerError(RuntimeError):
    """A server's answer the expansion cannot use (no answer, a malformed one, no token ids)."""


def _ranked(pairs: Sequence[tuple[Any, float]], settings: ExpansionSettings) -> list[Any]:
    return sorted(pairs, key=lambda pair: -pair[1])[: settings.top_k]


def _candidates(
    pairs: Sequence[tuple[str, float]], settings: ExpansionSettings, eos: str | None
) -> NextTokens[str]:
    """Candidates from (token text, raw log-prob) pairs; partial characters are left out."""
    ranked = _ranked(pairs, settings)
    logprobs = rescale_top_logprobs(np.array([lp for _, lp in ranked]), settings.temperature)
    usable = [
        i
        for i, (token, _) in enumerate(ranked)
        if "\ufffd" not in token and not token.startswith(_BYTES_PREFIX)
    ]
    tokens = [ranked[i][0] for i in usable]
    ends = np.array([bool(eos) and t == eos for t in tokens], dtype=np.bool_)
    return NextTokens(tokens, logprobs[usable], ends)


def _top_logprobs(choice: Any) -> dict[str, Any]:
    try:
        top = choice["logprobs"]["top_logprobs"][0]
    except (KeyError, IndexError, TypeError) as error:
        raise ServerError(f"a completion choice has no logprobs.top_logprobs[0]: {error!r}") from (
            None
        )
    if not isinstance(top, dict):
        raise ServerError("a completion choice's top_logprobs[0] is not a mapping")
    return top


def completion_candidates(
    choice: dict[str, Any], settings: ExpansionSettings, eos: str | None
) -> NextTokens[str]:
    """Candidates from one choice of a ``/v1/completions`` answer (``logprobs=k, max_tokens=1``).

    Parameters
    ----------
    choice : dict
        One element of the answer's ``choices``; reads ``logprobs.top_logprobs[0]`` (token ->
        log-prob).
    settings : ExpansionSettings
    eos : str or None
        Text of the end-of-text token, if known.

    Returns
    -------
    NextTokens
    """
    top = _top_logprobs(choice)
    return _candidates([(str(t), float(lp)) for t, lp in top.items()], settings, eos)


def token_id_candidates(
    choice: dict[str, Any], settings: ExpansionSettings, eos_ids: frozenset[int]
) -> NextTokens[int]:
    """Candidates, as token ids, from a choice asked with ``return_tokens_as_token_ids``.

    Parameters
    ----------
    choice : dict
        Its ``logprobs.top_logprobs[0]`` maps ``"token_id:<id>"`` to a log-prob.
    settings : ExpansionSettings
    eos_ids : frozenset of int
        Ids that end the text.

    Returns
    -------
    NextTokens

    Raises
    ------
    ServerError
        The server answered with token strings instead of ids.
    """
    pairs = [(_token_id(key), float(lp)) for key, lp in _top_logprobs(choice).items()]
    ranked = _ranked(pairs, settings)
    logprobs = rescale_top_logprobs(np.array([lp for _, lp in ranked]), settings.temperature)
    tokens = [token for token, _ in ranked]
    ends = np.array([t in eos_ids for t in tokens], dtype=np.bool_)
    return NextTokens(tokens, logprobs, ends)


def chat_candidates(
    choice: dict[str, Any], settings: ExpansionSettings, eos: str | None
) -> NextTokens[str]:
    """Candidates from one choice of a ``/v1/chat/completions`` answer with ``top_logprobs=k``.

    Parameters
    ----------
    choice : dict
        One element of the answer's ``choices``; reads ``logprobs.content[0].top_logprobs`` (a
        list of ``{"token", "logprob", "bytes"}``).
    settings : ExpansionSettings
    eos : str or None
        Text of the end-of-text token, if known.

    Returns
    -------
    NextTokens
    """
    try:
        content = choice["logprobs"]["content"] or []
        top = content[0]["top_logprobs"] if content else []
        pairs = [(str(e["token"]), float(e["logprob"])) for e in top]
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise ServerError(f"a chat choice has no usable logprobs.content: {error!r}") from None
    if not pairs:
        return NextTokens([], np.zeros(0), np.zeros(0, dtype=np.bool_))
    return _candidates(pairs, settings, eos)


def _choices(response: Any, expected: int) -> list[dict[str, Any]]:
    """Check an answer to ``expected`` prompts; return its choices in prompt order."""
    if not isinstance(response, dict) or not isinstance(response.get("choices"), list):
        raise ServerError(f"the server's answer has no 'choices' list: {str(response)[:200]!r}")
    choices = response["choices"]
    if len(choices) != expected or not all(isinstance(c, dict) for c in choices):
        raise ServerError(f"the server answered {len(choices)} choices to {expected} prompts")
    return sorted(choices, key=lambda c: int(c.get("index", 0)))


def _send(
    client: Any,
    prompts: Sequence[Any],
    gen_kwargs: dict[str, Any],
    per_request: int,
    per_prompt: int = 1,
) -> list[dict[str, Any]]:
    """Send prompts in requests of ``per_request``, lm-eval's ``num_concurrent`` at a time.

    Each request is retried as lm-eval retries its own (``max_retries``, exponential wait).
    Returns ``per_prompt`` choices per prompt (``n`` in the request), in prompt order.
    """
    from tenacity import retry, stop_after_attempt, wait_exponential

    call = retry(
        stop=stop_after_attempt(max(1, int(getattr(client, "max_retries", 3)))),
        wait=wait_exponential(multiplier=0.5, min=1, max=10),
        reraise=True,
    )(client.model_call)
    chunks = [list(prompts[i : i + per_request]) for i in range(0, len(prompts), per_request)]

    def one(chunk: list[Any]) -> list[dict[str, Any]]:
        try:
            answer = call(chunk, generate=True, gen_kwargs=dict(gen_kwargs))
        except (OSError, ValueError) as error:  # requests' errors, answers that are not JSON
            where = getattr(client, "base_url", "the server")
            raise ServerError(f"{where}: no usable answer ({error})") from None
        return _choices(answer, len(chunk) * per_prompt)

    answers = _each(client, one, chunks)
    return [choice for answer in answers for choice in answer]


T = TypeVar("T")
R = TypeVar("R")


def _each(client: Any, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on every item, lm-eval's ``num_concurrent`` at a time, results in order."""
    workers = max(1, int(getattr(client, "_concurrent", 1) or 1))
    if workers == 1 or len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(work, items))


def sampled_token_id(choice: dict[str, Any]) -> int:
    """Read the id of the token a choice sampled (``logprobs.tokens[0]``, ``token_id:<id>``)."""
    try:
        token = str(choice["logprobs"]["tokens"][0])
    except (KeyError, IndexError, TypeError) as error:
        raise ServerError(f"a sampled choice has no logprobs.tokens[0]: {error!r}") from None
    return _token_id(token)


def _token_id(key: Any) -> int:
    """Read ``"token_id:<id>"``, as servers write tokens asked ``return_tokens_as_token_ids``."""
    text = str(key)
    if not text.startswith(_TOKEN_ID):
        raise ServerError(
            f"the server answered token {text!r}, not a token id: it ignores "
            "return_tokens_as_token_ids; pass tokenized_requests=False in --model_args "
            "to expand in text (approximate: branches are re-tokenised)"
        )
    return int(text[len(_TOKEN_ID) :])


def _batch(client: Any) -> int:
    size = getattr(client, "_batch_size", 1)
    return int(size) if isinstance(size, int) and size > 1 else 1


class PhyloLocalCompletions(ExactAllelesMixin, LocalCompletionsAPI):  # type: ignore[misc]
    """lm-eval's ``local-completions`` that also serves exact allele distributions.

    Registered as ``phylolm-local-completions``; same ``--model_args``.
    """

    def exact_alleles(
        self, genes: Sequence[str], settings: ExpansionSettings
    ) -> list[AlleleDistribution]:
        """Allele distributions of some genes, each level sent to ``/v1/completions``."""
        asked = {"max_tokens": 1, "temperature": 1.0, "logprobs": settings.top_k}
        if getattr(self, "tokenizer", None) is not None and self.tokenized_requests:
            return self._exact_in_ids(genes, settings, asked)
        eos = getattr(self, "eos_string", None)

        def score(frontier: Sequence[Branch[str]]) -> list[NextTokens[str]]:
            prompts = [genes[b.prompt] + "".join(b.path) for b in frontier]
            choices = _send(self, prompts, asked, _batch(self))
            return [completion_candidates(c, settings, eos) for c in choices]

        return expand_alleles(len(genes), score, lambda _g, path: "".join(path), settings)

    def _exact_in_ids(
        self, genes: Sequence[str], settings: ExpansionSettings, asked: dict[str, Any]
    ) -> list[AlleleDistribution]:
        prompts = [list(self.tok_encode(gene)) for gene in genes]
        eos = frozenset(tokenizer_end_ids(self.tokenizer))
        asked = {**asked, "return_tokens_as_token_ids": True}
        # Draws come from the server's own sampler, seeded per node; the node's key names the
        # model so that two served models never share draws.
        name = f"{getattr(self, 'model', '')}\n{getattr(self, 'base_url', '')}"

        def draw_request(branch: Branch[int]) -> dict[str, Any]:
            return {
                **asked,
                "n": len(branch.draws),
                "temperature": settings.temperature,
                "top_p": 1.0,
                "top_k": -1,
                "seed": engine_seed(branch.draws),
            }

        def draw(frontier: Sequence[Branch[int]]) -> list[NextTokens[int]]:
            def one(branch: Branch[int]) -> NextTokens[int]:
                prompt = [[*prompts[branch.prompt], *branch.path]]
                request = draw_request(branch)
                choices = _send(self, prompt, request, 1, per_prompt=request["n"])
                top = token_id_candidates(choices[0], settings, eos)
                drawn = [sampled_token_id(c) for c in choices]
                ends = np.array([t in eos for t in drawn], dtype=np.bool_)
                return NextTokens(top.tokens, top.logprobs, top.ends, drawn, ends)

            return _each(self, one, frontier)

        def score(frontier: Sequence[Branch[int]]) -> list[NextTokens[int]]:
            plain = [i for i, b in enumerate(frontier) if not b.draws]
            found: dict[int, NextTokens[int]] = {}
            batch = [[*prompts[frontier[i].prompt], *frontier[i].path] for i in plain]
            for i, choice in zip(plain, _send(self, batch, asked, _batch(self)), strict=True):
                found[i] = token_id_candidates(choice, settings, eos)
            drawing = [i for i, b in enumerate(frontier) if b.draws]
            for i, nxt in zip(drawing, draw([frontier[i] for i in drawing]), strict=True):
                found[i] = nxt
            return [found[i] for i in range(len(frontier))]

        def decode(_gene: int, path: tuple[int, ...]) -> str:
            kept = [t for t in path if t not in eos]
            return str(self.tokenizer.decode(kept)) if kept else ""

        streams = [f"{name}\n{gene}" for gene in genes]
        return expand_alleles(len(genes), score, decode, settings, draws=True, streams=streams)


class PhyloLocalChatCompletions(ExactAllelesMixin, LocalChatCompletion):  # type: ignore[misc]
    """lm-eval's ``local-chat-completions`` that also serves exact allele distributions.

    Registered as ``phylolm-local-chat-completions``; same ``--model_args``.
    """

    def exact_alleles(
        self, genes: Sequence[str], settings: ExpansionSettings
    ) -> list[AlleleDistribution]:
        """Allele distributions of some genes, one ``/v1/chat/completions`` request per branch."""
        asked = {
            "max_tokens": 1,
            "temperature": 1.0,
            "logprobs": True,
            "top_logprobs": settings.top_k,
        }

        def message(branch: Branch[str]) -> JsonChatStr:
            messages = [{"role": "user", "content": genes[branch.prompt]}]
            if branch.path:
                messages.append({"role": "assistant", "content": "".join(branch.path)})
            return JsonChatStr(json.dumps(messages, ensure_ascii=False))

        def score(frontier: Sequence[Branch[str]]) -> list[NextTokens[str]]:
            first = [b for b in frontier if not b.path]
            deeper = [b for b in frontier if b.path]
            found: dict[int, NextTokens[str]] = {}
            continued = {"continue_final_message": True, "add_generation_prompt": False}
            for group, extra in ((first, {}), (deeper, continued)):
                choices = _send(self, [message(b) for b in group], {**asked, **extra}, 1)
                for b, choice in zip(group, choices, strict=True):
                    found[id(b)] = chat_candidates(choice, settings, None)
            return [found[id(b)] for b in frontier]

        return expand_alleles(len(genes), score, lambda _g, path: "".join(path), settings)
