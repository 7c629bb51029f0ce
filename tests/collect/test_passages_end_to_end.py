"""Likelihood profiles end to end: the stock ``lm_eval`` writes and scores passages, ``lineage``
builds the tree."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.lm_eval_runner import run_lm_eval
from support.tiny_models import TinyFamily

from phylolm_harness.cli.main import main
from phylolm_harness.collect.passages import PROMPTS, SAMPLES_PER_PROMPT
from phylolm_harness.core.tree import from_newick, splits
from phylolm_harness.io.passages_file import read_passages_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scored(tiny_family: TinyFamily, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every tiny model writes passages, then scores the pooled passages, with the stock lm_eval."""
    root = tmp_path_factory.mktemp("passages")
    for folder in tiny_family.models.values():
        run_lm_eval(
            "--model", "hf", "--model_args", f"pretrained={folder}", "--device", "cpu",
            "--tasks", "phylolm_passages_write", "--seed", "7", "--batch_size", "16",
            "--output_path", str(root / "written"), "--log_samples",
        )  # fmt: skip
    assert main([*map(str, ("passages", root / "written", "-o", root / "passages.jsonl"))]) == 0
    for folder in tiny_family.models.values():
        run_lm_eval(
            "--model", "hf", "--model_args", f"pretrained={folder}", "--device", "cpu",
            "--tasks", "phylolm_passages", "--batch_size", "16",
            "--metadata", json.dumps({"passages": str(root / "passages.jsonl")}),
            "--output_path", str(root / "scored"), "--log_samples",
        )  # fmt: skip
    return root


def copy_scored(scored: Path, to: Path, model: str, edit: Callable[[str], str]) -> Path:
    """Copy the scoring runs to ``to``, with ``edit`` applied to ``model``'s samples file."""
    for source in (scored / "scored").rglob("*.json*"):
        target = to / source.relative_to(scored / "scored")
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text()
        if model in str(source) and source.name.startswith("samples_"):
            text = edit(text)
        target.write_text(text)
    return to


def test_every_model_writes_its_passages(scored: Path, tiny_family: TinyFamily) -> None:
    passages = read_passages_file(scored / "passages.jsonl")
    writers = {p.writer for p in passages}
    assert writers == set(tiny_family.models)
    per_model = len(PROMPTS) * SAMPLES_PER_PROMPT
    counts = [sum(p.writer == w for p in passages) for w in writers]
    # an empty continuation (end of text at once) is left out with a note
    assert all(per_model - 3 <= c <= per_model for c in counts)
    assert len({p.text for p in passages}) > len(passages) // 2  # sampled: the texts differ


def test_lineage_tree_recovers_the_family(scored: Path, tiny_family: TinyFamily) -> None:
    out = scored / "lineage"
    assert main(["lineage", str(scored / "scored"), "-o", str(out), "--resamples", "20"]) == 0
    assert {p.name for p in out.iterdir()} == {
        "tree.nwk", "tree.png", "distances.csv", "distance_errors.csv", "report.md"
    }  # fmt: skip
    tree = from_newick((out / "tree.nwk").read_text())
    assert splits(from_newick(tiny_family.true_tree)) <= splits(tree)
    report = (out / "report.md").read_text()
    assert "passage-resampling support" in report and "Tree-likeness" in report


def test_a_model_scored_on_other_passages_is_refused(
    scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # one passage's text differs in code-1's samples
    mixed = copy_scored(
        scored, tmp_path / "mixed", "code-1", lambda t: t.replace('"text": "', '"text": "x', 1)
    )
    assert main(["lineage", str(mixed), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "scored other passages" in err and not (tmp_path / "out").exists()


def test_a_truncated_samples_file_is_refused(
    scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the last passage's line is missing from math-2's samples
    cut = copy_scored(
        scored, tmp_path / "cut", "math-2", lambda t: "".join(t.splitlines(keepends=True)[:-1])
    )
    assert main(["lineage", str(cut), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and "math-2" in err and err.count("\n") == 1
