"""Exact allele distributions from a transformers causal LM, and lm-eval's ``hf`` with them.

The prompt of every gene is run once; its key/value cache is kept and shared by all branches of
that gene, so each expanded branch costs one model position. Only the last position's logits are
computed (``logits_to_keep=1``), and branches are scored in chunks bounded by a number of cached
positions, so memory stays bounded with large vocabularies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from lm_eval.models.huggingface import HFLM

from phylolm_harness.collect.expansion import (
    Branch,
    ExpansionSettings,
    NextTokens,
    expand_alleles,
)
from phylolm_harness.collect.models.base import ExactAllelesMixin
from phylolm_harness.core.alleles import AlleleDistribution

__all__ = ["PhyloHFLM", "eos_token_ids", "exact_alleles_hf"]

DEFAULT_CACHE_POSITIONS = 32_768
"""Cached positions (branches x sequence length) scored in one forward pass."""

DEFAULT_MAX_ROWS = 256
"""Largest number of branches scored in one forward pass (bounds the logits' memory)."""


@dataclass
class _PromptCache:
    """Key/value cache of a left-padded chunk of prompts."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    mask: torch.Tensor
    lengths: torch.Tensor
    first: list[NextTokens[int]]


def _top_candidates(
    logits: torch.Tensor, settings: ExpansionSettings, eos: torch.Tensor
) -> list[NextTokens[int]]:
    """Top-k tokens of each row of last-position logits at the expansion temperature."""
    logprobs = torch.log_softmax(logits.float() / settings.temperature, dim=-1)
    k = min(settings.top_k, logprobs.shape[-1])
    values, indices = torch.topk(logprobs, k, dim=-1)
    ends = torch.isin(indices, eos)
    values_np = values.cpu().double().numpy()
    indices_np = indices.cpu().numpy()
    ends_np = ends.cpu().numpy()
    return [
        NextTokens([int(t) for t in indices_np[i]], values_np[i], ends_np[i])
        for i in range(values_np.shape[0])
    ]


def _cache_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Key and value tensors of every layer of a transformers cache."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


def _new_cache(model: Any, keys: list[torch.Tensor], values: list[torch.Tensor]) -> Any:
    """Build a transformers ``DynamicCache`` holding the given per-layer tensors."""
    from transformers import DynamicCache

    try:
        cache = DynamicCache(config=model.config)
    except TypeError:
        cache = DynamicCache()
    for layer, (k, v) in enumerate(zip(keys, values, strict=True)):
        cache.update(k, v, layer)
    return cache


def _forward(model: Any, **inputs: Any) -> Any:
    """Run the model keeping only the last position's logits."""
    try:
        return model(**inputs, logits_to_keep=1)
    except TypeError:
        outputs = model(**inputs)
        outputs.logits = outputs.logits[:, -1:, :]
        return outputs


class _HFScorer:
    """Scores frontiers of branches for a chunk of prompts, reusing the prompts' cache."""

    def __init__(
        self,
        model: Any,
        prompts: Sequence[Sequence[int]],
        settings: ExpansionSettings,
        eos: torch.Tensor,
        pad_id: int,
        cache_positions: int,
        max_rows: int,
    ) -> None:
        self.model = model
        self.settings = settings
        self.eos = eos
        self.cache_positions = cache_positions
        self.max_rows = max_rows
        self.device = next(model.parameters()).device
        self.positions = 0
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
            self.positions += len(prompt)
        ids, mask = ids.to(self.device), mask.to(self.device)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = _forward(
                model,
                input_ids=ids,
                attention_mask=mask,
                position_ids=position_ids,
                use_cache=True,
            )
        layers = _cache_layers(out.past_key_values)
        self.prompt = _PromptCache(
            keys=[k for k, _ in layers],
            values=[v for _, v in layers],
            mask=mask,
            lengths=mask.sum(-1),
            first=_top_candidates(out.logits[:, -1, :], settings, eos),
        )
        self.suffix_keys: list[torch.Tensor] = []
        self.suffix_values: list[torch.Tensor] = []

    def __call__(self, frontier: Sequence[Branch[int]]) -> list[NextTokens[int]]:
        depth = len(frontier[0].path)
        if depth == 0:
            return [self.prompt.first[b.prompt] for b in frontier]
        width = self.prompt.mask.shape[1] + depth
        rows = max(1, min(self.max_rows, self.cache_positions // width))
        results: list[NextTokens[int]] = []
        new_keys: list[list[torch.Tensor]] = [[] for _ in self.prompt.keys]
        new_values: list[list[torch.Tensor]] = [[] for _ in self.prompt.keys]
        for start in range(0, len(frontier), rows):
            chunk = frontier[start : start + rows]
            results.extend(self._score_chunk(chunk, depth, new_keys, new_values))
        self.suffix_keys = [torch.cat(parts) for parts in new_keys]
        self.suffix_values = [torch.cat(parts) for parts in new_values]
        return results

    def _score_chunk(
        self,
        chunk: Sequence[Branch[int]],
        depth: int,
        new_keys: list[list[torch.Tensor]],
        new_values: list[list[torch.Tensor]],
    ) -> list[NextTokens[int]]:
        device = self.device
        genes = torch.tensor([b.prompt for b in chunk], dtype=torch.long, device=device)
        parents = torch.tensor([b.parent for b in chunk], dtype=torch.long, device=device)
        keys, values = [], []
        for layer, (pk, pv) in enumerate(zip(self.prompt.keys, self.prompt.values, strict=True)):
            k, v = pk.index_select(0, genes), pv.index_select(0, genes)
            if depth > 1:
                k = torch.cat([k, self.suffix_keys[layer].index_select(0, parents)], dim=-2)
                v = torch.cat([v, self.suffix_values[layer].index_select(0, parents)], dim=-2)
            keys.append(k)
            values.append(v)
        cache = _new_cache(self.model, keys, values)
        mask = torch.cat(
            [
                self.prompt.mask.index_select(0, genes),
                torch.ones((len(chunk), depth), dtype=torch.long, device=device),
            ],
            dim=1,
        )
        ids = torch.tensor([[b.path[-1]] for b in chunk], dtype=torch.long, device=device)
        position_ids = (self.prompt.lengths.index_select(0, genes) + depth - 1).unsqueeze(-1)
        with torch.inference_mode():
            out = _forward(
                self.model,
                input_ids=ids,
                attention_mask=mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
            )
        self.positions += len(chunk)
        prompt_width = self.prompt.mask.shape[1]
        for layer, (k, v) in enumerate(_cache_layers(out.past_key_values)):
            new_keys[layer].append(k[:, :, prompt_width:, :])
            new_values[layer].append(v[:, :, prompt_width:, :])
        return _top_candidates(out.logits[:, -1, :], self.settings, self.eos)


def exact_alleles_hf(
    model: Any,
    prompts: Sequence[Sequence[int]],
    decode: Callable[[Sequence[int]], str],
    settings: ExpansionSettings,
    eos_ids: Sequence[int],
    pad_id: int = 0,
    prompt_batch: int = 32,
    cache_positions: int = DEFAULT_CACHE_POSITIONS,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> tuple[list[AlleleDistribution], int]:
    """Exact allele distributions of tokenised prompts under a transformers causal LM.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM in evaluation mode.
    prompts : Sequence[Sequence[int]]
        Token ids of each gene, as the sampled path would feed them.
    decode : callable
        Decodes continuation token ids to text (special tokens skipped), as the sampled path does.
    settings : ExpansionSettings
        Expansion limits and temperature.
    eos_ids : Sequence[int]
        Token ids that end the text.
    pad_id : int
        Id used for left padding (masked out).
    prompt_batch : int
        Prompts whose caches are computed together; their branches are scored together.
    cache_positions : int
        Upper bound on branches x cached length per forward pass.
    max_rows : int
        Upper bound on branches per forward pass.

    Returns
    -------
    distributions : list of AlleleDistribution
        One per prompt.
    positions : int
        Token positions the model computed (prompts once, then one per branch).
    """
    eos = torch.tensor(sorted(set(eos_ids)), dtype=torch.long)
    distributions: list[AlleleDistribution] = []
    positions = 0
    for start in range(0, len(prompts), max(1, prompt_batch)):
        chunk = prompts[start : start + prompt_batch]
        scorer = _HFScorer(
            model,
            chunk,
            settings,
            eos.to(next(model.parameters()).device),
            pad_id,
            cache_positions,
            max_rows,
        )

        def decode_path(_prompt: int, path: tuple[int, ...]) -> str:
            return decode(list(path))

        distributions.extend(expand_alleles(len(chunk), scorer, decode_path, settings))
        positions += scorer.positions
    return distributions, positions


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-text ids: the tokenizer's plus the generation config's.

    Parameters
    ----------
    model : transformers.PreTrainedModel
    tokenizer : transformers.PreTrainedTokenizerBase

    Returns
    -------
    list of int
    """
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    generation = getattr(model, "generation_config", None)
    configured = getattr(generation, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(int(i) for i in configured)
    return sorted(ids)


class PhyloHFLM(ExactAllelesMixin, HFLM):  # type: ignore[misc]
    """lm-eval's ``hf`` model that also serves exact allele distributions.

    Registered as ``phylolm-hf``; takes the same ``--model_args`` as ``hf``.
    """

    def exact_alleles(
        self, genes: Sequence[str], settings: ExpansionSettings
    ) -> list[AlleleDistribution]:
        """Allele distributions of some genes (see :func:`exact_alleles_hf`)."""
        model = self.model
        model.eval()
        pad_id = self.tokenizer.pad_token_id
        batch = self.batch_size if isinstance(self.batch_size, int) and self.batch_size > 1 else 32
        found, _ = exact_alleles_hf(
            model,
            [self.tok_encode(gene) for gene in genes],
            self.tok_decode,
            settings,
            eos_token_ids(model, self.tokenizer),
            pad_id=int(pad_id) if pad_id is not None else 0,
            prompt_batch=batch,
        )
        return found
