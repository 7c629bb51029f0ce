"""Time Nei similarity: sparse matrix product vs the straightforward dict loops.

Synthetic populations: every gene has a pool of 12 alleles; each model draws N=32 probes from
its own perturbation of the gene's allele distribution. Run:

    python benchmarks/bench_similarity.py [--models 1000] [--genes 256] [--loop-models 100]
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections import defaultdict

import numpy as np

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.similarity import nei_similarity


def synthetic(n_models: int, n_genes: int, probes: int, seed: int) -> list[GeneObservation]:
    rng = np.random.default_rng(seed)
    base = rng.dirichlet(np.full(12, 0.5), size=n_genes)
    observations = []
    for m in range(n_models):
        noisy = base * rng.lognormal(0.0, 0.5, size=base.shape)
        noisy /= noisy.sum(axis=1, keepdims=True)
        for g in range(n_genes):
            draws = rng.multinomial(probes, noisy[g])
            alleles = {f"a{k:02d}": int(c) for k, c in enumerate(draws) if c}
            observations.append(
                GeneObservation(f"m{m:04d}", "bench", "sha256:0", f"g{g}", alleles, probes)
            )
    return observations


def loop_similarity(observations: list[GeneObservation]) -> dict[tuple[str, str], float]:
    """The formula as the PhyloLM reference code computes it: nested dicts, loops over pairs."""
    freqs: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for o in observations:
        freqs[o.model][o.gene] = {a: c / o.probes for a, c in o.alleles.items()}  # type: ignore[operator]
    models = sorted(freqs)
    out = {}
    for a in models:
        for b in models:
            cross = within_a = within_b = 0.0
            for gene, pa in freqs[a].items():
                pb = freqs[b][gene]
                cross += sum(p * pb.get(allele, 0.0) for allele, p in pa.items())
                within_a += sum(p * p for p in pa.values())
                within_b += sum(p * p for p in pb.values())
            out[(a, b)] = cross / math.sqrt(within_a * within_b)
    return out


def best_of(repeats: int, fn, *args):  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=256)
    parser.add_argument("--loop-models", type=int, default=100)
    args = parser.parse_args()

    big = synthetic(args.models, args.genes, 32, seed=0)
    build_s, pops = best_of(1, Populations.from_observations, big)
    sparse_s, _ = best_of(3, nei_similarity, pops, "plugin")

    small = synthetic(args.loop_models, args.genes, 32, seed=1)
    small_pops = Populations.from_observations(small)
    small_sparse_s, fast = best_of(3, nei_similarity, small_pops, "plugin")
    loop_s, slow = best_of(1, loop_similarity, small)
    index = {m: i for i, m in enumerate(small_pops.models)}
    worst = max(abs(v - fast.similarity[index[a], index[b]]) for (a, b), v in slow.items())

    print(f"machine: {platform.processor() or platform.machine()}, numpy {np.__version__}")
    print("| what | models | genes | time |")
    print("|---|---|---|---|")
    print(f"| build populations (sparse matrix) | {args.models} | {args.genes} | {build_s:.2f} s |")
    print(f"| similarity, matrix product | {args.models} | {args.genes} | {sparse_s:.2f} s |")
    print(
        f"| similarity, matrix product | {args.loop_models} | {args.genes} "
        f"| {small_sparse_s:.3f} s |"
    )
    print(f"| similarity, dict loops | {args.loop_models} | {args.genes} | {loop_s:.2f} s |")
    print(
        f"\nloop / sparse at {args.loop_models} models: {loop_s / small_sparse_s:.0f}x; "
        f"largest difference {worst:.1e}"
    )


if __name__ == "__main__":
    main()
