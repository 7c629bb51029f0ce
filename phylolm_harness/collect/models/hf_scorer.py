"""Scoring a frontier of branches with a transformers causal LM, keeping every branch's cache.

The prompt of every gene is run once, packed end to end with other prompts so that no padding is
computed. Every branch keeps its key/value cache (prompt and path) until its children are scored,
so each expanded branch or draw costs one model position and one gather of its parent's cache.
Only the last position's logits are computed (``logits_to_keep=1``) and branches are scored in
chunks bounded by a number of cached positions, so memory stays bounded with large vocabularies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from phylolm_harness.collect.frontier import Branch, ExpansionSettings, NextTokens
from phylolm_harness.collect.models.hf_cache import (
    cache_layers,
    forward,
    new_cache,
    slot_cache,
)

__all__ = ["DEFAULT_CACHE_POSITIONS", "DEFAULT_MAX_ROWS", "HFScorer", "even_rows", "pack_rows"]

DEFAULT_CACHE_POSITIONS = 32_768
"""Cached positions (branches x sequence length) scored in one forward pass."""

DEFAULT_MAX_ROWS = 256
"""Largest number of branches scored in one forward pass (bounds the logits' memory)."""

PACK_WIDTH = 128
"""Prompts are packed end to end in rows of this many tokens (or the longest prompt's length):
little padding, and attention stays cheap."""

PACK_ROWS = 8
"""Rows of packed prompts run in one forward pass."""


@dataclass
class _Chunk:
    """Key/value cache of some frontier rows, left-padded to one width.

    ``keys`` and ``values`` are buffers at least as wide as ``mask``: the positions past it are
    free slots the next tokens are written into.
    """

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
            # Rounding may leave u past the last token's bound: it goes to the last such token.
            end = float(cumulative[r, -1]) * (1 - 1e-6)
            rest = [min(u - top_cumulative[i, -1], end) for u, t in pairs if t < 0]
            slots = torch.searchsorted(
                cumulative[r],
                torch.tensor(rest, dtype=cumulative.dtype, device=scaled.device),
                right=True,
            ).clamp(max=scaled.shape[-1] - 1)
            found = iter(slots.tolist())
            last = int(top_tokens[i, -1])  # nothing beyond the top tokens: rounding only
            picks[i] = [t if t >= 0 else (int(next(found)) if end > 0 else last) for t in picks[i]]
    eos_ids = set(eos.tolist())
    for i, tokens in picks.items():
        out[i] = (tokens, np.array([t in eos_ids for t in tokens], dtype=np.bool_))
    return out


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Place prompts in rows of at most ``capacity`` tokens, longest first, first row that fits.

    A prompt longer than ``capacity`` gets a row of its own.

    Examples
    --------
    >>> pack_rows([3, 6, 2, 5], capacity=8)
    [[1, 2], [3, 0]]
    """
    rows: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        n = lengths[index]
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append(index)
                room[r] -= n
                break
        else:
            rows.append([index])
            room.append(capacity - n)
    return rows


def even_rows(lengths: Sequence[int], width: int) -> list[list[int]]:
    """Pack prompts in as few rows of about ``width`` tokens as fit, filled evenly.

    The rows' capacity grows from an even share of the tokens until :func:`pack_rows` needs no
    more rows than ``width`` would, so that no row is mostly padding.

    Examples
    --------
    >>> even_rows([30, 30, 20, 10, 5, 5], 40)
    [[0, 4], [1, 5], [2, 3]]
    """
    total, longest = sum(lengths), max(lengths)
    count = len(pack_rows(lengths, max(longest, width)))
    capacity = max(longest, -(-total // count))
    while True:
        rows = pack_rows(lengths, capacity)
        if len(rows) <= count:
            return rows
        capacity += 1


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
        if depth == 0:
            chunk, logits = self._prompts(frontier)
            work = [(chunk, logits)]
        else:
            work = []
            for chunk in self._level(frontier, depth):
                tokens = [frontier[i].path[-1] for i in chunk.rows.tolist()]
                work.append(self._run(chunk, tokens, depth))
        for chunk, logits in work:
            rows = chunk.rows.tolist()
            branches = [frontier[i] for i in rows]
            for i, nxt in zip(
                rows, _candidates(logits, branches, self.settings, self.eos), strict=True
            ):
                results[i] = nxt
        self.chunks = [chunk for chunk, _ in work]
        where = torch.empty((len(frontier), 2), dtype=torch.long)
        for c, chunk in enumerate(self.chunks):
            where[chunk.rows, 0] = c
            where[chunk.rows, 1] = torch.arange(len(chunk.rows))
        self.where = where
        return [r for r in results if r is not None]

    def _prompts(self, frontier: Sequence[Branch[int]]) -> tuple[_Chunk, torch.Tensor]:
        """Run every prompt once and lay their caches out left-padded to the longest.

        Prompts are packed end to end in rows (:func:`pack_rows`), each attending to itself only
        (a block-diagonal causal mask, positions restarting at 0), so little padding is computed
        and the passes are large.
        """
        prompts = [list(self.prompts[b.prompt]) for b in frontier]
        width = max(len(p) for p in prompts)
        mask = torch.zeros((len(prompts), width), dtype=torch.long, device=self.device)
        keys: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        logits: list[torch.Tensor | None] = [None] * len(prompts)
        rows = even_rows([len(p) for p in prompts], PACK_WIDTH)
        for start in range(0, len(rows), PACK_ROWS):
            batch = rows[start : start + PACK_ROWS]
            out, places = self._run_packed([[prompts[i] for i in row] for row in batch])
            layers = cache_layers(out)
            if not keys:
                slots = width + self.settings.max_tokens
                for k, v in layers:
                    keys.append(k.new_zeros((len(prompts), k.shape[1], slots, k.shape[3])))
                    values.append(v.new_zeros((len(prompts), v.shape[1], slots, v.shape[3])))
            for r, row in enumerate(batch):
                for i, (begin, column) in zip(row, places[r], strict=True):
                    n = len(prompts[i])
                    for layer, (k, v) in enumerate(layers):
                        keys[layer][i, :, width - n : width] = k[r, :, begin : begin + n]
                        values[layer][i, :, width - n : width] = v[r, :, begin : begin + n]
                    mask[i, width - n :] = 1
                    logits[i] = out.logits[r, column]
        chunk = _Chunk(torch.arange(len(prompts)), keys, values, mask, mask.sum(-1))
        return chunk, torch.stack([x for x in logits if x is not None])

    def _run_packed(
        self, rows: Sequence[Sequence[list[int]]]
    ) -> tuple[Any, list[list[tuple[int, int]]]]:
        """Run one forward pass over rows of packed prompts.

        Returns the outputs, whose logits are kept at the union of the prompts' last positions,
        and for each prompt of each row its first position and the column of its logits.
        """
        length = max(sum(len(p) for p in row) for row in rows)
        ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        segment = torch.full((len(rows), length), -1, dtype=torch.long)
        positions = torch.zeros((len(rows), length), dtype=torch.long)
        starts: list[list[int]] = []
        for r, row in enumerate(rows):
            at = 0
            starts.append([])
            for s, prompt in enumerate(row):
                n = len(prompt)
                ids[r, at : at + n] = torch.tensor(prompt, dtype=torch.long)
                segment[r, at : at + n] = s
                positions[r, at : at + n] = torch.arange(n)
                starts[r].append(at)
                at += n
            self.positions += at
        pairs = [zip(begins, row, strict=True) for row, begins in zip(rows, starts, strict=True)]
        ends = sorted({b + len(p) - 1 for pair in pairs for b, p in pair})
        column = {e: c for c, e in enumerate(ends)}
        order = torch.arange(length)
        causal = order[None, :] <= order[:, None]
        same = segment[:, :, None] == segment[:, None, :]
        real = segment >= 0
        # Padding attends to itself only, so that no row of the mask is empty.
        allowed = (same & causal & real[:, None, :]) | torch.eye(length, dtype=torch.bool)
        with torch.inference_mode():
            out = forward(
                self.model,
                input_ids=ids.to(self.device),
                attention_mask=allowed[:, None].to(self.device),
                position_ids=positions.to(self.device),
                use_cache=True,
                keep=torch.tensor(ends, device=self.device),
            )
        places = [
            [(b, column[b + len(p) - 1]) for b, p in zip(begins, row, strict=True)]
            for row, begins in zip(rows, starts, strict=True)
        ]
        return out, places

    def _level(self, frontier: Sequence[Branch[int]], depth: int) -> list[_Chunk]:
        """Split the frontier's rows in chunks, each with the gathered cache it extends.

        Every row has the same width; a chunk holds up to ``max_rows`` rows (fewer for long
        caches), so that forward passes are large: a CPU computes a few rows at once several times
        slower per row.
        """
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

    def _run(self, chunk: _Chunk, tokens: list[int], depth: int) -> tuple[_Chunk, torch.Tensor]:
        """Run one chunk: one more token per row."""
        filled = chunk.mask.shape[1]
        ones = torch.ones((len(tokens), 1), dtype=torch.long, device=self.device)
        mask = torch.cat([chunk.mask, ones], dim=1)
        self.positions += len(tokens)
        cache = slot_cache(self.model, chunk.keys, chunk.values, filled)
        slotted = cache is not None
        if cache is None:
            keys = [k[:, :, :filled] for k in chunk.keys]
            cache = new_cache(self.model, keys, [v[:, :, :filled] for v in chunk.values])
        with torch.inference_mode():
            out = forward(
                self.model,
                input_ids=torch.tensor(tokens, dtype=torch.long, device=self.device)[:, None],
                attention_mask=mask,
                position_ids=(chunk.lengths + depth - 1)[:, None],
                cache=cache,
                use_cache=True,
            )
        if slotted:  # the buffers now hold the new positions: no copy
            keys = [layer.buffers[0] for layer in cache.layers]
            values = [layer.buffers[1] for layer in cache.layers]
        else:
            layers = cache_layers(out)
            keys, values = [k for k, _ in layers], [v for _, v in layers]
        return _Chunk(chunk.rows, keys, values, mask, chunk.lengths), out.logits[:, -1, :]
