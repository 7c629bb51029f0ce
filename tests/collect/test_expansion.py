from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.toy_model import EOS, VOCAB, ToyScorer, decode

from phylolm_harness.collect.expansion import (
    ExpansionSettings,
    expand_alleles,
    keep_count,
    rescale_top_logprobs,
    settled_allele,
)
from phylolm_harness.core.alleles import AlleleDistribution, allele_of, parse_distribution
from phylolm_harness.errors import InputError


def brute_force(prompt: int, scorer: ToyScorer, max_tokens: int) -> dict[str, float]:
    """Enumerate every continuation, stopping where the sampled path would."""
    result: dict[str, float] = {}

    def walk(path: list[int], logp: float) -> None:
        text = decode(path)
        stable = allele_of(text.rstrip("\ufffd"))
        if path and (len(stable) >= 4 or len(path) == max_tokens):
            allele = allele_of(text)
            result[allele] = result.get(allele, 0.0) + math.exp(logp)
            return
        lp = scorer.logprobs(prompt, path)
        for token in range(len(VOCAB)):
            if token == EOS:
                allele = allele_of(text)
                result[allele] = result.get(allele, 0.0) + math.exp(logp + lp[token])
            else:
                walk([*path, token], logp + lp[token])

    walk([], 0.0)
    return result


def run(
    settings_: ExpansionSettings, n_prompts: int = 3, seed: int = 0
) -> list[AlleleDistribution]:
    scorer = ToyScorer(settings_.temperature, seed)
    return expand_alleles(n_prompts, scorer, lambda _g, path: decode(path), settings_)


def test_no_pruning_matches_brute_force_enumeration() -> None:
    full = ExpansionSettings(temperature=0.7, top_p=1.0, top_k=len(VOCAB), min_mass=0.0)
    found = run(full)
    for prompt, dist in enumerate(found):
        expected = brute_force(prompt, ToyScorer(0.7), full.max_tokens)
        assert set(dist.alleles) == set(expected)
        for allele, p in expected.items():
            assert dist.alleles[allele] == pytest.approx(p, abs=1e-9)
        assert dist.tail == pytest.approx(0.0, abs=1e-9)


def test_pruned_expansion_is_a_lower_bound_whose_gap_is_the_tail() -> None:
    pruned = ExpansionSettings(temperature=0.7, top_p=0.8, top_k=3, min_mass=1e-2)
    for prompt, dist in enumerate(run(pruned)):
        expected = brute_force(prompt, ToyScorer(0.7), pruned.max_tokens)
        for allele, p in dist.alleles.items():
            assert p <= expected[allele] + 1e-12
        missing = sum(expected.values()) - sum(dist.alleles.values())
        assert dist.tail == pytest.approx(missing, abs=1e-9)
        assert dist.tail > 0


def test_split_characters_are_decoded_whole() -> None:
    full = ExpansionSettings(temperature=1.0, top_p=1.0, top_k=len(VOCAB), min_mass=0.0)
    alleles = set().union(*(d.alleles for d in run(full)))
    # "é" made of its two byte tokens shows up as one character inside 4-character alleles.
    assert any("é" in a and len(a) == 4 for a in alleles)


@settings(max_examples=25, deadline=None)
@given(
    temperature=st.floats(0.3, 1.5),
    top_p=st.floats(0.3, 1.0),
    top_k=st.integers(1, len(VOCAB)),
    min_mass=st.floats(0.0, 0.2),
    max_tokens=st.integers(1, 5),
    seed=st.integers(0, 1000),
)
def test_alleles_plus_tail_sum_to_one(
    temperature: float, top_p: float, top_k: int, min_mass: float, max_tokens: int, seed: int
) -> None:
    s = ExpansionSettings(temperature, top_p, top_k, min_mass, max_tokens)
    for dist in run(s, n_prompts=2, seed=seed):
        assert sum(dist.alleles.values()) + dist.tail == pytest.approx(1.0, abs=1e-9)
        assert all(p > 0 for p in dist.alleles.values())
        assert all(len(a) <= 4 for a in dist.alleles)


def test_scorer_is_called_once_per_level() -> None:
    scorer = ToyScorer(0.7)
    s = ExpansionSettings(max_tokens=5)
    expand_alleles(4, scorer, lambda _g, path: decode(path), s)
    assert 1 <= scorer.calls <= 5


def test_keep_count() -> None:
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    assert keep_count(probs, 0.5, 10) == 1
    assert keep_count(probs, 0.79, 10) == 2
    assert keep_count(probs, 1.0, 10) == 4
    assert keep_count(probs, 1.0, 2) == 2
    assert keep_count(probs[:2], 0.99, 10) == 2  # candidates cover less than top_p


def test_settled_allele() -> None:
    assert settled_allele("  \n\nab") is None
    assert settled_allele("  \nabcde") == "abcd"
    assert settled_allele("\n x y") == " x y"
    assert settled_allele("abc\ufffd") is None
    assert settled_allele("abcd\ufffd") == "abcd"


def test_rescale_top_logprobs_exact_at_temperature_one_and_lower_bound_below() -> None:
    rng = np.random.default_rng(1)
    full = np.log(rng.dirichlet(np.ones(50) * 0.3))
    order = np.argsort(-full)
    top = full[order[:10]]
    assert np.allclose(rescale_top_logprobs(top, 1.0), top)
    for temperature in (0.3, 0.7):
        scaled_full = full / temperature - np.logaddexp.reduce(full / temperature)
        bound = rescale_top_logprobs(top, temperature)
        assert np.all(bound <= scaled_full[order[:10]] + 1e-12)
        assert np.exp(bound).sum() <= 1 + 1e-12
    with pytest.raises(InputError):
        rescale_top_logprobs(top, 1.5)


