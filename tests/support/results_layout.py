"""Write results folders in the layout lm-eval 0.4.13 uses (``--output_path DIR --log_samples``).

The end-to-end tests produce these folders with the real ``lm_eval`` command; this writer makes
small ones quickly for tests of the reader's edge cases. Its field names and nesting copy a real
run's files (``resps`` is a list holding the list of repeated continuations).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from phylolm_harness.io.mmlu import SIZES, SUBJECTS

FINGERPRINT = "sha256:" + "ab" * 32


def write_run(
    root: Path,
    model_name: str,
    continuations: Mapping[str, Sequence[str]],
    *,
    task: str = "phylolm_genes_math",
    genome: str = "math",
    fingerprint: str = FINGERPRINT,
    timestamp: str = "2026-01-01T00-00-00.000000",
    log_samples: bool = True,
    model_args: Mapping[str, object] | None = None,
    model: str = "hf",
    date: float = 0.0,
    generation_kwargs: Mapping[str, object] | None = None,
) -> Path:
    """Write one run of one model; ``continuations`` maps gene id -> repeated continuations."""
    folder = root / model_name.strip("/").replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    results = {
        "results": {task: {"alias": task}},
        "configs": {task: {"task": task, "generation_kwargs": dict(generation_kwargs or {})}},
        "versions": {task: 1.0},
        "n-samples": {task: {"original": len(continuations), "effective": len(continuations)}},
        "config": {"model": model, "model_args": {"pretrained": model_name, **(model_args or {})}},
        "model_name": model_name,
        "date": date,
    }
    path = folder / f"results_{timestamp}.json"
    path.write_text(json.dumps(results), encoding="utf-8")
    if log_samples:
        lines = []
        for doc_id, (gene, conts) in enumerate(continuations.items()):
            doc = {"genome": genome, "fingerprint": fingerprint, "gene": gene, "text": "x"}
            lines.append(
                json.dumps(
                    {
                        "doc_id": doc_id,
                        "doc": doc,
                        "resps": [list(conts)],
                        "filtered_resps": [list(conts)],
                        "filter": "keep_all",
                    }
                )
            )
        samples = folder / f"samples_{task}_{timestamp}.jsonl"
        samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_benchmark_run(
    root: Path,
    model_name: str,
    task: str,
    metric: str,
    value: object,
    timestamp: str = "2026-01-01T00-00-00.000000",
    higher_is_better: bool | None = None,
    per_question: Sequence[object] | None = None,
) -> Path:
    """Write a results file of one benchmark run (no samples), as ``lm_eval --tasks TASK`` does.

    For ``mmlu`` (lm-eval's group) every one of the 57 subjects gets ``value`` too, with its
    size in MMLU's test set, as lm-eval writes them. ``higher_is_better`` fills lm-eval's table
    of the same name for the task's metric (left out when None). ``per_question`` writes the
    samples file ``--log_samples`` writes, one question a line with its value of the metric.
    """
    folder = root / model_name.strip("/").replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    subtasks = [f"mmlu_{s}" for s in SUBJECTS] if task == "mmlu" else [task]
    size = 100 if per_question is None else len(per_question)
    sizes = {f"mmlu_{s}": SIZES[s] for s in SUBJECTS} if task == "mmlu" else {task: size}
    results = {
        "results": {
            task: {"alias": task, f"{metric},none": value},
            **{t: {"alias": t, f"{metric},none": value} for t in subtasks},
        },
        "configs": {t: {"task": t} for t in subtasks},
        "versions": {t: 1.0 for t in subtasks},
        "n-shot": {t: 0 for t in subtasks},
        "n-samples": {t: {"original": size, "effective": size} for t, size in sizes.items()},
        "config": {"model": "hf", "model_args": {"pretrained": model_name}},
        "model_name": model_name,
        "date": float(timestamp[:4]),
    }
    if higher_is_better is not None:
        results["higher_is_better"] = {task: {metric: higher_is_better}}
    if per_question is not None:
        rows = [{"doc_id": i, "filter": "none", metric: v} for i, v in enumerate(per_question)]
        (folder / f"samples_{task}_{timestamp}.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
        )
    path = folder / f"results_{timestamp}.json"
    path.write_text(json.dumps(results), encoding="utf-8")
    return path
