from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from skbio import DistanceMatrix
from skbio.tree import nj
from support.tiny_models import (
    TinyFamily,
    TinySpec,
    build_tiny_model,
    init_tiny_model,
    synthetic_corpus,
    train_tokenizer,
)
from transformers import AutoModelForCausalLM, AutoTokenizer

from phylolm_harness.core.tree import from_newick, splits
from phylolm_harness.errors import InputError
from phylolm_harness.genomes.genome import load_genome


def test_synthetic_corpus_is_deterministic_and_styled() -> None:
    assert synthetic_corpus("math", 5, seed=3) == synthetic_corpus("math", 5, seed=3)
    assert synthetic_corpus("math", 5, seed=3) != synthetic_corpus("math", 5, seed=4)
    code = "".join(synthetic_corpus("code", 20, seed=0))
    prose = "".join(synthetic_corpus("prose", 20, seed=0))
    assert "def " in code or "for " in code
    assert "$" not in prose and "def " not in prose
    assert len(synthetic_corpus("prose", 7, seed=1)) == 7


def test_synthetic_corpus_rejects_unknown_kind() -> None:
    with pytest.raises(InputError, match="unknown corpus kind"):
        synthetic_corpus("poetry", 3, seed=0)  # type: ignore[arg-type]


def test_tokenizer_encodes_any_text_and_has_special_tokens() -> None:
    tok = train_tokenizer(synthetic_corpus("code", 50, seed=0), vocab_size=300)
    assert len(tok) <= 300
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<s>", "</s>", "<pad>")
    text = "Ünïcödé ∑ x² 🙂\n\tdef f():"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text


def test_tokenizer_rejects_tiny_vocabulary() -> None:
    with pytest.raises(InputError, match="vocab_size"):
        train_tokenizer(["abc"], vocab_size=100)


def test_init_is_seeded_and_small() -> None:
    tok = train_tokenizer(synthetic_corpus("prose", 30, seed=0), vocab_size=300)
    a = init_tiny_model(tok, TinySpec(), seed=1)
    b = init_tiny_model(tok, TinySpec(), seed=1)
    c = init_tiny_model(tok, TinySpec(), seed=2)
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb)
    assert not torch.equal(wa, wc)
    assert sum(p.numel() for p in a.parameters()) < 200_000


def _sha(path: Path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_build_tiny_model_saves_a_loadable_deterministic_folder(tmp_path: Path) -> None:
    texts = synthetic_corpus("code", 60, seed=0)
    first = build_tiny_model(tmp_path / "a", texts, train_steps=20, seed=5)
    second = build_tiny_model(tmp_path / "b", texts, train_steps=20, seed=5)
    assert _sha(first) == _sha(second)
    assert sum(p.stat().st_size for p in first.iterdir()) < 5_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary folders left
    model = AutoModelForCausalLM.from_pretrained(first)
    tok = AutoTokenizer.from_pretrained(first)
    ids = tok("def add(x, y):\n", return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_training_makes_outputs_less_uniform(tmp_path: Path) -> None:
    texts = synthetic_corpus("math", 60, seed=0)
    untrained = build_tiny_model(tmp_path / "u", texts, train_steps=0, seed=0)
    trained = build_tiny_model(tmp_path / "t", texts, train_steps=60, seed=0)
    entropies = []
    for folder in (untrained, trained):
        model = AutoModelForCausalLM.from_pretrained(folder)
        tok = AutoTokenizer.from_pretrained(folder)
        ids = tok(texts[0][:40], return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, -1], dim=-1)
        entropies.append(float(-(logp.exp() * logp).sum()))
    assert entropies[1] < entropies[0] - 1.0


def _next_token_distributions(folder: Path, genes: list[str]) -> np.ndarray:
    model = AutoModelForCausalLM.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    rows = []
    with torch.no_grad():
        for text in genes:
            ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"][:, -200:]
            rows.append(torch.softmax(model(input_ids=ids).logits[0, -1] / 0.7, dim=-1).numpy())
    return np.stack(rows).astype(np.float64)


def test_family_true_tree_names_the_models(tiny_family: TinyFamily) -> None:
    tips = {t.name for t in from_newick(tiny_family.true_tree).tips()}
    assert tips == set(tiny_family.models) == set(tiny_family.history)
    # the true tree's clades are the models that share an ancestor in the recorded history
    truth = splits(from_newick(tiny_family.true_tree))
    for side in truth:
        clade = min(side, tips - side, key=len)
        ancestors = {tiny_family.history[m].rsplit(" + ", 1)[0] for m in clade}
        assert len(clade) == 2 and len(ancestors) == 1, (clade, ancestors)
    assert len(truth) == 3
    for folder in tiny_family.models.values():
        assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()


def test_family_outputs_follow_the_true_tree(tiny_family: TinyFamily) -> None:
    """Nei distances of next-token distributions on the shipped genes give back the true tree."""
    genes = [g.text for name in ("math", "code") for g in load_genome(name).genes[:48]]
    labels = sorted(tiny_family.models)
    probs = {m: _next_token_distributions(tiny_family.models[m], genes) for m in labels}
    dots = np.array([[float((probs[a] * probs[b]).sum()) for b in labels] for a in labels])
    similarity = dots / np.sqrt(np.outer(np.diag(dots), np.diag(dots)))
    distances = -np.log(np.clip(similarity, 1e-12, 1.0))
    np.fill_diagonal(distances, 0.0)
    tree = nj(DistanceMatrix((distances + distances.T) / 2, ids=labels))
    truth = from_newick(tiny_family.true_tree)
    assert tree.compare_rfd(truth, proportion=False, rooted=False) == 0
    within = [distances[i, i + 1] for i in range(0, 6, 2)]
    between = [distances[i, j] for i in range(6) for j in range(6) if i // 2 != j // 2]
    assert max(within) < min(between)
