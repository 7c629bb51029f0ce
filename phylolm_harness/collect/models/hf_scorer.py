"""Scoring a frontier of branches with a transformers causal LM, keeping every branch's cache.

The prompt of every gene is run once, in groups of similar length so that little padding is
computed. Every branch keeps its key/value cache (prompt and path) until its children are scored,
so each expanded branch or draw costs one model position and one gather of its parent's cache.
Only the last position's logits are computed (``logits_to_keep=1``) and branches are scored in
chunks bounded by a number of cached positions, so memory stays bounded with large vocabularies.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from phylolm_harness.collect.frontier import Branch, ExpansionSettings, NextTokens

__all__ = ["DEFAULT_CACHE_POSITIONS", "DEFAULT_MAX_ROWS", "HFScorer", "length_groups"]

DEFAULT_CACHE_POSITIONS = 32_768
"""Cached positions (branches x sequence length) scored in one forward pass."""

DEFAULT_MAX_ROWS = 256
"""Largest number of branches scored in one forward pass (bounds the logits' memory)."""

PADDING_SLACK = 0.15
"""Prompts are run in groups of similar length; a group grows while its padding stays below this
share of its positions, or while it holds fewer than :data:`MIN_GROUP_POSITIONS`."""

MIN_GROUP_POSITIONS = 128
"""Smallest number of positions of a group of prompts: smaller forward passes waste a CPU."""


@dataclass
class _Chunk:
    """Key/value cache of some frontier rows, left-padded to one width."""

    rows: torch.Tensor
    """Frontier indices of its rows."""
    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    mask: torch.Tensor
    lengths: torch.Tensor
    """Real prompt length of each row."""


def _candidates(
    logits: torch.Tensor,
    branches: Sequence[Branch[int]],
    settings: ExpansionSettings,
    eos: torch.Tensor,
) -> list[NextTokens[int]]:
    """Top-k tokens of each row of last-position logits, and the tokens at its draws."""
    scaled = logits.float() / settings.temperature
    normaliser = torch.logsumexp(scaled, dim=-1, keepdim=True)
    values, indices = torch.topk(scaled, min(settings.top_k, scaled.shape[-1]), dim=-1)
    values = values - normaliser
    ends = torch.isin(indices, eos)
    values_np = values.cpu().double().numpy()
    indices_np = indices.cpu().numpy()
    ends_np = ends.cpu().numpy()
    drawn = _draw(scaled, normaliser, values_np, indices_np, branches, eos)
    return [
        NextTokens([int(t) for t in indices_np[i]], values_np[i], ends_np[i], *drawn[i])
        for i in range(values_np.shape[0])
    ]


def _draw(
    scaled: torch.Tensor,
    normaliser: torch.Tensor,
    top_logprobs: NDArray[np.float64],
    top_tokens: NDArray[np.int64],
    branches: Sequence[Branch[int]],
    eos: torch.Tensor,
) -> list[tuple[list[int], NDArray[np.bool_]]]:
    """Tokens at each branch's draws, by inverting the cumulative distribution.

    The order of the cumulative sum is the top-k tokens, most probable first, then the other
    tokens in vocabulary order; any fixed order gives exact draws. Most draws fall among the top
    tokens, so the whole vocabulary is summed only for the rows that have a draw beyond them.
    """
    empty = np.zeros(0, dtype=np.bool_)
    out: list[tuple[list[int], NDArray[np.bool_]]] = [([], empty)] * len(branches)
    top_cumulative = np.cumsum(np.exp(top_logprobs), axis=-1)
    beyond: list[int] = []
    picks: dict[int, list[int]] = {}
    for i, branch in enumerate(branches):
        if not branch.draws:
            continue
        u = np.asarray(branch.draws)
        slot = np.searchsorted(top_cumulative[i], u, side="right")
        picks[i] = [int(top_tokens[i, s]) if s < top_tokens.shape[1] else -1 for s in slot]
        if slot.max() >= top_tokens.shape[1]:
            beyond.append(i)
    if beyond:
        index = torch.tensor(beyond, dtype=torch.long, device=scaled.device)
        probs = (scaled.index_select(0, index) - normaliser.index_select(0, index)).exp()
        top = torch.as_tensor(top_tokens[beyond], device=scaled.device)
        probs.scatter_(1, top, 0.0)
        cumulative = torch.cumsum(probs, dim=-1)
        for r, i in enumerate(beyond):
            pairs = zip(branches[i].draws, picks[i], strict=True)
            rest = [u - top_cumulative[i, -1] for u, t in pairs if t < 0]
            slots = torch.searchsorted(
                cumulative[r],
                torch.tensor(rest, dtype=cumulative.dtype, device=scaled.device),
                right=True,
            ).clamp(max=scaled.shape[-1] - 1)
            found = iter(slots.tolist())
            picks[i] = [t if t >= 0 else int(next(found)) for t in picks[i]]
    eos_ids = set(eos.tolist())
    for i, tokens in picks.items():
        out[i] = (tokens, np.array([t in eos_ids for t in tokens], dtype=np.bool_))
    return out


def _cache_layers(outputs: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Key and value tensors of every layer of the cache a forward pass returned."""
    cache = getattr(outputs, "cache", None)
    if cache is None:
        cache = outputs.past_key_values
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


def _new_cache(model: Any, keys: list[torch.Tensor], values: list[torch.Tensor]) -> Any:
    """Build a transformers ``DynamicCache`` that holds the given per-layer tensors, uncopied."""
    from transformers import DynamicCache

    try:
        cache = DynamicCache(config=model.config)
    except TypeError:
        cache = DynamicCache()
    layers = getattr(cache, "layers", None)
    if layers is not None and len(layers) == len(keys):
        for layer, k, v in zip(layers, keys, values, strict=True):
            layer.lazy_initialization(k, v)
            layer.keys, layer.values = k, v
            if isinstance(getattr(layer, "cumulative_length", None), int):
                layer.cumulative_length = k.shape[-2]
        return cache
    for index, (k, v) in enumerate(zip(keys, values, strict=True)):
        cache.update(k, v, index)
    return cache


def _forward(model: Any, cache: Any = None, **inputs: Any) -> Any:
    """Run the model keeping only the last position's logits.

    The cache goes in as ``cache`` where the model takes that name (transformers 5.24 and later),
    as ``past_key_values`` before.
    """
    if cache is not None:
        takes = inspect.signature(model.forward).parameters
        inputs["cache" if "cache" in takes else "past_key_values"] = cache
    try:
        return model(**inputs, logits_to_keep=1)
    except TypeError:
        outputs = model(**inputs)
        outputs.logits = outputs.logits[:, -1:, :]
        return outputs


def length_groups(lengths: Sequence[int], max_rows: int, cache_positions: int) -> list[list[int]]:
    """Group prompt indices by length so that each group pads little.

    Prompts are taken shortest first; a group closes when the next prompt would push its padding
    above :data:`PADDING_SLACK` of its positions (once it has :data:`MIN_GROUP_POSITIONS`), its
    rows above ``max_rows`` or its positions above ``cache_positions``.

    Examples
    --------
    >>> length_groups([300, 3000, 400, 3100], max_rows=8, cache_positions=10_000)
    [[0, 2], [1, 3]]
    """
    groups: list[list[int]] = []
    current: list[int] = []
    real = 0
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        n = lengths[index]
        cells = (len(current) + 1) * n
        if current and (
            (cells - real - n > PADDING_SLACK * cells and real >= MIN_GROUP_POSITIONS)
            or len(current) >= max_rows
            or cells > cache_positions
        ):
            groups.append(current)
            current, real = [], 0
        current.append(index)
        real += n
    if current:
        groups.append(current)
    return groups


def _gather(
    tensors: Sequence[Sequence[torch.Tensor]], indices: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """Per layer, the rows ``indices[c]`` of ``tensors[c][layer]``, stacked over ``c``."""
    if len(tensors) == 1:
        return [t.index_select(0, indices[0]) for t in tensors[0]]
    return [
        torch.cat([t[layer].index_select(0, i) for t, i in zip(tensors, indices, strict=True)])
        for layer in range(len(tensors[0]))
    ]


def _pad_together(chunks: Sequence[_Chunk]) -> _Chunk:
    """One chunk of the rows of several, left-padded to the widest (padding is masked out)."""
    if len(chunks) == 1:
        return chunks[0]
    width = max(chunk.mask.shape[1] for chunk in chunks)
    rows = sum(len(chunk.rows) for chunk in chunks)

    def stack(parts: Sequence[torch.Tensor]) -> torch.Tensor:
        shape = (rows, parts[0].shape[1], width, parts[0].shape[3])
        out = parts[0].new_zeros(shape)
        start = 0
        for part in parts:
            out[start : start + part.shape[0], :, width - part.shape[2] :] = part
            start += part.shape[0]
        return out

    mask = chunks[0].mask.new_zeros((rows, width))
    start = 0
    for chunk in chunks:
        mask[start : start + len(chunk.rows), width - chunk.mask.shape[1] :] = chunk.mask
        start += len(chunk.rows)
    return _Chunk(
        torch.cat([chunk.rows for chunk in chunks]),
        [stack([chunk.keys[i] for chunk in chunks]) for i in range(len(chunks[0].keys))],
        [stack([chunk.values[i] for chunk in chunks]) for i in range(len(chunks[0].values))],
        mask,
        torch.cat([chunk.lengths for chunk in chunks]),
    )


class HFScorer:
    """Scores the frontiers of some prompts, keeping each row's key/value cache for its children.

    Frontier rows are identified by their index; a row's ``parent`` is its index in the previous
    frontier, whose cache the row extends by its last token.
    """

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
        self.prompts = prompts
        self.settings = settings
        self.eos = eos
        self.pad_id = pad_id
        self.cache_positions = cache_positions
        self.max_rows = max_rows
        self.device = next(model.parameters()).device
        self.positions = 0
        self.chunks: list[_Chunk] = []
        self.where = torch.zeros((0, 2), dtype=torch.long)

    def __call__(self, frontier: Sequence[Branch[int]]) -> list[NextTokens[int]]:
        """Score one level: every branch's top tokens and the tokens at its draws."""
        depth = len(frontier[0].path)
        results: list[NextTokens[int] | None] = [None] * len(frontier)
        chunks: list[_Chunk] = []
        for chunk in self._level(frontier, depth):
            rows = chunk.rows.tolist()
            tokens = [frontier[i].path[-1] for i in rows] if depth else None
            kept, logits = self._run(chunk, tokens, depth)
            chunks.append(kept)
            branches = [frontier[i] for i in rows]
            for i, nxt in zip(
                rows, _candidates(logits, branches, self.settings, self.eos), strict=True
            ):
                results[i] = nxt
        self.chunks = [_pad_together(chunks)] if depth == 0 else chunks
        where = torch.empty((len(frontier), 2), dtype=torch.long)
        for c, chunk in enumerate(self.chunks):
            where[chunk.rows, 0] = c
            where[chunk.rows, 1] = torch.arange(len(chunk.rows))
        self.where = where
        return [r for r in results if r is not None]

    def _level(self, frontier: Sequence[Branch[int]], depth: int) -> list[_Chunk]:
        """Split the frontier's rows in chunks, each with the (gathered) cache it extends.

        At the first level the chunks are prompts of similar length; after it, every row has the
        same width and a chunk holds up to ``max_rows`` rows (fewer for long caches), so that
        forward passes are large: a CPU computes a few rows at once several times slower per row.
        """
        if depth == 0:
            lengths = [len(self.prompts[b.prompt]) for b in frontier]
            groups = length_groups(lengths, self.max_rows, self.cache_positions)
            return [self._prompt_chunk(frontier, rows) for rows in groups]
        parents = torch.tensor([b.parent for b in frontier], dtype=torch.long)
        where = self.where[parents]
        order = torch.argsort(where[:, 0], stable=True)
        width = self.chunks[0].mask.shape[1] + 1
        step = max(1, min(self.max_rows, self.cache_positions // width))
        out = []
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            parts = []
            for c in torch.unique_consecutive(where[rows, 0]).tolist():
                local = where[rows[where[rows, 0] == c], 1].to(self.device)
                parts.append((self.chunks[c], local))
            out.append(
                _Chunk(
                    rows,
                    _gather([chunk.keys for chunk, _ in parts], [i for _, i in parts]),
                    _gather([chunk.values for chunk, _ in parts], [i for _, i in parts]),
                    _gather([[chunk.mask] for chunk, _ in parts], [i for _, i in parts])[0],
                    _gather([[chunk.lengths] for chunk, _ in parts], [i for _, i in parts])[0],
                )
            )
        return out

    def _prompt_chunk(self, frontier: Sequence[Branch[int]], rows: list[int]) -> _Chunk:
        prompts = [self.prompts[frontier[i].prompt] for i in rows]
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        return _Chunk(
            torch.tensor(rows, dtype=torch.long),
            [ids.to(self.device)],
            [],
            mask.to(self.device),
            mask.sum(-1).to(self.device),
        )

    def _run(self, chunk: _Chunk, tokens: list[int] | None, depth: int) -> tuple[_Chunk, Any]:
        """Run one chunk: its prompts (``tokens`` is ``None``) or one more token per row."""
        with torch.inference_mode():
            if tokens is None:
                ids, mask = chunk.keys[0], chunk.mask
                self.positions += int(mask.sum())
                out = _forward(
                    self.model,
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                    use_cache=True,
                )
            else:
                ones = torch.ones((len(tokens), 1), dtype=torch.long, device=self.device)
                mask = torch.cat([chunk.mask, ones], dim=1)
                self.positions += len(tokens)
                out = _forward(
                    self.model,
                    input_ids=torch.tensor(tokens, dtype=torch.long, device=self.device)[:, None],
                    attention_mask=mask,
                    position_ids=(chunk.lengths + depth - 1)[:, None],
                    cache=_new_cache(self.model, chunk.keys, chunk.values),
                    use_cache=True,
                )
        layers = _cache_layers(out)
        kept = _Chunk(
            chunk.rows, [k for k, _ in layers], [v for _, v in layers], mask, chunk.lengths
        )
        return kept, out.logits[:, -1, :]
