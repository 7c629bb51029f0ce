import numpy as np
import pytest
from scipy.stats import binom
from support.synthetic_collections import ALLELES, dirichlet_genes, sampled_genes

from phylolm_harness.core.check import (
    by_gene,
    gene_terms,
    holm,
    same_model_test,
)
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.rules import Drift, Rules, evaluate
from phylolm_harness.core.similarity import nei_distance, nei_similarity

GENES = 24


def _exact(truth, model="m", wobble=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for g, p in enumerate(truth):
        q = np.abs(p * (1 + wobble * rng.standard_normal(ALLELES)))
        q = q / q.sum() * 0.9
        alleles = {f"a{i}": float(v) for i, v in enumerate(q)}
        out.append(GeneObservation(model, "math", "sha256:0", f"g{g}", alleles, None, tail=0.1))
    return by_gene(out)


def test_distance_from_terms_is_the_tree_distance():
    rng = np.random.default_rng(0)
    a = sampled_genes(dirichlet_genes(0), rng, "a")
    b = sampled_genes(dirichlet_genes(1), rng, "b")
    pops = Populations.from_observations([*a.values(), *b.values()])
    for estimator in ("unbiased", "plugin"):
        tree_distance = nei_distance(nei_similarity(pops, estimator).similarity)[0, 1]
        ours = gene_terms(a, b, estimator).distance()[0]
        assert ours == pytest.approx(tree_distance, rel=1e-12)


def test_false_alarm_rate_of_the_permutation_test_is_at_most_the_level():
    """Two collections of one model: p < 0.05 in at most 5% of 400 trials (binomial bound)."""
    rng = np.random.default_rng(1)
    truth = dirichlet_genes(2)
    p_values = [
        same_model_test(
            sampled_genes(truth, rng),
            sampled_genes(truth, rng),
            level=0.05,
            permutations=199,
            seed=i,
        ).p_value
        for i in range(400)
    ]
    rejections = sum(p < 0.05 for p in p_values)
    assert rejections <= binom.ppf(0.999, 400, 0.05)
    # ... and the p-values are spread out rather than piled at 1 (the test is not inert).
    assert 0.4 < np.mean(p_values) < 0.6


def test_permutation_test_detects_a_changed_model():
    rng = np.random.default_rng(4)
    truth = dirichlet_genes(5)
    changed = 0.6 * truth + 0.4 * dirichlet_genes(6)
    results = [
        same_model_test(
            sampled_genes(truth, rng),
            sampled_genes(changed, rng),
            level=0.01,
            permutations=499,
            seed=i,
        )
        for i in range(20)
    ]
    assert sum(r.p_value < 0.01 for r in results) >= 18
    assert all(r.distance > r.critical for r in results if r.p_value < 0.01)


def test_exact_collections_compare_within_a_tolerance():
    truth = dirichlet_genes(7)
    again = same_model_test(
        _exact(truth), _exact(truth, wobble=1e-6, seed=1), level=0.01, permutations=99, seed=0
    )
    assert again.p_value is None and again.noise == 0.0
    assert abs(again.distance) < 1e-9
    changed = same_model_test(
        _exact(truth), _exact(truth, wobble=0.2, seed=2), level=0.01, permutations=99, seed=0
    )
    assert changed.distance > changed.critical


def test_holm_matches_its_definition():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 8)).tolist()
        adjusted = holm(p)
        order = np.argsort(p)
        m = len(p)
        expected = np.maximum.accumulate([min(1, (m - k) * p[i]) for k, i in enumerate(order)])
        assert np.allclose(np.array(adjusted)[order], expected)


def _rules_fixture(seed=0):
    rng = np.random.default_rng(seed)
    truths = {
        "a": dirichlet_genes(10),
        "b": 0.85 * dirichlet_genes(10) + 0.15 * dirichlet_genes(11),
        "c": dirichlet_genes(12),
    }
    base = {m: sampled_genes(t, rng, m) for m, t in truths.items()}
    return truths, base, rng