def test_distribution_json_round_trip() -> None:
    dist = AlleleDistribution({"x = ": 0.25, "café"[:4]: 0.5}, 0.25)
    text = dist.to_json()
    assert json.loads(text)["tail"] == 0.25
    back = parse_distribution(text)
    assert back.alleles == dist.alleles and back.tail == dist.tail
    with pytest.raises(InputError, match="gene g1"):
        parse_distribution("not json", "gene g1")


@pytest.mark.parametrize(
    "options",
    [
        {"temperature": 0},
        {"top_p": 0},
        {"top_p": 1.5},
        {"top_k": 0},
        {"min_mass": 1},
        {"max_tokens": 0},
        {"tail_samples": 0.5},
        {"tail_samples": float("nan")},
    ],
)
def test_settings_reject_bad_values(options: dict[str, float]) -> None:
    with pytest.raises(InputError):
        ExpansionSettings.from_mapping(options)


def test_settings_from_mapping_ignores_unknown_keys() -> None:
    s = ExpansionSettings.from_mapping({"until": [], "top_p": "0.9", "top_k": 5})
    assert s.top_p == 0.9 and s.top_k == 5 and s.temperature == 0.7


def _draw_runs(s: ExpansionSettings, runs: int, label: str = "m") -> list[list[AlleleDistribution]]:
    scorer = ToyScorer(s.temperature)
    return [
        expand_alleles(
            3,
            scorer,
            lambda _g, path: decode(path),
            ExpansionSettings(**{**s.__dict__, "seed": seed}),
            draws=True,
            streams=[f"{label}/{g}" for g in range(3)],
        )
        for seed in range(runs)
    ]


PRUNED_WITH_DRAWS = ExpansionSettings(
    temperature=0.9, top_p=0.6, top_k=2, min_mass=0.05, tail_samples=6.0
)


def test_tail_draws_give_unbiased_alleles_and_homozygosity() -> None:
    """Averaged over seeds, the estimates match brute-force enumeration within their noise."""
    runs = _draw_runs(PRUNED_WITH_DRAWS, 500)
    gaps = []
    for prompt in range(3):
        truth = brute_force(prompt, ToyScorer(0.9), PRUNED_WITH_DRAWS.max_tokens)
        found = [run[prompt] for run in runs]
        assert np.mean([d.draws.mass for d in found if d.draws]) > 0.2  # a real tail
        for allele, p in truth.items():
            values = np.array([d.alleles.get(allele, 0.0) for d in found])
            # Poisson draws of weight w give Var(P̂) <= w * P: the bound covers unseen alleles.
            bound = np.sqrt(p / PRUNED_WITH_DRAWS.tail_samples / len(values))
            error = max(values.std(ddof=1) / np.sqrt(len(values)), bound)
            assert abs(values.mean() - p) <= 4.5 * error + 1e-12, allele
        j = np.array(
            [
                sum(v * v for v in d.alleles.values()) - (d.draws.self_pairs if d.draws else 0)
                for d in found
            ]
        )
        true_j = sum(p * p for p in truth.values())
        assert abs(j.mean() - true_j) <= 4.5 * j.std(ddof=1) / np.sqrt(len(j))
        # Leaving the pruned mass out instead is biased: by more than the noise on some prompt.
        plain = run(PRUNED_WITH_DRAWS, n_prompts=3)[prompt]
        gaps.append(
            (true_j - sum(v * v for v in plain.alleles.values())) / j.std(ddof=1) * np.sqrt(len(j))
        )
    assert max(gaps) > 6


def test_draws_of_two_models_are_independent_and_their_cross_term_unbiased() -> None:
    a, b = _draw_runs(PRUNED_WITH_DRAWS, 300, "a"), _draw_runs(PRUNED_WITH_DRAWS, 300, "b")
    truth = brute_force(0, ToyScorer(0.9), PRUNED_WITH_DRAWS.max_tokens)
    pairs = list(zip(a, b, strict=True))
    cross = np.array(
        [sum(p * y[0].alleles.get(k, 0.0) for k, p in x[0].alleles.items()) for x, y in pairs]
    )
    true_j = sum(p * p for p in truth.values())
    assert abs(cross.mean() - true_j) <= 4.5 * cross.std(ddof=1) / np.sqrt(len(cross))
    assert any(x[0].alleles != y[0].alleles for x, y in pairs)


def test_draws_are_reproducible_from_the_seed_alone() -> None:
    first = _draw_runs(PRUNED_WITH_DRAWS, 3)
    again = _draw_runs(PRUNED_WITH_DRAWS, 3)
    assert [[d.to_json() for d in r] for r in first] == [[d.to_json() for d in r] for r in again]
    assert first[0][0].to_json() != first[1][0].to_json()


@settings(max_examples=25, deadline=None)
@given(
    top_p=st.floats(0.3, 1.0),
    top_k=st.integers(1, len(VOCAB)),
    min_mass=st.floats(0.0, 0.2),
    max_tokens=st.integers(1, 5),
    tail_samples=st.floats(1.0, 64),
    seed=st.integers(0, 1000),
)
def test_expanded_plus_sampled_mass_is_one(
    top_p: float, top_k: int, min_mass: float, max_tokens: int, tail_samples: float, seed: int
) -> None:
    s = ExpansionSettings(0.8, top_p, top_k, min_mass, max_tokens, tail_samples, seed)
    for dist in _draw_runs(s, 1)[0]:
        assert dist.draws is not None and dist.tail == 0.0
        expanded = sum(dist.alleles.values()) - dist.draws.count * dist.draws.weight
        assert expanded + dist.draws.mass == pytest.approx(1.0, abs=1e-9)
        assert parse_distribution(dist.to_json()) == AlleleDistribution(
            dist.alleles, dist.tail, 0, dist.draws
        )
