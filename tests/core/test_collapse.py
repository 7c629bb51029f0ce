"""Collapsed probes (one sample returned N times) are noticed, real sampled runs are not."""

import json

from support.paths import REPO

from phylolm_harness.core.collapse import collapsed_probes
from phylolm_harness.core.observations import GeneObservation

BASELINE = REPO / "tests" / "baselines" / "tiny_family.json"


def _real_observations() -> list[GeneObservation]:
    """The sampled populations of the tiny family, collected by the real lm_eval."""
    data = json.loads(BASELINE.read_text())
    return [
        GeneObservation(p["model"], p["genome"], p["fingerprint"], p["gene"], p["alleles"], 32)
        for p in data["populations"]
        if p["mode"] == "sampled"
    ]


def test_real_sampled_runs_raise_no_note() -> None:
    observations = _real_observations()
    assert len({o.model for o in observations}) >= 4
    assert collapsed_probes(observations) == []


def test_one_sample_repeated_is_noticed_for_that_model_only() -> None:
    observations = _real_observations()
    victim = observations[0].model
    copied = [
        GeneObservation(o.model, o.genome, o.fingerprint, o.gene, {max(o.alleles): 32}, 32)
        if o.model == victim
        else o
        for o in observations
    ]
    notes = collapsed_probes(copied)
    assert len(notes) == 1 and notes[0].startswith(f"{victim}: all probes gave one allele on 100%")


def test_a_few_genes_or_exact_distributions_are_not_judged() -> None:
    few = [GeneObservation("m", "g", "f", str(i), {"ab": 32}, 32) for i in range(4)]
    exact = [GeneObservation("m", "g", "f", str(i), {"ab": 1.0}, None) for i in range(40)]
    assert collapsed_probes(few) == [] and collapsed_probes(exact) == []
