"""Shared fixtures: a family of tiny models whose true tree is known."""

from __future__ import annotations

from pathlib import Path

import pytest
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
