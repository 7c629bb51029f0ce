import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phylolm_harness.core.alleles import TailDraws
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.phylogeny import infer_phylogeny
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.resample import bootstrap_distances, distance_standard_errors
from phylolm_harness.core.similarity import (
    homozygosity,
    nei_distance,
    nei_similarity,
    root_frequencies,
)
from phylolm_harness.errors import InputError

FP = "sha256:00"


def obs(model, gene, alleles, probes=None, tail=0.0, genome="g"):
    if probes is None:
        probes = (
            sum(alleles.values()) if all(isinstance(v, int) for v in alleles.values()) else None
        )
    return GeneObservation(model, genome, FP, gene, alleles, probes, tail)


def direct_similarity(observations, unbiased):
    """The formula written out with dicts and loops, as in the PhyloLM paper's code."""
    freqs = defaultdict(dict)
    sizes = {}
    for o in observations:
        total = o.probes if o.probes is not None else 1.0
        freqs[o.model][o.gene] = {a: c / total for a, c in o.alleles.items()}
        sizes[(o.model, o.gene)] = o.probes
    models = sorted(freqs)
    n = len(models)
    out = np.ones((n, n))
    for i, a in enumerate(models):
        for j, b in enumerate(models):
            if i == j:
                continue
            genes = set(freqs[a]) & set(freqs[b])
            cross = sum(
                p * freqs[b][g].get(allele, 0.0) for g in genes for allele, p in freqs[a][g].items()
            )

            def within(m, genes=genes):
                total = 0.0
                for g in genes:
                    j2 = sum(p * p for p in freqs[m][g].values())
                    size = sizes[(m, g)]
                    if unbiased and size is not None:
                        j2 = (size * j2 - 1) / (size - 1)
                    total += j2
                return total

            out[i, j] = cross / math.sqrt(within(a) * within(b))
    return np.minimum(out, 1.0)


alleles = st.sampled_from(["a", "b", "c", "d", "ee"])
counts = st.dictionaries(alleles, st.integers(1, 6), min_size=1, max_size=4)
population = st.dictionaries(st.sampled_from(["g1", "g2", "g3"]), counts, min_size=3, max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(population, min_size=2, max_size=5))
def test_matches_direct_formula_symmetric_zero_diagonal(models):
    observations = [obs(f"m{i}", g, c) for i, genes in enumerate(models) for g, c in genes.items()]
    pops = Populations.from_observations(observations)
    for estimator, unbiased in (("plugin", False), ("unbiased", True)):
        try:
            result = nei_similarity(pops, estimator)
        except InputError:
            continue  # e.g. every probe distinct: undefined, and said so
        expected = direct_similarity(observations, unbiased)
        np.testing.assert_allclose(result.similarity, expected, rtol=1e-10, atol=1e-12)
        distances = nei_distance(result.similarity)
        np.testing.assert_array_equal(distances, distances.T)
        assert np.all(np.diag(distances) == 0)
        assert np.all(distances >= 0)


@settings(max_examples=30, deadline=None)
@given(population)
def test_identical_populations_are_at_distance_zero(genes):
    observations = [obs(m, g, c) for m in ("x", "y") for g, c in genes.items()]
    pops = Populations.from_observations(observations)
    distances = nei_distance(nei_similarity(pops, "plugin").similarity)
    assert distances[0, 1] == pytest.approx(0.0, abs=1e-12)


def test_unbiased_estimator_removes_the_sampling_bias():
    """Two samples of one distribution: the plug-in distance is biased, the unbiased is not."""
    rng = np.random.default_rng(0)
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    observations = []
    for model, n in (("n8", 8), ("exact", None)):
        for g in range(400):
            if n is None:
                observations.append(
                    obs(model, f"g{g}", dict(zip("abcd", probs, strict=True)), None)
                )
            else:
                draws = rng.multinomial(n, probs)
                observations.append(
                    obs(
                        model, f"g{g}", {a: int(c) for a, c in zip("abcd", draws, strict=True) if c}
                    )
                )
    pops = Populations.from_observations(observations)
    plugin = nei_distance(nei_similarity(pops, "plugin").similarity)[0, 1]
    unbiased = nei_distance(nei_similarity(pops, "unbiased").similarity)[0, 1]
    assert plugin > 0.05  # 1 - J over N inflates the within term by ~ (1 - 0.3) / 8
    assert unbiased < 0.01


