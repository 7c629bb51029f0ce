"""Shared fixtures: a family of tiny models whose true tree is known."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.lm_eval_runner import FAMILY_GENES, run_lm_eval
from support.tiny_models import TinyFamily, build_tiny_family


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory: pytest.TempPathFactory) -> TinyFamily:
    """Six tiny models (three clades of two) and their true tree, built once per session.

    ``tiny_family.models`` maps each label to its Hugging Face folder (loadable by lm-eval's
    ``hf`` adapter with ``pretrained=FOLDER``); ``tiny_family.true_tree`` is the unrooted true
    topology as Newick: ``((code-1,code-2),(math-1,math-2),(prose-1,prose-2));``.
    """
    out: Path = tmp_path_factory.mktemp("tiny_family")
    return build_tiny_family(out, seed=0)


@pytest.fixture(scope="session")
def family_results(tiny_family: TinyFamily, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real ``lm_eval --model hf --tasks phylolm_genes`` runs of the six tiny models (sampled)."""
    results: Path = tmp_path_factory.mktemp("results")
    for folder in tiny_family.models.values():
        run_lm_eval(
            "--model", "hf", "--model_args", f"pretrained={folder}", "--device", "cpu",
            "--tasks", "phylolm_genes", "--limit", str(FAMILY_GENES),
            "--batch_size", "64", "--output_path", str(results), "--log_samples",
        )  # fmt: skip
    return results
