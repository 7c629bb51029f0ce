"""Benchmark: how ``auto`` picks its predictor at 12 to 20 scored models, and what it costs.

Synthetic, not lm_eval runs: models are points in 3 dimensions, clustered in families; the
distance between two models is their Euclidean distance. Two kinds of scores: *signal*, a
sigmoid of the first coordinate (the tree carries it), and *noise*, uniform draws unrelated to
the points (the tree carries nothing: the mean of the other models is the best one can do).
For 6 seeds and 3 sizes (3 x 4, 4 x 4 and 4 x 5 models), leave-one-out mean absolute error of
``auto`` with the one-standard-error rule at several slacks (0: plain lowest error), against the
best of ``paper``, ``kernel``, ``knn`` and the mean of the others chosen in hindsight, the
oracle no selection can beat.

Usage::

    python benchmarks/bench_predict_selection.py

Writes ``benchmarks/results/predict_selection.md``.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from core.test_predict import planted  # noqa: E402

import phylolm_harness.core.crossval as crossval  # noqa: E402
from phylolm_harness.core.predict import predict_scores  # noqa: E402

SLACKS = (0.0, 0.5, 1.0)
SIZES = ((3, 4), (4, 4), (4, 5))
SEEDS = range(6)


def oracle_and_fixed(d, labels, scores, fam):
    """Leave-one-out MAE of each fixed method, and of the mean of the others."""
    maes = {}
    for method in ("paper", "kernel", "knn"):
        p = predict_scores(d, labels, scores, fam, method, protocol="leave-one-out")
        maes[method] = p.evaluation("leave-one-out").mae
    y = np.array(list(scores.values()))
    maes["mean"] = float(np.mean(np.abs((y.sum() - y) / (len(y) - 1) - y)))
    return maes


def main() -> None:
    """Run every case; write the results file."""
    start = time.time()
    cases = []
    for seed in SEEDS:
        for families, per in SIZES:
            d, labels, y, fam = planted(n_families=families, per_family=per, seed=seed)
            noise = np.random.default_rng(seed).uniform(0, 1, len(y))
            for kind, values in (("signal", y), ("noise", noise)):
                scores = {m: float(v) for m, v in zip(labels, values, strict=True)}
                fixed = oracle_and_fixed(d, labels, scores, fam)
                auto = {}
                for slack in SLACKS:
                    crossval.SLACK = slack
                    p = predict_scores(d, labels, scores, fam, "auto", protocol="leave-one-out")
                    auto[slack] = p.evaluation("leave-one-out").mae
                cases.append((kind, families * per, seed, fixed, auto))
                print(kind, families * per, seed, fixed, auto, flush=True)
    crossval.SLACK = 1.0
    lines = [
        "# `predict --predictor auto`: choosing a predictor at 12 to 20 scored models",
        "",
        f"- date: {time.strftime('%Y-%m-%dT%H:%M%z')}",
        f"- machine: {platform.machine()}, {platform.python_version()}; one run, "
        f"{time.time() - start:.0f} s",
        "- command: `python benchmarks/bench_predict_selection.py`",
        "- data: synthetic (see the script): families of points, Euclidean distances; *signal* "
        "scores follow one coordinate, *noise* scores are unrelated to the points",
        "- figure: leave-one-out MAE of `auto` divided by the best of paper, kernel, knn and "
        "the mean of the others chosen in hindsight (1.00: as good as the oracle)",
        "",
        "| slack (standard errors) | scores | median | mean | worst | cases |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for slack in SLACKS:
        for kind in ("signal", "noise"):
            ratios = np.array(
                [auto[slack] / min(fixed.values()) for k, _, _, fixed, auto in cases if k == kind]
            )
            lines.append(
                f"| {slack:g} | {kind} | {np.median(ratios):.2f} | {ratios.mean():.2f} | "
                f"{ratios.max():.2f} | {len(ratios)} |"
            )
    lines += [
        "",
        "Per case (MAE; `auto` at each slack):",
        "",
        "| scores | models | seed | paper | kernel | knn | mean of the others | "
        + " | ".join(f"auto, slack {s:g}" for s in SLACKS)
        + " |",
        "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(SLACKS),
    ]
    for kind, n, seed, fixed, auto in cases:
        row = f"| {kind} | {n} | {seed} | " + " | ".join(
            f"{fixed[m]:.3f}" for m in ("paper", "kernel", "knn", "mean")
        )
        lines.append(row + " | " + " | ".join(f"{auto[s]:.3f}" for s in SLACKS) + " |")
    out = REPO / "benchmarks" / "results" / "predict_selection.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