def test_homozygosity_exact_needs_no_correction():
    pops = Populations.from_observations([obs("m", "g1", {"a": 0.5, "b": 0.5}, None)])
    assert homozygosity(pops, "unbiased")[0, 0] == pytest.approx(0.5)


def test_exact_populations_with_tail_draws_are_unbiased():
    """A head computed exactly plus Poisson draws of the rest: no bias in the distance."""
    rng = np.random.default_rng(1)
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    head, tail_mass, weight = np.array([0.4, 0.3, 0.0, 0.0]), 0.3, 1 / 8
    observations = []
    for model in ("drawn", "other"):
        for g in range(600):
            counts = rng.poisson(probs[2:] / weight)
            alleles = dict(zip("ab", head[:2], strict=True))
            alleles.update({a: c * weight for a, c in zip("cd", counts, strict=True) if c})
            observations.append(
                GeneObservation(
                    model, "g", FP, f"g{g}", alleles, None,
                    draws=TailDraws(tail_mass, int(counts.sum()), weight),
                )
            )  # fmt: skip
    pops = Populations.from_observations(observations)
    unbiased = nei_similarity(pops, "unbiased")
    plugin = nei_similarity(pops, "plugin")
    j = homozygosity(pops, "unbiased")
    assert j.mean() == pytest.approx((probs**2).sum(), abs=0.005)
    assert homozygosity(pops, "plugin").mean() > (probs**2).sum() + 0.01
    assert nei_distance(unbiased.similarity)[0, 1] < 0.005
    assert nei_distance(plugin.similarity)[0, 1] > 0.02


def test_exact_probabilities_with_draws_must_add_up():
    bad = GeneObservation(
        "m", "g", FP, "g1", {"a": 0.7, "b": 0.25}, None, draws=TailDraws(0.3, 3, 0.125)
    )
    with pytest.raises(InputError, match="sampled by"):
        Populations.from_observations([bad])


def test_zero_similarity_names_the_pair():
    observations = [obs("left", "g1", {"a": 4}), obs("right", "g1", {"b": 4})]
    with pytest.raises(InputError, match="'left' and 'right' share no allele"):
        nei_similarity(Populations.from_observations(observations))


def test_models_without_common_genes_are_refused():
    observations = [obs("a", "g1", {"x": 4}), obs("b", "g2", {"x": 4})]
    with pytest.raises(InputError, match="share no gene"):
        nei_similarity(Populations.from_observations(observations))


def test_standard_errors_shrink_with_more_genes():
    rng = np.random.default_rng(1)

    def errors(n_genes):
        observations = []
        for model, probs in (("a", [0.5, 0.3, 0.2]), ("b", [0.3, 0.3, 0.4])):
            for g in range(n_genes):
                draws = rng.multinomial(32, probs)
                observations.append(
                    obs(model, f"g{g}", {k: int(c) for k, c in zip("xyz", draws, strict=True) if c})
                )
        pops = Populations.from_observations(observations)
        return distance_standard_errors(pops, 60, seed=0)[0, 1]

    small, large = errors(16), errors(256)
    assert 0 < large < small


def test_models_sharing_too_few_genes_are_refused():
    genes = [f"g{i}" for i in range(10)]
    full = [
        GeneObservation(m, "g", "sha256:0", g, {"x": 3, "y": 1}, 4) for m in "ac" for g in genes
    ]
    part = [GeneObservation("b", "g", "sha256:0", g, {"x": 2, "y": 2}, 4) for g in genes[:3]]
    pops = Populations.from_observations(full + part)
    with pytest.raises(InputError, match="'a' and 'b' share only 3 gene.s. of 10; at least 8"):
        nei_similarity(pops)
    enough = [GeneObservation("b", "g", "sha256:0", g, {"x": 2, "y": 2}, 4) for g in genes[:8]]
    result = nei_similarity(Populations.from_observations(full + enough))
    assert result.shared_genes.tolist() == [[10, 8, 10], [8, 8, 8], [10, 8, 10]]


