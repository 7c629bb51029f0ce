from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from support.paths import REPO
from support.tiny_models import TinySpec, build_tiny_model, synthetic_corpus
from transformers import AutoModelForCausalLM, AutoTokenizer

from phylolm_harness.collect.expansion import ExpansionSettings, keep_count
from phylolm_harness.collect.models.hf import eos_token_ids, exact_alleles_hf
from phylolm_harness.core.alleles import allele_of

MULTIBYTE = [
    "Café déjà vu, naïve façade, crème brûlée.",
    "東京は日本の首都です。日本語のテキスト。",
    "Größe, Übung, schön, Straße, Äpfel.",
]
GENES = ["Let $x = 3$ and", "东京 日本語の", "Café déjà", "def f(x):\n    return"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    texts = synthetic_corpus("math", 120, 0) + synthetic_corpus("code", 60, 1) + MULTIBYTE * 30
    folder = build_tiny_model(
        tmp_path_factory.mktemp("tiny") / "model",
        texts,
        spec=TinySpec(vocab_size=320, hidden_size=48, intermediate_size=96),
        train_steps=40,
    )
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return model, tok


def _exact(model: Any, tok: Any, genes: Sequence[str], s: ExpansionSettings, **kw: Any) -> Any:
    prompts = [tok.encode(g) for g in genes]
    return exact_alleles_hf(
        model,
        prompts,
        lambda ids: tok.decode(list(ids), skip_special_tokens=True),
        s,
        eos_token_ids(model, tok),
        pad_id=tok.pad_token_id or 0,
        **kw,
    )


def _logprobs(model: Any, ids: list[int], temperature: float) -> torch.Tensor:
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0, -1]
    return torch.log_softmax(logits.double() / temperature, dim=-1)


def _reference(
    model: Any, tok: Any, gene: str, s: ExpansionSettings
) -> tuple[dict[str, float], float]:
    """Same rules, computed independently: no cache, no batching, whole sequence each time."""
    prompt = tok.encode(gene)
    eos = set(eos_token_ids(model, tok))
    alleles: dict[str, float] = {}
    tail = 0.0

    def walk(path: list[int], logp: float) -> None:
        nonlocal tail
        lp = _logprobs(model, prompt + path, s.temperature)
        values, order = torch.sort(lp, descending=True)
        kept = keep_count(values.exp().numpy(), s.top_p, s.top_k)
        tail += math.exp(logp) * (1 - float(values[:kept].exp().sum()))
        for token, value in zip(order[:kept].tolist(), values[:kept].tolist(), strict=True):
            mass = math.exp(logp + value)
            if token in eos:
                a = allele_of(tok.decode(path, skip_special_tokens=True))
                alleles[a] = alleles.get(a, 0.0) + mass
                continue
            text = tok.decode([*path, token], skip_special_tokens=True)
            stable = allele_of(text.rstrip("\ufffd"))
            if len(stable) >= 4 or len(path) + 1 == s.max_tokens:
                a = allele_of(text)
                alleles[a] = alleles.get(a, 0.0) + mass
            elif mass < s.min_mass:
                tail += mass
            else:
                walk([*path, token], logp + value)

    walk([], 0.0)
    return alleles, tail


