"""The real ``lm_eval`` command in exact mode agrees with heavy sampling of the same model."""

import math
from pathlib import Path

import numpy as np
import pytest
from support.lm_eval_runner import run_lm_eval

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.similarity import nei_distance, nei_similarity
from phylolm_harness.io.samples import read_observations

pytestmark = pytest.mark.slow

GENES = 8
PROBES = 256
MODEL = "code-1"
OTHER_CLADE = "math-1"
# Thresholds, from what this family (seed 0) gives on 8 code genes. Exact vs 256 samples of the
# same model: D = -0.001 before clipping (0 after). Sampling noise alone, simulated from the
# sampled frequencies, puts that D within +/-0.002 (5-95%), 0.005 at most in 1,000 draws; the
# draws that estimate the pruned branches add noise of the same order. An exact run at the wrong
# temperature (1.0 instead of 0.7) lands at D = 0.021, and the other clade at D = 1.6-1.7.
# SAME_MODEL_MAX sits at twice the worst noise and half the wrong-temperature distance;
# OTHER_CLADE_MIN at a third of the measured clade distance.
SAME_MODEL_MAX = 0.01
OTHER_CLADE_MIN = 0.5
RATIO_MIN = 50.0


EXACT = f"{MODEL} [mode=exact]"
SAMPLED = f"{MODEL} [mode=sampled]"


@pytest.fixture(scope="module")
def observations(tiny_family, tmp_path_factory) -> dict[str, list[GeneObservation]]:
    """Exact runs of two models of different clades, and a sampled run of the first one.

    All three runs go to one results folder: the two runs of the first model differ in mode
    only, so they must come out as two populations labelled by their mode.
    """
    root: Path = tmp_path_factory.mktemp("exact_runs")
    common = ("--device", "cpu", "--limit", str(GENES), "--batch_size", "256", "--log_samples")
    for label in (MODEL, OTHER_CLADE):
        run_lm_eval(
            "--model", "phylolm-hf", "--model_args", f"pretrained={tiny_family.models[label]}",
            "--tasks", "phylolm_genes_exact_code", "--output_path", str(root), *common,
        )  # fmt: skip
    run_lm_eval(
        "--model", "phylolm-hf", "--model_args", f"pretrained={tiny_family.models[MODEL]}",
        "--tasks", "phylolm_genes_code", "--metadata", f'{{"probes": {PROBES}}}',
        "--output_path", str(root), *common,
    )  # fmt: skip
    collected = read_observations(root)
    assert sorted(collected.identities) == sorted([EXACT, SAMPLED, OTHER_CLADE])
    assert collected.identities[EXACT].collection["mode"] == "exact"
    assert collected.notes == ()  # two modes are two models, not a repeated run
    out: dict[str, list[GeneObservation]] = {}
    for obs in collected.observations:
        out.setdefault(obs.model, []).append(obs)
    return out


def test_exact_distributions_and_their_sampled_tail_sum_to_one(observations):
    for label in (EXACT, OTHER_CLADE):
        found = observations[label]
        assert len(found) == GENES
        assert any(obs.draws and obs.draws.count for obs in found)
        for obs in found:
            assert obs.exact and obs.draws is not None
            assert obs.alleles, f"{label} {obs.gene}: no allele expanded"
            assert all(p > 0 for p in obs.alleles.values())
            assert obs.tail == 0
            expanded = sum(obs.alleles.values()) - obs.draws.count * obs.draws.weight
            assert math.isclose(expanded + obs.draws.mass, 1.0, abs_tol=1e-6)
    sampled = observations[SAMPLED]
    assert len(sampled) == GENES
    assert all(obs.probes == PROBES for obs in sampled)


def test_exact_and_sampled_populations_of_one_model_agree(observations):
    labels = [EXACT, SAMPLED, OTHER_CLADE]
    pops = Populations.from_observations([o for label in labels for o in observations[label]])
    distance = nei_distance(nei_similarity(pops, "unbiased").similarity)
    index = {m: i for i, m in enumerate(pops.models)}
    same_model = distance[index[EXACT], index[SAMPLED]]
    other_clade = distance[index[EXACT], index[OTHER_CLADE]]
    sampled_to_other = distance[index[SAMPLED], index[OTHER_CLADE]]
    assert same_model < SAME_MODEL_MAX
    assert other_clade > OTHER_CLADE_MIN
    assert sampled_to_other > OTHER_CLADE_MIN
    assert same_model < other_clade / RATIO_MIN
    assert np.isfinite(distance).all()