def test_in_place_steps_by_blocks_of_rows_change_no_bit(monkeypatch):
    from support.synthetic_populations import rows

    from phylolm_harness.core import similarity
    from phylolm_harness.io.populations_file import parse_observation

    pops = Populations.from_observations(
        [parse_observation(r, "synthetic") for r in rows(23, 16, seed=4)]
    )
    whole = nei_similarity(pops)
    monkeypatch.setattr(similarity, "_ROWS", 5)
    blocks = nei_similarity(pops)
    np.testing.assert_array_equal(whole.similarity, blocks.similarity)
    np.testing.assert_array_equal(whole.shared_genes, blocks.shared_genes)
    assert whole.clipped == blocks.clipped


def test_running_spread_is_welfords_on_full_matrices():
    from phylolm_harness.core.packed import pack, unpack
    from phylolm_harness.core.resample import RunningSpread

    rng = np.random.default_rng(0)
    spread, mean, m2 = RunningSpread(7), np.zeros((7, 7)), np.zeros((7, 7))
    for count in range(1, 12):
        x = rng.random((7, 7))
        x = x + x.T
        spread.add(x)
        delta = x - mean
        mean += delta / count
        m2 += delta * (x - mean)
    np.testing.assert_array_equal(spread.standard_errors(), np.sqrt(m2 / 10))
    np.testing.assert_array_equal(unpack(pack(mean), 7), mean)


def direct_da(observations):
    """Nei's D_A written out: 1 - mean over shared genes of sum_a sqrt(p_i(a) p_j(a))."""
    freqs = defaultdict(dict)
    for o in observations:
        mass = sum(o.alleles.values())
        freqs[o.model][o.gene] = {a: c / mass for a, c in o.alleles.items()}
    models = sorted(freqs)
    out = np.zeros((len(models), len(models)))
    for i, a in enumerate(models):
        for j, b in enumerate(models):
            genes = set(freqs[a]) & set(freqs[b])
            coefficients = [
                sum(math.sqrt(p * freqs[b][g].get(x, 0.0)) for x, p in freqs[a][g].items())
                for g in genes
            ]
            out[i, j] = 0.0 if i == j else 1.0 - sum(coefficients) / len(coefficients)
    return out


partial_population = st.dictionaries(
    st.sampled_from([f"g{k}" for k in range(10)]), counts, min_size=8, max_size=10
)


@settings(max_examples=60, deadline=None)
@given(st.lists(partial_population, min_size=2, max_size=5), st.booleans())
def test_da_matches_direct_formula_on_partly_shared_genes(models, exact):
    observations = []
    for i, genes in enumerate(models):
        for g, c in genes.items():
            if exact:  # probabilities with a tail: renormalised to the mass they hold
                total = sum(c.values()) * 1.25
                observations.append(obs(f"m{i}", g, {a: v / total for a, v in c.items()}, tail=0.2))
            else:
                observations.append(obs(f"m{i}", g, c))
    pops = Populations.from_observations(observations)
    try:
        phylogeny = infer_phylogeny(pops, "nj", resamples=0, distance="da")
    except InputError:
        return  # two models sharing too few genes: refused, and said so
    expected = direct_da(observations)
    np.testing.assert_allclose(phylogeny.distances, expected, rtol=1e-9, atol=1e-12)
    assert phylogeny.distance == "da" and phylogeny.populations is pops
    assert np.all((phylogeny.distances >= 0) & (phylogeny.distances <= 1))


def test_da_bootstrap_and_supports_are_of_da():
    rng = np.random.default_rng(0)
    observations = []
    for m in range(6):
        for g in range(40):
            weights = rng.dirichlet(np.ones(4) * (0.5 + m // 2))
            observations.append(
                obs(f"m{m}", f"g{g}", dict(zip("abcd", weights.tolist(), strict=True)), tail=0)
            )
    pops = Populations.from_observations(observations)
    da = infer_phylogeny(pops, "nj", resamples=30, seed=1, distance="da")
    nei = infer_phylogeny(pops, "nj", resamples=30, seed=1)
    assert da.supports is not None and da.supports.resamples == 30
    off = ~np.eye(6, dtype=bool)
    assert np.all(np.isfinite(da.standard_errors[off])) and np.all(da.standard_errors[off] > 0)
    # the same resamples, through 1 - exp(-D): D_A's spread, not Nei's
    assert not np.allclose(da.standard_errors[off], nei.standard_errors[off])
    resampled = next(bootstrap_distances(root_frequencies(pops), 1, 1, "plugin", distance="da"))
    assert np.all((resampled >= 0) & (resampled <= 1))