@pytest.mark.slow
def test_full_enumeration_two_tokens_matches_exact(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    vocab = model.config.vocab_size
    s = ExpansionSettings(temperature=0.7, top_p=1.0, top_k=vocab, min_mass=0.0, max_tokens=2)
    found, _ = _exact(model, tok, GENES[:2], s)
    eos = set(eos_token_ids(model, tok))
    for gene, dist in zip(GENES[:2], found, strict=True):
        prompt = tok.encode(gene)
        first = _logprobs(model, prompt, 0.7)
        expected: dict[str, float] = {}
        for t1 in range(vocab):
            p1 = float(first[t1].exp())
            if t1 in eos:
                expected[""] = expected.get("", 0.0) + p1
                continue
            second = _logprobs(model, [*prompt, t1], 0.7).exp()
            for t2 in range(vocab):
                path = [t1] if t2 in eos else [t1, t2]
                a = allele_of(tok.decode(path, skip_special_tokens=True))
                expected[a] = expected.get(a, 0.0) + p1 * float(second[t2])
        assert sum(dist.alleles.values()) + dist.tail == pytest.approx(1.0, abs=1e-6)
        assert dist.tail == pytest.approx(0.0, abs=1e-6)
        for allele, p in expected.items():
            assert dist.alleles.get(allele, 0.0) == pytest.approx(p, abs=1e-6)


@pytest.mark.slow
def test_cached_batched_expansion_matches_uncached_reference(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    s = ExpansionSettings(0.7, top_p=0.95, top_k=20, min_mass=3e-3, max_tokens=5, tail_samples=0)
    # Small chunks force several forward passes per level and reuse of per-branch caches.
    found, positions = _exact(model, tok, GENES, s, prompt_batch=3, max_rows=7)
    assert positions < sum(len(tok.encode(g)) for g in GENES) + sum(d.queries for d in found)
    for gene, dist in zip(GENES, found, strict=True):
        alleles, tail = _reference(model, tok, gene, s)
        assert dist.tail == pytest.approx(tail, abs=1e-5)
        assert set(dist.alleles) == set(alleles)
        for allele, p in alleles.items():
            assert dist.alleles[allele] == pytest.approx(p, abs=1e-5)
        assert sum(dist.alleles.values()) + dist.tail == pytest.approx(1.0, abs=1e-6)


def test_multibyte_characters_are_whole_in_alleles(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    s = ExpansionSettings(temperature=1.0, top_p=0.99, top_k=20, min_mass=1e-3)
    found, _ = _exact(model, tok, GENES[1:3], s)
    alleles = [a for d in found for a in d.alleles]
    assert any(ord(c) > 0x2E80 for a in alleles for c in a), alleles  # CJK decoded
    for d in found:
        for a, _p in d.alleles.items():
            # Only continuations cut by the 5-token limit may end in an incomplete character.
            if a.endswith("\ufffd"):
                assert len(a.rstrip("\ufffd")) < 4


def test_logits_are_computed_only_where_a_distribution_is_needed(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    shapes: list[tuple[int, ...]] = []
    handle = model.lm_head.register_forward_hook(
        lambda _m, _i, out: shapes.append(tuple(out.shape))
    )
    try:
        _exact(model, tok, GENES, ExpansionSettings())
    finally:
        handle.remove()
    prompt_pass, *levels = shapes
    # Packed prompts: logits at the prompts' last tokens only (the union over packed rows).
    assert prompt_pass[1] <= len(GENES) < sum(len(tok.encode(g)) for g in GENES)
    assert levels and all(shape[1] == 1 for shape in levels)


@pytest.mark.slow
def test_sampled_frequencies_converge_to_exact(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    vocab = model.config.vocab_size
    s = ExpansionSettings(0.7, top_p=0.999, top_k=vocab, min_mass=1e-3, tail_samples=0)
    gene = GENES[0]
    (dist,), _ = _exact(model, tok, [gene], s)
    n = 3000
    enc = tok(gene, return_tensors="pt")
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
    with torch.inference_mode():
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=0.7,
            top_k=0,
            top_p=1.0,
            max_new_tokens=5,
            num_return_sequences=n,
            eos_token_id=eos_token_ids(model, tok),
            pad_token_id=tok.pad_token_id,
        )
    eos = set(eos_token_ids(model, tok))
    counts: Counter[str] = Counter()
    for row in out[:, enc["input_ids"].shape[1] :].tolist():
        cut = next((i for i, t in enumerate(row) if t in eos), len(row))
        counts[allele_of(tok.decode(row[:cut], skip_special_tokens=True))] += 1
    # Exact probabilities are lower bounds (pruned mass may still reach an allele) whose total
    # gap is the tail: every frequency lies within sampling error of [p, p + tail].
    for allele, p in dist.alleles.items():
        sigma = math.sqrt(max(p, 1.0 / n) * (1 - p) / n)
        assert p - 5 * sigma <= counts[allele] / n <= p + dist.tail + 5 * sigma, allele
    expanded = sum(counts[a] for a in dist.alleles) / n
    assert expanded >= sum(dist.alleles.values()) - 0.05


@pytest.mark.slow
def test_phylolm_hf_serves_requests_in_lm_eval(tmp_path: Path, tiny: tuple[Any, Any]) -> None:
    import lm_eval
    import lm_eval.models  # noqa: F401
    from lm_eval.api.registry import model_registry
    from lm_eval.tasks import TaskManager

    from phylolm_harness.genomes.genome import Gene, Genome, write_genome

    model, tok = tiny
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    genome = Genome("tiny", tuple(Gene(f"tiny-{i}", g) for i, g in enumerate(GENES)))
    write_genome(genome, tmp_path / "genome.json")
    if "phylolm-hf" not in model_registry:
        model_registry.register("phylolm-hf", target="phylolm_harness.collect.models.hf:PhyloHFLM")
    tasks = REPO / "tasks"
    manager = TaskManager(
        include_path=str(tasks), metadata={"genome": str(tmp_path / "genome.json")}
    )
    results = lm_eval.simple_evaluate(
        model="phylolm-hf",
        model_args=f"pretrained={folder}",
        device="cpu",
        tasks=["phylolm_genes_exact_math"],
        limit=4,
        log_samples=True,
        task_manager=manager,
    )
    assert results is not None
    samples = results["samples"]["phylolm_genes_exact_math"]
    assert len(samples) == 4
    for sample in samples:
        assert sample["doc"]["genome"] == "tiny" and sample["doc"]["gene"].startswith("tiny-")
        answer = json.loads(sample["filtered_resps"][0])
        assert answer == json.loads(sample["resps"][0][0])
        draws = answer["draws"]
        assert answer["tail"] == 0.0 and draws["weight"] == pytest.approx(1 / 16)
        expanded = sum(answer["alleles"].values()) - draws["count"] * draws["weight"]
        assert expanded + draws["mass"] == pytest.approx(1.0, abs=1e-6)
        assert sample["arguments"][0][1]["top_p"] == 0.9
    metrics = results["results"]["phylolm_genes_exact_math"]
    assert metrics["effective_alleles,none"] >= 1.0
    assert metrics["unexpanded_mass,none"] == 0.0
    assert 0.0 < metrics["sampled_mass,none"] < 1.0


@pytest.mark.slow
def test_tail_draws_do_not_depend_on_batching(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    s = ExpansionSettings(temperature=1.0, top_p=0.8, top_k=5, min_mass=0.02, tail_samples=16)
    one, _ = _exact(model, tok, GENES, s)
    other, _ = _exact(model, tok, GENES, s, prompt_batch=2, max_rows=3)
    assert any(d.draws and d.draws.count for d in one)
    for a, b in zip(one, other, strict=True):
        assert a.draws == b.draws or (a.draws and b.draws and a.draws.count == b.draws.count)
        assert a.alleles.keys() == b.alleles.keys()
        for allele, p in a.alleles.items():
            assert b.alleles[allele] == pytest.approx(p, abs=1e-6)


@pytest.mark.slow
def test_tail_draws_are_unbiased_against_full_enumeration(tiny: tuple[Any, Any]) -> None:
    """Two-token alleles: the mean over seeds of pruned-plus-draws estimates is the truth."""
    model, tok = tiny
    vocab = model.config.vocab_size
    full = ExpansionSettings(0.7, top_p=1.0, top_k=vocab, min_mass=0.0, max_tokens=2)
    (truth,), _ = _exact(model, tok, GENES[:1], full)
    runs = []
    for seed in range(200):
        s = ExpansionSettings(0.7, 0.7, 3, 0.05, max_tokens=2, tail_samples=8, seed=seed)
        (found,), _ = _exact(model, tok, GENES[:1], s)
        runs.append(found)
    assert np.mean([d.draws.mass for d in runs if d.draws]) > 0.2
    for allele, p in truth.alleles.items():
        values = np.array([d.alleles.get(allele, 0.0) for d in runs])
        error = max(values.std(ddof=1), np.sqrt(p / 8)) / np.sqrt(len(values))
        assert abs(values.mean() - p) <= 4.5 * error, allele
    true_j = sum(p * p for p in truth.alleles.values())
    j = np.array([sum(v * v for v in d.alleles.values()) - d.draws.self_pairs for d in runs])
    assert abs(j.mean() - true_j) <= 4.5 * j.std(ddof=1) / np.sqrt(len(j))


def test_draws_are_keyed_by_the_weights(tiny: tuple[Any, Any], tmp_path: Path) -> None:
    """The same weights loaded from another folder draw alike; changed weights draw anew."""
    from phylolm_harness.collect.models.hf import weights_key

    model, tok = tiny
    model.save_pretrained(tmp_path / "copy")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "copy", dtype=torch.float32).eval()
    assert weights_key(again) == weights_key(model)
    with torch.no_grad():
        again.model.layers[-1].mlp.down_proj.weight.mul_(1.001)
    assert weights_key(again) != weights_key(model)
