"""The one place that knows which lm-eval versions the tasks run on, and how they differ.

Supported (pyproject's range, tested by ``.ci/versions.py``): lm-eval 0.4.13 and 0.5.0.dev1. The
differences the tasks meet, each handled by looking at what lm-eval offers, not at its version:

* the generation task class: ``ConfigurableTask`` in 0.4; in 0.5 ``ConfigurableTask`` is the
  abstract ``Task`` and generation lives in ``GenerateTask``;
* ``construct_requests`` returns one ``Instance`` in 0.4 and a list in 0.5 (and receives
  ``metadata=(task, doc_id, repeats)`` in 0.4, ``doc_id=`` in 0.5): the tasks let lm-eval build
  its own request and copy it (:func:`copied_request`), never unpacking lm-eval's arguments;
* the answers handed to ``process_results``: one list of responses per request in 0.4, one flat
  list of responses in 0.5 (:func:`flat_responses`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from lm_eval.api import task as _task

GenerationTask: type[Any] = getattr(_task, "GenerateTask", None) or _task.ConfigurableTask
"""lm-eval's task class for ``output_type: generate_until``, the base of the PhyloLM tasks."""

__all__ = ["GenerationTask", "copied_request", "first_request", "flat_responses"]


def first_request(built: Any) -> Any:
    """Take the one request lm-eval's ``construct_requests`` built (alone or in a list)."""
    if isinstance(built, list):
        if len(built) != 1:
            raise TypeError(f"expected lm-eval to build one request per gene, got {len(built)}")
        return built[0]
    return built


def copied_request(base: Any, **changes: Any) -> Any:
    """Copy an lm-eval request with some fields changed, answering once, with no answers yet.

    Both versions' ``Instance`` are dataclasses; ``resps`` and ``filtered_resps`` are fresh, so
    copies never share a response list.
    """
    request = dataclasses.replace(base, resps=[], filtered_resps={}, **changes)
    request.repeats = 1  # 0.4 sets it from ``metadata`` after init; 0.5 from the field
    return request


def flat_responses(results: Iterable[Any]) -> list[Any]:
    """Flatten the responses of one document: 0.4 hands one list per request, 0.5 a flat list.

    >>> flat_responses([["ab", "cd"], ["ef"]]), flat_responses(["ab", "cd", "ef"])
    (['ab', 'cd', 'ef'], ['ab', 'cd', 'ef'])
    """
    flat: list[Any] = []
    for result in results:
        if isinstance(result, str) or not isinstance(result, Sequence):
            flat.append(result)
        else:
            flat.extend(result)
    return flat
