"""PhyloVLLM's expansion against stand-ins of vLLM's output classes, without draws.

vLLM is not installed in this environment; tests/engines runs the real engine, draws included.

The stand-ins mirror vllm.outputs.RequestOutput / CompletionOutput and vllm.sequence.Logprob:
``RequestOutput.outputs[0].logprobs`` is a list (one entry per generated token) of dicts
``token_id -> Logprob(logprob, rank, decoded_token)`` holding the top-k tokens plus the sampled one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from support.toy_model import EOS, VOCAB, ToyScorer, decode

from phylolm_harness.collect.expansion import ExpansionSettings, expand_alleles


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    prompt_logprobs: Any
    outputs: list[CompletionOutput]
    finished: bool = True


@dataclass
class SamplingParams:
    max_tokens: int = 16
    logprobs: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1


@dataclass
class FakeLLM:
    """Scores ``[prompt_index, *path]`` token prompts with the toy model of test_expansion."""

    temperature_applied: bool
    calls: list[int] = field(default_factory=list)

    def generate(
        self,
        prompts: list[dict[str, list[int]]],
        sampling_params: list[SamplingParams],
        use_tqdm: bool = False,
    ) -> list[RequestOutput]:
        self.calls.append(len(prompts))
        outs = []
        for i, (prompt, params) in enumerate(zip(prompts, sampling_params, strict=True)):
            assert params.max_tokens == 1
            scorer = ToyScorer(params.temperature if self.temperature_applied else 1.0)
            ids = prompt["prompt_token_ids"]
            lp = scorer.logprobs(ids[0], ids[1:])
            order = np.argsort(-lp)
            sampled = int(order[-1])  # the sampled token is reported even outside the top k
            keep = [*order[: params.logprobs].tolist(), sampled]
            step = {
                int(tk): Logprob(float(lp[tk]), r + 1, VOCAB[tk].decode("latin-1"))
                for r, tk in enumerate(keep)
            }
            outs.append(
                RequestOutput(
                    str(i),
                    None,
                    ids,
                    None,
                    [CompletionOutput(0, "", [sampled], None, [step], "length")],
                )
            )
        return outs


@pytest.mark.parametrize("processed", [True, False])
def test_vllm_expansion_matches_direct_expansion(processed: bool) -> None:
    from phylolm_harness.collect.models.vllm import exact_alleles_vllm

    temperature = 0.7 if processed else 1.0
    s = ExpansionSettings(
        temperature=temperature, top_p=0.9, top_k=4, min_mass=1e-3, tail_samples=0
    )
    llm = FakeLLM(temperature_applied=processed)
    found = exact_alleles_vllm(
        llm,
        [[0], [1]],
        lambda ids: decode(ids),
        s,
        [EOS],
        SamplingParams,
        lambda ids: {"prompt_token_ids": ids},
        processed=processed,
    )
    direct = expand_alleles(2, ToyScorer(temperature), lambda _g, p: decode(p), s)
    assert len(llm.calls) <= s.max_tokens
    for a, b in zip(found, direct, strict=True):
        assert a.alleles.keys() == b.alleles.keys()
        for k in a.alleles:
            assert a.alleles[k] == pytest.approx(b.alleles[k], abs=1e-9)
        assert sum(a.alleles.values()) + a.tail == pytest.approx(1.0, abs=1e-9)


def test_raw_logprobs_at_lower_temperature_give_lower_bounds() -> None:
    from phylolm_harness.collect.models.vllm import exact_alleles_vllm

    s = ExpansionSettings(temperature=0.7, top_p=0.9, top_k=4, min_mass=1e-3, tail_samples=0)
    found = exact_alleles_vllm(
        FakeLLM(temperature_applied=False),
        [[0]],
        lambda ids: decode(ids),
        s,
        [EOS],
        SamplingParams,
        lambda ids: {"prompt_token_ids": ids},
        processed=False,
    )[0]
    assert sum(found.alleles.values()) + found.tail == pytest.approx(1.0, abs=1e-9)


def test_phylo_vllm_class_needs_vllm() -> None:
    import importlib.util

    import phylolm_harness.collect.models.vllm as module

    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(ImportError):
            _ = module.PhyloVLLM
    else:
        assert hasattr(module.PhyloVLLM, "phylolm_alleles")
