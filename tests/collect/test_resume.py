"""Exact-mode answers go through lm-eval's ``--use_cache``, so an interrupted run resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlitedict import SqliteDict
from support.lm_eval_runner import run_lm_eval

pytestmark = pytest.mark.slow

SENTINEL = json.dumps({"alleles": {"ZZZZ": 1.0}, "tail": 0.0})


def exact_run(model: Path, out: Path, cache: Path) -> list[str]:
    run_lm_eval(
        "--model", "phylolm-hf", "--model_args", f"pretrained={model}", "--device", "cpu",
        "--tasks", "phylolm_genes_exact_math", "--limit", "4", "--batch_size", "8",
        "--use_cache", str(cache), "--output_path", str(out), "--log_samples",
    )  # fmt: skip
    (samples,) = out.rglob("samples_*.jsonl")
    return [json.loads(line)["resps"][0][0] for line in samples.read_text().splitlines()]


def test_cached_answers_are_reused(tiny_family, tmp_path):
    cache = tmp_path / "cache"
    model = tiny_family.models["math-1"]
    first = exact_run(model, tmp_path / "one", cache)
    (db_file,) = tmp_path.glob("cache_rank*.db")
    with SqliteDict(str(db_file), autocommit=True) as db:
        stored = dict(db.items())
        assert sorted(stored.values()) == sorted(first)  # every answer was cached
        victim = next(key for key, value in stored.items() if value == first[0])
        db[victim] = SENTINEL  # what a resumed run must take from the cache, not recompute
    second = exact_run(model, tmp_path / "two", cache)
    assert second == [SENTINEL, *first[1:]]
