import numpy as np
import pytest

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.populations import Populations
from phylolm_harness.errors import InputError


def obs(model, gene, alleles, probes, genome="math", fingerprint="sha256:1", tail=0.0):
    return GeneObservation(
        model, genome, fingerprint, gene, alleles, probes, tail, source="f.jsonl"
    )


def test_frequencies_and_probes():
    pops = Populations.from_observations(
        [obs("a", "g1", {"x": 3, "y": 1}, 4), obs("b", "g1", {"x": 0.9}, None, tail=0.1)]
    )
    assert pops.models == ("a", "b")
    dense = pops.frequencies.toarray()
    assert dense.sum(axis=1) == pytest.approx([1.0, 0.9])
    assert pops.probes[0, 0] == 4 and np.isinf(pops.probes[1, 0])
    assert pops.tail[1, 0] == pytest.approx(0.1)


def test_duplicate_gene_for_a_model_is_refused():
    with pytest.raises(InputError, match="f.jsonl: model 'a' has gene 'g1'"):
        Populations.from_observations([obs("a", "g1", {"x": 1}, 1), obs("a", "g1", {"x": 1}, 1)])


def test_counts_must_match_probes():
    with pytest.raises(InputError, match="counts sum to 3 but 4 probes"):
        Populations.from_observations([obs("a", "g1", {"x": 3}, 4)])


def test_exact_mass_above_one_is_refused():
    with pytest.raises(InputError, match="exact probabilities sum"):
        Populations.from_observations([obs("a", "g1", {"x": 0.8, "y": 0.3}, None)])


@pytest.mark.parametrize(("alleles", "tail"), [({"x": 0.6}, 0.1), ({"x": 0.6, "y": 0.3}, 0.0)])
def test_exact_distribution_missing_mass_is_refused(alleles, tail):
    # a distribution whose top allele was deleted would otherwise move its distances silently
    with pytest.raises(InputError, match="f.jsonl: model 'a', gene 'g1'.*add up to 1"):
        Populations.from_observations([obs("a", "g1", alleles, None, tail=tail)])


def test_fractional_sampled_counts_are_refused():
    with pytest.raises(InputError, match="whole numbers"):
        Populations.from_observations([obs("a", "g1", {"x": 2.5, "y": 1.5}, 4)])


def test_negative_or_nan_values_are_refused():
    for bad in (-1.0, float("nan")):
        with pytest.raises(InputError, match="finite and non-negative"):
            Populations.from_observations([obs("a", "g1", {"x": bad}, None)])


def test_same_genome_name_with_other_content_is_refused():
    with pytest.raises(InputError, match="genome 'math' has 2 different contents"):
        Populations.from_observations(
            [obs("a", "g1", {"x": 1}, 1), obs("b", "g1", {"x": 1}, 1, fingerprint="sha256:2")]
        )


def test_models_on_different_genome_sets_are_refused():
    with pytest.raises(InputError, match="model 'b' was collected on genomes \\[math\\]"):
        Populations.from_observations(
            [
                obs("a", "g1", {"x": 1}, 1),
                obs("a", "c1", {"x": 1}, 1, genome="code", fingerprint="sha256:3"),
                obs("b", "g1", {"x": 1}, 1),
            ]
        )