def test_rules_pass_on_a_recollection_and_fail_on_a_swap():
    truths, base, rng = _rules_fixture()
    again = {m: sampled_genes(t, rng, m) for m, t in truths.items()}
    rules = Rules(drift=(Drift("b", 0.5, "a"),), nearest=("b",), permutations=999)
    verdicts = evaluate(
        rules, base, again, baseline_nearest={"b": "a"},
        baseline_tree=None, current_tree=None, estimator="unbiased",
    )  # fmt: skip
    assert [v.rule for v in verdicts].count("same model") == 3
    assert all(v.passed for v in verdicts), [v.explanation for v in verdicts]
    # "b" now serves model c's alleles: same-model and nearest-relative fail.
    swapped = {**again, "b": sampled_genes(truths["c"], rng, "b")}
    verdicts = evaluate(
        rules, base, swapped, baseline_nearest={"b": "a"},
        baseline_tree=None, current_tree=None, estimator="unbiased",
    )  # fmt: skip
    failed = {(v.rule, v.subject) for v in verdicts if not v.passed}
    assert ("same model", "b") in failed
    assert ("nearest relative", "b") in failed
    assert ("same model", "a") not in failed
    for v in verdicts:
        if v.p_value is not None:
            assert v.adjusted_p >= v.p_value


def _outcomes(rules, base, current, nearest=None):
    verdicts = evaluate(
        rules, base, current, baseline_nearest=nearest or {},
        baseline_tree=None, current_tree=None, estimator="unbiased",
    )  # fmt: skip
    return {(v.rule, v.subject): v.outcome for v in verdicts if v.rule != "same model"}


def _drifted(truth, share, seed):
    """A model whose alleles moved: a share of each gene's mass goes to another distribution."""
    return (1 - share) * truth + share * dirichlet_genes(seed, genes=len(truth))


def test_a_drift_rule_with_too_few_genes_is_never_green_on_a_changed_model():
    # Few genes and probes: the distance to the changed model is far above the limit in truth,
    # but too noisy to show it at the level. The rule may fail or say it cannot tell; never pass.
    outcomes = []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        truth = dirichlet_genes(200 + seed, genes=4)
        base = {"m": sampled_genes(truth, rng, "m", probes=4)}
        now = {"m": sampled_genes(_drifted(truth, 0.6, 300 + seed), rng, "m", probes=4)}
        rules = Rules(same_model=(), drift=(Drift("m", 0.05),), seed=seed)
        outcomes.append(_outcomes(rules, base, now)[("max drift", "m")])
    assert "pass" not in outcomes
    assert "inconclusive" in outcomes


def test_a_drift_rule_with_enough_data_passes_an_unchanged_model():
    rng = np.random.default_rng(5)
    truth = dirichlet_genes(6)
    base = {"m": sampled_genes(truth, rng, "m", probes=256)}
    now = {"m": sampled_genes(truth, rng, "m", probes=256)}
    rules = Rules(same_model=(), drift=(Drift("m", 0.5),))
    assert _outcomes(rules, base, now) == {("max drift", "m"): "pass"}


def test_nearest_relative_passes_only_when_the_data_show_it():
    rng = np.random.default_rng(7)
    a = dirichlet_genes(10)
    clear = {"a": a, "sib": _drifted(a, 0.1, 11), "far": dirichlet_genes(12)}
    close_call = {"a": a, "sib": _drifted(a, 0.5, 11), "twin": _drifted(a, 0.5, 13)}
    rules = Rules(same_model=(), nearest=("a",))
    for truths, expected, outcome in ((clear, "sib", "pass"), (close_call, "sib", "inconclusive")):
        current = {m: sampled_genes(t, rng, m) for m, t in truths.items()}
        result = _outcomes(rules, current, current, {"a": expected})
        assert result[("nearest relative", "a")] == outcome, (truths.keys(), result)


def test_exact_collections_decide_the_nearest_relative_without_noise():
    truths = {
        "m": dirichlet_genes(30),
        "sib": 0.9 * dirichlet_genes(30) + 0.1 * dirichlet_genes(31),
    }
    truths["twin"] = 0.85 * dirichlet_genes(30) + 0.15 * dirichlet_genes(
        32
    )  # close behind the sibling
    current = {name: _exact(t, name) for name, t in truths.items()}
    rules = Rules(same_model=(), nearest=("m",))
    assert _outcomes(rules, current, current, {"m": "sib"})[("nearest relative", "m")] == "pass"
    assert _outcomes(rules, current, current, {"m": "twin"})[("nearest relative", "m")] == "fail"


def test_a_sampled_rule_on_one_gene_is_always_inconclusive():
    """One gene resampled is always itself: no noise to speak of, so no verdict either way."""
    for seed in range(10):
        rng = np.random.default_rng(seed)
        a = dirichlet_genes(seed, genes=1)
        now = {"m": sampled_genes(_drifted(a, 0.6, seed + 99), rng, "m")}
        rules = Rules(same_model=(), drift=(Drift("m", 0.01),), seed=seed)
        assert _outcomes(rules, {"m": sampled_genes(a, rng, "m")}, now) == {
            ("max drift", "m"): "inconclusive"
        }
