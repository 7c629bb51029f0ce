"""The key/value caches of :class:`~phylolm_harness.collect.models.hf_scorer.HFScorer`.

transformers' cache layers grow by concatenation, which copies a branch's whole cache at every
level; :class:`SlotLayer` writes new positions into free slots of preallocated buffers instead.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

try:
    from transformers.cache_utils import DynamicLayer
except ImportError:  # transformers before 4.54: caches hold tensor lists, not layer objects
    DynamicLayer = object  # type: ignore[misc,assignment]  # slot_cache returns None first

__all__ = ["SlotLayer", "cache_layers", "forward", "new_cache", "slot_cache"]


def cache_layers(outputs: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Key and value tensors of every layer of the cache a forward pass returned."""
    cache = getattr(outputs, "cache", None)
    if cache is None:
        cache = outputs.past_key_values
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


def _dynamic_cache(model: Any) -> tuple[Any, list[Any] | None]:
    """Make an empty ``DynamicCache`` laid out for the model; return it and its layers, if any."""
    from transformers import DynamicCache

    try:
        cache = DynamicCache(config=model.config)
    except TypeError:
        cache = DynamicCache()
    return cache, getattr(cache, "layers", None)


def new_cache(model: Any, keys: list[torch.Tensor], values: list[torch.Tensor]) -> Any:
    """Build a transformers ``DynamicCache`` that holds the given per-layer tensors, uncopied."""
    cache, layers = _dynamic_cache(model)
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


class SlotLayer(DynamicLayer):  # type: ignore[no-untyped-call]
    """A cache layer that writes new positions into the free slots of preallocated buffers.

    transformers' own layer concatenates, which copies the whole cache of every branch at every
    level; here the only copy is the gather of each branch's parent.
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, filled: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.buffers = (keys, values)
        self.filled = filled
        self.device = keys.device
        self.keys, self.values = keys[:, :, :filled], values[:, :, :filled]
        self.is_initialized = True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new positions into the next free slots; return the filled part."""
        end = self.filled + key_states.shape[-2]
        keys, values = self.buffers
        keys[:, :, self.filled : end] = key_states
        values[:, :, self.filled : end] = value_states
        self.filled = end
        self.keys, self.values = keys[:, :, :end], values[:, :, :end]
        return self.keys, self.values


def slot_cache(
    model: Any, keys: list[torch.Tensor], values: list[torch.Tensor], filled: int
) -> Any | None:
    """Build a cache over buffers with free slots; ``None`` where the model's layers differ."""
    if keys[0].shape[2] <= filled:
        return None
    cache, layers = _dynamic_cache(model)
    if layers is None or DynamicLayer is object or len(layers) != len(keys):
        return None
    if any(type(layer) is not DynamicLayer for layer in layers):
        return None  # sliding windows and other layouts keep transformers' own layers
    cache.layers = [SlotLayer(k, v, filled) for k, v in zip(keys, values, strict=True)]
    return cache


def forward(model: Any, cache: Any = None, keep: torch.Tensor | None = None, **inputs: Any) -> Any:
    """Run the model computing logits only at the last position, or at the positions ``keep``.

    The cache goes in as ``cache`` where the model takes that name (transformers 5.24 and later),
    as ``past_key_values`` before.
    """
    if cache is not None:
        takes = inspect.signature(model.forward).parameters
        inputs["cache" if "cache" in takes else "past_key_values"] = cache
    try:
        return model(**inputs, logits_to_keep=1 if keep is None else keep)
    except TypeError:
        outputs = model(**inputs)
        outputs.logits = outputs.logits[:, -1:, :] if keep is None else outputs.logits[:, keep, :]
        return outputs
