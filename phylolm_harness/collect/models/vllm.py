"""Exact allele distributions from vLLM, and lm-eval's ``vllm`` model with them.

Each frontier of branches is sent as one ``LLM.generate`` call: one prompt per branch (gene tokens
followed by the branch's tokens) with ``SamplingParams(max_tokens=1, logprobs=k)``. vLLM's prefix
caching (on by default in its V1 engine) reuses the gene's key/value cache across branches.

vLLM reports the raw (temperature 1) log-probabilities unless the engine was started with
``logprobs_mode="processed_logprobs"`` (pass it in ``--model_args``); in that mode the log-probs
already include the temperature and are used as they are. Otherwise they are rescaled to the
task's temperature with
:func:`phylolm_harness.collect.expansion.rescale_top_logprobs` (a lower bound,
the rest goes to the tail).

vLLM is imported only when :class:`PhyloVLLM` is first used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

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

__all__ = ["candidates_from_output", "exact_alleles_vllm"]  # and PhyloVLLM, built on first use


def candidates_from_output(
    output: Any,
    settings: ExpansionSettings,
    eos_ids: frozenset[int],
    processed: bool,
) -> NextTokens[int]:
    """Candidate next tokens from one ``vllm.RequestOutput`` of a ``max_tokens=1`` request.

    Parameters
    ----------
    output : vllm.outputs.RequestOutput
        Its ``outputs[0].logprobs[0]`` maps token id -> ``Logprob`` (``.logprob``, ``.rank``,
        ``.decoded_token``): the top ``k`` tokens plus the sampled one.
    settings : ExpansionSettings
        Gives ``top_k`` and the temperature.
    eos_ids : frozenset of int
        Token ids that end the text.
    processed : bool
        Whether the log-probs already include the temperature.

    Returns
    -------
    NextTokens
    """
    step = output.outputs[0].logprobs[0]
    ranked = sorted(step.items(), key=lambda item: -float(item[1].logprob))[: settings.top_k]
    tokens = [int(token) for token, _ in ranked]
    logprobs = np.array([float(lp.logprob) for _, lp in ranked], dtype=np.float64)
    if not processed:
        logprobs = rescale_top_logprobs(logprobs, settings.temperature)
    ends = np.array([t in eos_ids for t in tokens], dtype=np.bool_)
    return NextTokens(tokens, logprobs, ends)


def exact_alleles_vllm(
    llm: Any,
    prompts: Sequence[Sequence[int]],
    decode: Callable[[Sequence[int]], str],
    settings: ExpansionSettings,
    eos_ids: Sequence[int],
    make_params: Callable[..., Any],
    make_prompt: Callable[[list[int]], Any],
    processed: bool = False,
    streams: Sequence[str] | None = None,
) -> list[AlleleDistribution]:
    """Exact allele distributions of tokenised prompts under a ``vllm.LLM``.

    Parameters
    ----------
    llm : vllm.LLM
        The engine; only ``llm.generate(prompts, sampling_params=..., use_tqdm=False)`` is used.
    prompts : Sequence[Sequence[int]]
        Token ids of each gene.
    decode : callable
        Decodes continuation token ids to text (special tokens skipped).
    settings : ExpansionSettings
        Expansion limits and temperature.
    eos_ids : Sequence[int]
        Token ids that end the text.
    make_params : callable
        ``vllm.SamplingParams`` (or a stand-in with the same keywords).
    make_prompt : callable
        Builds a prompt from token ids (``vllm.TokensPrompt(prompt_token_ids=ids)``).
    processed : bool
        Whether the engine reports log-probs after temperature (``logprobs_mode=
        "processed_logprobs"``).
    streams : Sequence[str], optional
        Key of each prompt's draws; keys that name the model keep two models' draws apart.

    Returns
    -------
    list of AlleleDistribution
    """
    eos = frozenset(int(i) for i in eos_ids)
    # Raw log-probs do not depend on the request's temperature; processed ones need T.
    scoring = settings.temperature if processed else 1.0
    params = make_params(max_tokens=1, logprobs=settings.top_k, temperature=scoring)

    def drawing(branch: Branch[int]) -> Any:
        """Ask vLLM's own sampler for the node's draws, at the task's temperature."""
        return make_params(
            max_tokens=1,
            logprobs=settings.top_k,
            temperature=settings.temperature,
            n=len(branch.draws),
            seed=engine_seed(branch.draws),
        )

    def score(frontier: Sequence[Branch[int]]) -> list[NextTokens[int]]:
        batch = [make_prompt([*prompts[b.prompt], *b.path]) for b in frontier]
        # A drawing request also reports the node's top log-probs: raw ones do not depend on
        # its temperature, processed ones come at the task's temperature, as wanted.
        each = [drawing(b) if b.draws else params for b in frontier]
        outputs = llm.generate(batch, sampling_params=each, use_tqdm=False)
        found = []
        for branch, out in zip(frontier, outputs, strict=True):
            top = candidates_from_output(out, settings, eos, processed)
            if branch.draws:
                drawn = [int(o.token_ids[0]) for o in out.outputs]
                ends = np.array([t in eos for t in drawn], dtype=np.bool_)
                top = NextTokens(top.tokens, top.logprobs, top.ends, drawn, ends)
            found.append(top)
        return found

    def decode_path(_prompt: int, path: tuple[int, ...]) -> str:
        return decode(list(path))

    return expand_alleles(len(prompts), score, decode_path, settings, draws=True, streams=streams)


def _engine_processes_logprobs(llm: Any) -> bool:
    """Whether a ``vllm.LLM`` reports log-probs after temperature scaling."""
    engine = getattr(llm, "llm_engine", None)
    config = getattr(engine, "model_config", None)
    return str(getattr(config, "logprobs_mode", "raw_logprobs")).startswith("processed")


def _phylo_vllm_class() -> type:
    """Build :class:`PhyloVLLM` (imports vLLM and lm-eval's adapter)."""
    from lm_eval.models.vllm_causallms import VLLM
    from vllm import SamplingParams, TokensPrompt

    class PhyloVLLM(ExactAllelesMixin, VLLM):  # type: ignore[misc]
        """lm-eval's ``vllm`` model that also serves exact allele distributions.

        Registered as ``phylolm-vllm``; takes the same ``--model_args`` as ``vllm``.
        """

        def exact_alleles(
            self, genes: Sequence[str], settings: ExpansionSettings
        ) -> list[AlleleDistribution]:
            """Allele distributions of some genes (see :func:`exact_alleles_vllm`)."""
            return exact_alleles_vllm(
                self.model,
                [self.tok_encode(gene) for gene in genes],
                lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True),
                settings,
                tokenizer_end_ids(self.tokenizer),
                SamplingParams,
                lambda ids: TokensPrompt(prompt_token_ids=ids),
                processed=_engine_processes_logprobs(self.model),
                streams=[f"{sorted(self.model_args.items())!r}\n{gene}" for gene in genes],
            )

    return PhyloVLLM


def __getattr__(name: str) -> Any:
    if name == "PhyloVLLM":
        cls = _phylo_vllm_class()
        globals()["PhyloVLLM"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
