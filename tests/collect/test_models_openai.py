from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from phylolm_harness.collect.expansion import ExpansionSettings
from phylolm_harness.collect.models.openai import (
    PhyloLocalChatCompletions,
    PhyloLocalCompletions,
    ServerError,
    chat_candidates,
    completion_candidates,
    token_id_candidates,
)

# A toy server: next-token distribution depends on the prompt text.
PIECES = ["ab", "c", " ", "\n", "xyz", "é"]


def toy_logprobs(text: str) -> dict[str, float]:
    rng = np.random.default_rng(len(text) * 7919 + sum(map(ord, text)))
    p = rng.dirichlet(np.ones(len(PIECES)))
    return {t: math.log(q) for t, q in zip(PIECES, p, strict=True)}


def completion_response(prompt: str, k: int) -> dict[str, Any]:
    top = dict(sorted(toy_logprobs(prompt).items(), key=lambda kv: -kv[1])[:k])
    return {"choices": [{"index": 0, "text": "", "logprobs": {"top_logprobs": [top]}}]}


def test_completion_and_chat_parsers_agree() -> None:
    s = ExpansionSettings(temperature=1.0, top_k=3)
    resp = completion_response("hello", 3)
    chat = {
        "choices": [
            {
                "index": 0,
                "logprobs": {
                    "content": [
                        {
                            "token": "x",
                            "logprob": -1.0,
                            "top_logprobs": [
                                {"token": t, "logprob": lp, "bytes": None}
                                for t, lp in resp["choices"][0]["logprobs"]["top_logprobs"][
                                    0
                                ].items()
                            ],
                        }
                    ]
                },
            }
        ]
    }
    a = completion_candidates(resp["choices"][0], s, None)
    b = chat_candidates(chat["choices"][0], s, None)
    assert list(a.tokens) == list(b.tokens) and np.allclose(a.logprobs, b.logprobs)


def test_partial_byte_tokens_go_to_the_tail() -> None:
    s = ExpansionSettings(temperature=1.0, top_k=5)
    resp = {
        "choices": [
            {"logprobs": {"top_logprobs": [{"a": math.log(0.5), "bytes:\\xe2": math.log(0.3)}]}}
        ]
    }
    cand = completion_candidates(resp["choices"][0], s, None)
    assert list(cand.tokens) == ["a"]


def _client(cls: type, calls: list[dict[str, Any]]) -> Any:
    client = cls.__new__(cls)  # no server: only model_call is used

    def model_call(
        messages: Any, *, generate: bool = True, gen_kwargs: dict | None = None, **_: Any
    ) -> Any:
        calls.append({"messages": messages, **(gen_kwargs or {})})
        if cls is PhyloLocalCompletions:
            return completion_response(messages[0], gen_kwargs["logprobs"])
        msgs = json.loads(messages[0].prompt)
        text = msgs[0]["content"] + (msgs[1]["content"] if len(msgs) > 1 else "")
        top = sorted(toy_logprobs(text).items(), key=lambda kv: -kv[1])[
            : gen_kwargs["top_logprobs"]
        ]
        return {
            "choices": [
                {
                    "index": 0,
                    "logprobs": {
                        "content": [
                            {
                                "token": top[0][0],
                                "logprob": top[0][1],
                                "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top],
                            }
                        ]
                    },
                }
            ]
        }

    client.model_call = model_call
    client.eos_string = None
    return client


@pytest.mark.parametrize("cls", [PhyloLocalCompletions, PhyloLocalChatCompletions])
def test_api_models_serve_phylolm_alleles(cls: type) -> None:
    calls: list[dict[str, Any]] = []
    client = _client(cls, calls)
    options = {"temperature": 0.7, "top_p": 0.95, "top_k": 4, "min_mass": 0.003, "max_tokens": 5}
    requests = [SimpleNamespace(args=(g, options)) for g in ["Let x", "def f"]]
    answers = [json.loads(a) for a in client.phylolm_alleles(requests)]
    for answer in answers:
        assert sum(answer["alleles"].values()) + answer["tail"] == pytest.approx(1.0, abs=1e-9)
        assert answer["alleles"]
    assert all(c["max_tokens"] == 1 and c["temperature"] == 1.0 for c in calls)
    if cls is PhyloLocalChatCompletions:
        assert any(c.get("continue_final_message") for c in calls)


def test_token_id_answers_keep_partial_characters_and_find_every_end() -> None:
    s = ExpansionSettings(temperature=1.0, top_k=3)
    choice = {
        "logprobs": {
            "top_logprobs": [
                {"token_id:7": math.log(0.5), "token_id:2": math.log(0.3), "token_id:9": -9.0}
            ]
        }
    }
    cand = token_id_candidates(choice, s, frozenset({2, 5}))
    assert list(cand.tokens) == [7, 2, 9]  # a byte token (no text) keeps its mass
    assert list(cand.ends) == [False, True, False]


def test_a_server_without_token_ids_is_refused_with_the_setting_to_use() -> None:
    s = ExpansionSettings(temperature=1.0, top_k=3)
    choice = {"logprobs": {"top_logprobs": [{" the": -0.1}]}}
    with pytest.raises(ServerError, match="tokenized_requests=False"):
        token_id_candidates(choice, s, frozenset())


@pytest.mark.parametrize(
    "answer",
    [None, {"error": "overloaded"}, {"choices": []}, {"choices": [{"logprobs": None}]}],
)
def test_malformed_answers_are_server_errors(answer: Any) -> None:
    client = PhyloLocalCompletions.__new__(PhyloLocalCompletions)
    client.model_call = lambda *_a, **_k: answer
    client.max_retries = 1
    client.eos_string = None
    requests = [SimpleNamespace(args=("Let x", {"top_k": 3, "max_tokens": 2}))]
    with pytest.raises(ServerError):
        client.phylolm_alleles(requests)
