"""Synthetic populations shaped like real collections, written as a populations file.

Every gene has its own pool of 8 to 80 alleles (exact mode yields dozens to hundreds on real
models) with a skewed base distribution. Models belong to families (shared clades): a family
perturbs the base distribution strongly, each member perturbs its family's weakly. 70% of the
models are sampled (32 probes), 30% exact (alleles of probability >= 0.002, the rest as tail), and
2% cover only 70% of the genes. Run:

    python tests/support/synthetic_populations.py OUT.jsonl --models 1000 [--genes 256] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import string
from collections.abc import Iterator
from pathlib import Path

import numpy as np

PROBES = 32
EXACT_FLOOR = 0.002
FINGERPRINT = "sha256:" + "0" * 64


def rows(n_models: int, n_genes: int = 256, seed: int = 0) -> Iterator[dict[str, object]]:
    """Yield populations-file rows, model by model."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(string.ascii_letters + string.digits + " .,"))
    pool = rng.integers(8, 81, size=n_genes)
    names = [
        ["".join(w) for w in rng.choice(letters, size=(k, 4))] for k in pool
    ]  # duplicates merge into one allele, as real ones would
    base = [rng.dirichlet(np.full(k, 0.3)) for k in pool]
    n_families = max(2, int(round(np.sqrt(n_models))))
    family_noise = [
        [b * rng.lognormal(0.0, 1.0, size=b.shape) for b in base] for _ in range(n_families)
    ]
    branch_noise = [
        [[f * rng.lognormal(0.0, 0.5, size=f.shape) for f in family] for _ in range(3)]
        for family in family_noise
    ]
    for m in range(n_models):
        family = int(rng.integers(n_families))
        branch = int(rng.integers(3))
        exact = rng.random() < 0.3
        genes = np.arange(n_genes)
        if rng.random() < 0.02:
            genes = np.sort(rng.choice(n_genes, size=int(0.7 * n_genes), replace=False))
        label = f"fam{family:03d}/b{branch}/model-{m:05d}"
        for g in genes:
            p = branch_noise[family][branch][g] * rng.lognormal(0.0, 0.2, size=pool[g])
            p /= p.sum()
            row: dict[str, object] = {
                "model": label,
                "genome": "bench",
                "fingerprint": FINGERPRINT,
                "gene": f"bench-{g:04d}",
            }
            alleles: dict[str, float] = {}
            if exact:
                keep = p >= EXACT_FLOOR
                for name, value in zip(np.asarray(names[g])[keep].tolist(), p[keep], strict=True):
                    alleles[name] = alleles.get(name, 0.0) + float(value)
                row.update(mode="exact", tail=float(max(0.0, 1.0 - sum(alleles.values()))))
            else:
                counts = rng.multinomial(PROBES, p)
                for name, count in zip(names[g], counts, strict=True):
                    if count:
                        alleles[name] = alleles.get(name, 0) + int(count)
                row.update(mode="sampled", probes=PROBES)
            row["alleles"] = alleles
            yield row


def write(path: Path, n_models: int, n_genes: int = 256, seed: int = 0) -> Path:
    """Write a populations file of ``n_models`` synthetic models; return its path."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows(n_models, n_genes, seed):
            handle.write(json.dumps(row) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, args.models, args.genes, args.seed)


if __name__ == "__main__":
    main()
