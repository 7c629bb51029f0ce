"""Exact allele distributions from a transformers causal LM, and lm-eval's ``hf`` with them.

Genes are expanded in batches whose size follows the free memory; within a batch, frontiers are
scored by :class:`~phylolm_harness.collect.models.hf_scorer.HFScorer`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
from lm_eval.models.huggingface import HFLM

from phylolm_harness.collect.expansion import (
    ExpansionSettings,
    expand_alleles,
)
from phylolm_harness.collect.models.base import ExactAllelesMixin, end_token_ids
from phylolm_harness.collect.models.hf_scorer import (
    DEFAULT_CACHE_POSITIONS,
    DEFAULT_MAX_ROWS,
    HFScorer,
)
from phylolm_harness.core.alleles import AlleleDistribution

__all__ = ["PhyloHFLM", "eos_token_ids", "exact_alleles_hf", "prompt_batch_for", "weights_key"]


def exact_alleles_hf(
    model: Any,
    prompts: Sequence[Sequence[int]],
    decode: Callable[[Sequence[int]], str],
    settings: ExpansionSettings,
    eos_ids: Sequence[int],
    pad_id: int = 0,
    prompt_batch: int | None = None,
    cache_positions: int = DEFAULT_CACHE_POSITIONS,
    max_rows: int = DEFAULT_MAX_ROWS,
    streams: Sequence[str] | None = None,
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
        Expansion limits, temperature and tail draws.
    eos_ids : Sequence[int]
        Token ids that end the text.
    pad_id : int
        Id used for left padding (masked out).
    prompt_batch : int, optional
        Prompts expanded together (their branches share forward passes); by default as many as
        the memory for their caches allows (:func:`prompt_batch_for`).
    cache_positions : int
        Upper bound on branches x cached length per forward pass.
    max_rows : int
        Upper bound on branches per forward pass.
    streams : Sequence[str], optional
        Key of each prompt's random draws (see :func:`expand_alleles`); by default its token ids.

    Returns
    -------
    distributions : list of AlleleDistribution
        One per prompt.
    positions : int
        Token positions the model computed (prompts once, then one per branch).
    """
    device = next(model.parameters()).device
    eos = torch.tensor(sorted(set(eos_ids)), dtype=torch.long, device=device)
    keys = list(streams) if streams is not None else [repr(tuple(p)) for p in prompts]
    batch = prompt_batch or prompt_batch_for(model, prompts, settings)
    distributions: list[AlleleDistribution] = []
    positions = 0
    for start in range(0, len(prompts), max(1, batch)):
        chunk = prompts[start : start + batch]
        scorer = HFScorer(model, chunk, settings, eos, pad_id, cache_positions, max_rows)

        def decode_path(_prompt: int, path: tuple[int, ...]) -> str:
            return decode(list(path))

        distributions.extend(
            expand_alleles(
                len(chunk),
                scorer,
                decode_path,
                settings,
                draws=True,
                streams=keys[start : start + batch],
            )
        )
        positions += scorer.positions
    return distributions, positions


MEMORY_SHARE = 0.25
"""Share of the free memory (GPU, or RAM on a CPU) the caches of one prompt batch may take."""

ROWS_PER_GENE = 64
"""Branches per gene at one level that the default prompt batch makes room for."""


def prompt_batch_for(
    model: Any, prompts: Sequence[Sequence[int]], settings: ExpansionSettings
) -> int:
    """Genes expanded together, from the free memory and the size of one cached position.

    One level holds, for every branch, its whole cache (prompt and path); a gene is given room for
    :data:`ROWS_PER_GENE` branches at its longest prompt plus ``max_tokens``.

    Returns
    -------
    int
        Between 8 and 4096.
    """
    config = getattr(model, "config", None)
    text = getattr(config, "get_text_config", lambda: config)()
    layers = int(getattr(text, "num_hidden_layers", 32))
    heads = int(
        getattr(text, "num_key_value_heads", None) or getattr(text, "num_attention_heads", 32) or 32
    )
    head_dim = int(
        getattr(text, "head_dim", None)
        or getattr(text, "hidden_size", 4096) // max(1, getattr(text, "num_attention_heads", 32))
    )
    element = next(model.parameters()).element_size()
    per_position = 2 * layers * heads * head_dim * element
    longest = max((len(p) for p in prompts), default=1) + settings.max_tokens
    per_gene = per_position * longest * ROWS_PER_GENE
    return int(
        min(4096, max(8, MEMORY_SHARE * _free_memory(next(model.parameters()).device) // per_gene))
    )


def _free_memory(device: torch.device) -> int:
    """Free bytes on the device: GPU memory, or available RAM for a CPU."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return 4 * 2**30


def weights_key(model: Any, values: int = 4096) -> str:
    """Fingerprint a model's weights: the key of its random draws.

    Two loads of the same weights (in the same dtype) get the same key wherever they are stored,
    so a re-collection draws the same pruned continuations; any other weights get another key,
    so two models' draws are independent (their cross terms stay unbiased).

    Parameters
    ----------
    model : torch.nn.Module
    values : int
        Values of each parameter tensor, evenly spaced across it, that enter the fingerprint.

    Returns
    -------
    str
        ``blake2b:<hex>``.
    """
    digest = hashlib.blake2b(digest_size=16)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            flat = parameter.detach().flatten()
            sample = flat[:: max(1, flat.numel() // values)][:values].contiguous()
            digest.update(f"{name}:{tuple(parameter.shape)}:{parameter.dtype}".encode())
            digest.update(sample.view(torch.uint8).cpu().numpy().tobytes())
    return f"blake2b:{digest.hexdigest()}"


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-text ids of a loaded model: its tokenizer's plus its generation config's."""
    return end_token_ids(tokenizer, getattr(model, "generation_config", None))


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
        batch = (
            self.batch_size if isinstance(self.batch_size, int) and self.batch_size > 1 else None
        )
        # The draws of two models must be independent, and those of one model reproducible.
        key = weights_key(model)
        found, _ = exact_alleles_hf(
            model,
            [self.tok_encode(gene) for gene in genes],
            self.tok_decode,
            settings,
            eos_token_ids(model, self.tokenizer),
            pad_id=int(pad_id) if pad_id is not None else 0,
            prompt_batch=batch,
            streams=[f"{key}\n{gene}" for gene in genes],
        )
        return found
