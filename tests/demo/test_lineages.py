from __future__ import annotations

import pytest
import torch
from support.tiny_models import TinySpec, init_tiny_model, synthetic_corpus, train_tokenizer
from transformers import PreTrainedModel

from phylolm_harness.core.tree import from_newick, splits
from phylolm_harness.demo.corpus import own_words
from phylolm_harness.demo.lineages import (
    Lineage,
    balanced_lineage,
    caterpillar_lineage,
    exact_observations,
    grow_lineage,
)
from phylolm_harness.errors import InputError


def check_layout(lineage: Lineage) -> None:
    """Parents come first, every leaf is made once, and the true tree holds exactly the leaves."""
    made: set[str] = set()
    for edge in lineage.edges:
        assert edge.child not in made
        assert edge.change == "root" or (
            edge.parent in made and (edge.other in made or not edge.other)
        )
        made.add(edge.child)
    assert set(lineage.leaves) <= made and len(set(lineage.leaves)) == len(lineage.leaves)
    tips = [str(t.name) for t in from_newick(lineage.true_tree).tips()]
    assert sorted(tips) == sorted(lineage.leaves)


def has_clade(lineage: Lineage, clade: set[str]) -> bool:
    """Whether the true tree, read unrooted, has a branch that cuts ``clade`` off."""
    found = splits(from_newick(lineage.true_tree))
    return frozenset(clade) in found or frozenset(lineage.leaves) - clade in found


def test_balanced_lineage_layout_and_true_clades() -> None:
    lineage = balanced_lineage("b", 3, plan="alternate", seed=1)
    check_layout(lineage)
    assert len(lineage.leaves) == 8 and len(lineage.edges) == 15
    assert has_clade(lineage, {"m1.1.0", "m1.1.1"}) and has_clade(lineage, {"m0.0.0", "m0.0.1"})
    assert not has_clade(lineage, {"m0.0.0", "m0.1.0"})
    # alternate: the first child of every split is tuned on code, the second on prose
    kinds = {e.child: e.kind for e in lineage.edges}
    assert kinds["m0.1.0"] == kinds["m1.0.0"] == "code" and kinds["m0.1.1"] == "prose"


def test_copies_and_merges_join_their_sources() -> None:
    lineage = balanced_lineage("c", 2, arity=2, plan="same", seed=3, copies=1, merges=1)
    check_layout(lineage)
    assert has_clade(lineage, {"m0.0", "m0.0-int8"})
    merge = next(e for e in lineage.edges if e.change == "merge")
    assert {merge.parent, merge.other} == {"m1.0", "m1.1"}
    assert has_clade(lineage, {"m1.0", "m1.1", merge.child})


def test_caterpillar_layout() -> None:
    lineage = caterpillar_lineage("k", 5, plan="random", seed=2)
    check_layout(lineage)
    assert lineage.true_tree == "(l1,(l2,(l3,(l4,c4))));"


@pytest.mark.parametrize(
    "make",
    [
        lambda: balanced_lineage("x", 0),
        lambda: balanced_lineage("x", 2, arity=5),
        lambda: balanced_lineage("x", 1, copies=3),
        lambda: caterpillar_lineage("x", 2),
    ],
)
def test_impossible_shapes_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError):
        make()


def test_own_words_differ_by_seed_and_keep_the_style() -> None:
    assert own_words(1) == own_words(1) and own_words(1).names != own_words(2).names
    code = "".join(synthetic_corpus("code", 5, seed=0, vocabulary=7))
    assert "def " in code or "for " in code or "while " in code
    assert not any(word in code for word in ("total", "count", "result"))


def test_grow_lineage_makes_each_model_from_its_parent() -> None:
    texts = synthetic_corpus("code", 60, seed=0) + synthetic_corpus("prose", 60, seed=1)
    tokenizer = train_tokenizer(texts, vocab_size=300)
    root = init_tiny_model(tokenizer, TinySpec(vocab_size=300), seed=0)
    lineage = balanced_lineage("t", 2, steps=2, plan="alternate", seed=0, copies=1, merges=1)
    lineage = Lineage(lineage.name, lineage.edges, lineage.leaves, lineage.true_tree)
    before = {k: v.clone() for k, v in root.state_dict().items()}
    got: dict[str, dict[str, torch.Tensor]] = {}

    def collect(label: str, model: PreTrainedModel) -> None:
        got[label] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    grow_lineage(lineage, root, tokenizer, collect)
    assert list(got) == [e.child for e in lineage.edges if e.child in lineage.leaves]
    assert all(torch.equal(before[k], v) for k, v in root.state_dict().items())  # root untouched
    key = "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(got["m0.0"][key], got["m0.1"][key])
    # the int8 copy is within half a quantisation step of its source
    source, copy = got["m0.0"][key], got["m0.0-int8"][key]
    step = source.abs().amax(dim=1, keepdim=True) / 127
    assert bool(((source - copy).abs() <= step / 2 + 1e-6).all())
    merge = next(e for e in lineage.edges if e.change == "merge")
    average = (got[merge.parent][key] + got[merge.other][key]) / 2
    assert torch.allclose(got[merge.child][key], average, atol=1e-6)


@pytest.mark.slow
def test_a_small_lineage_of_real_fine_tunes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SmolLM2-135M grown into a lineage of two levels, collected exactly, through `tree`.

    The small version of ``benchmarks/bench_lineages.py``: the two clades were last tuned on
    different kinds of text and their members on the same kind, so the clades, and the int8
    copy next to its source, are there to find; the report says how tree-like the distances are.
    """
    from phylolm_harness.cli import main
    from phylolm_harness.collect.expansion import ExpansionSettings
    from phylolm_harness.demo.registry import SMOLLM2, ensure_model
    from phylolm_harness.demo.relatives import load_model_folder
    from phylolm_harness.genomes.genome import load_genome
    from phylolm_harness.io.populations_file import format_populations_file

    lineage = balanced_lineage("small", 2, steps=8, plan="same", seed=1, lr=3e-4, copies=1)
    root, tokenizer = load_model_folder(ensure_model(SMOLLM2))
    genes = [(g, gene) for g in (load_genome("math"), load_genome("code")) for gene in g.genes[:16]]
    settings = ExpansionSettings.from_mapping({"top_p": 0.9, "min_mass": 0.01, "tail_samples": 16})
    found = []

    def collect(label: str, model: PreTrainedModel) -> None:
        found.extend(exact_observations(label, model, tokenizer, genes, settings))

    with torch.random.fork_rng():
        grow_lineage(lineage, root, tokenizer, collect)
    assert sorted({o.model for o in found}) == sorted(lineage.leaves)
    populations = tmp_path / "lineage.jsonl"
    populations.write_text(format_populations_file(found), encoding="utf-8")
    out = tmp_path / "tree"
    assert main(["tree", "--populations", str(populations), "-o", str(out)]) == 0
    shown = splits(from_newick((out / "tree.nwk").read_text()))
    leaves = frozenset(lineage.leaves)
    assert any(side in shown for side in ({"m1.0", "m1.1"}, leaves - {"m1.0", "m1.1"}))
    assert any(side in shown for side in ({"m0.0", "m0.0-int8"}, leaves - {"m0.0", "m0.0-int8"}))
    report = (out / "report.md").read_text()
    assert "δ = " in report and "quartet concordance" in report
