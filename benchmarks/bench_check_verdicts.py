"""Benchmark: pass, fail and inconclusive rates of ``check``'s drift and nearest-relative rules.

Synthetic collections, not lm_eval runs (``bench_check.py`` measures the same-model test on real
runs): every gene of a model is a Dirichlet distribution over 8 alleles, a collection draws 32
probes per gene from it. The rules run as ``check`` runs them (``core.rules.evaluate``, level 0.01,
1,000 gene resamples), each case 200 times with fresh draws, on 8 to 64 genes:

- *drift, unchanged*: a model against its own baseline collection, ``--max-drift M=0.1``: it holds
  in truth, so a **fail** is a false alarm (at most the level) and a pass needs enough genes;
- *drift, changed*: the model with 70% of every gene's mass moved to other alleles (true drift 2 to
  9 times the limit 0.1): a **pass** is the dangerous answer, a green gate on a changed model;
- *drift, at the limit*: a model whose true drift (from its exact allele frequencies) is the limit
  itself: a **pass** there is the share of green gates at the edge (at most the level for an exact
  test; this one is approximate);
- *nearest, kept*: a model whose sibling is in truth its closest relative (``--nearest``): a fail is
  a false alarm;
- *nearest, changed*: the sibling replaced by an unrelated model, the baseline's relative no longer
  closest: a pass is the dangerous answer.

Usage::

    python benchmarks/bench_check_verdicts.py [--trials 200]

Writes ``benchmarks/results/check_verdicts.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.synthetic_collections import dirichlet_genes, sampled_genes  # noqa: E402

from phylolm_harness.core.rules import Drift, Rules, evaluate  # noqa: E402

GENES = (8, 16, 32, 64)


def nei(p: np.ndarray, q: np.ndarray) -> float:
    """Nei's standard distance of two models' exact allele frequencies (summed over genes)."""
    return float(-np.log((p * q).sum() / np.sqrt((p * p).sum() * (q * q).sum())))


def outcome(rules: Rules, base: dict, now: dict, nearest: dict | None = None) -> str:
    """The verdict of the one non-same-model rule of ``rules``."""
    verdicts = evaluate(
        rules, base, now, baseline_nearest=nearest or {}, baseline_tree=None,
        current_tree=None, estimator="unbiased",
    )  # fmt: skip
    (verdict,) = [v for v in verdicts if v.rule != "same model"]
    return verdict.outcome


def cases(genes: int, trial: int) -> dict[str, str]:
    """Every case once, with fresh draws."""
    rng = np.random.default_rng(10_000 * genes + trial)
    a = dirichlet_genes(trial, genes=genes)
    # true drift 0.20 to 0.9 (mean 0.42), 2 to 9 times the limit
    moved = 0.3 * a + 0.7 * dirichlet_genes(50_000 + trial, genes=genes)
    sibling = 0.8 * a + 0.2 * dirichlet_genes(60_000 + trial, genes=genes)
    stranger, other = (
        dirichlet_genes(70_000 + trial, genes=genes),
        dirichlet_genes(80_000 + trial, genes=genes),
    )
    drift = Rules(same_model=(), drift=(Drift("m", 0.1),), seed=trial)
    base = {"m": sampled_genes(a, rng, "m")}
    out = {
        "drift, unchanged": outcome(drift, base, {"m": sampled_genes(a, rng, "m")}),
        "drift, changed": outcome(drift, base, {"m": sampled_genes(moved, rng, "m")}),
    }
    near_limit = 0.7 * a + 0.3 * dirichlet_genes(55_000 + trial, genes=genes)
    edge = Rules(same_model=(), drift=(Drift("m", nei(a, near_limit)),), seed=trial)
    out["drift, at the limit"] = outcome(edge, base, {"m": sampled_genes(near_limit, rng, "m")})
    near = Rules(same_model=(), nearest=("m",), seed=trial)
    kept = {"m": a, "sib": sibling, "x": stranger, "y": other}
    now = {name: sampled_genes(p, rng, name) for name, p in kept.items()}
    out["nearest, kept"] = outcome(near, now, now, {"m": "sib"})
    swapped = {**kept, "sib": dirichlet_genes(90_000 + trial, genes=genes), "x": sibling}
    now = {name: sampled_genes(p, rng, name) for name, p in swapped.items()}
    out["nearest, changed"] = outcome(near, now, now, {"m": "sib"})
    return out


def main() -> None:
    """Run every case ``--trials`` times per number of genes; write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    start = time.time()
    tallies: dict[tuple[str, int], dict[str, int]] = {}
    for genes in GENES:
        for trial in range(args.trials):
            for case, verdict in cases(genes, trial).items():
                tally = tallies.setdefault((case, genes), {"pass": 0, "inconclusive": 0, "fail": 0})
                tally[verdict] += 1
        print(f"{genes} genes done", flush=True)
    lines = [
        "# `check`: pass, fail and inconclusive rates of the drift and nearest-relative rules",
        "",
        f"- date: {time.strftime('%Y-%m-%dT%H:%M%z')}",
        f"- machine: {platform.machine()}, Python {platform.python_version()}; one run, "
        f"{time.time() - start:.0f} s",
        f"- command: `python benchmarks/bench_check_verdicts.py --trials {args.trials}`",
        "- data: synthetic collections (see the script), 32 probes per gene, level 0.01",
        "",
        "| case | genes | pass | inconclusive | fail | the dangerous answer |",
        "|---|---:|---:|---:|---:|---|",
    ]
    danger = {
        "drift, unchanged": "fail",
        "drift, changed": "pass",
        "drift, at the limit": "pass",
        "nearest, kept": "fail",
        "nearest, changed": "pass",
    }
    for case in danger:
        for genes in GENES:
            t = tallies[(case, genes)]
            n = sum(t.values())
            share = {k: f"{v / n:.1%}" for k, v in t.items()}
            lines.append(
                f"| {case} | {genes} | {share['pass']} | {share['inconclusive']} | "
                f"{share['fail']} | {danger[case]} |"
            )
    out = REPO / "benchmarks" / "results" / "check_verdicts.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
