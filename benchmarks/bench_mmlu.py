"""Benchmark: predict real MMLU from real PhyloLM distances, with intervals, and plan which to run.

The demo's real models (SmolLM2-135M-Instruct and Gemma-3-270M from PyPI packages, with their
locally derived relatives) run two things through the real ``lm_eval`` command:

- the PhyloLM genes, exactly as ``phylolm-harness demo`` collects them (cached there);
- MMLU offline (``--tasks phylolm_mmlu``, zero-shot, ``--limit N`` questions per subject).

Then ``predict`` runs on the folder holding both, with the demo's true families, and this script
reports, for the default predictor (``auto``), the paper's and "predict the mean":

- Pearson r and MAE under leave-one-out and leave-one-family-out;
- the measured coverage of the 90 % split-conformal intervals;
- ``predict --plan K`` against random choices of K models: the MAE on the other models of the
  nearest-relatives predictor fitted on the K chosen ones.

Usage::

    python benchmarks/bench_mmlu.py --work /tmp/bench-mmlu --limit 5

Writes ``benchmarks/results/mmlu.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS=str(threads),
    )
    return env


def collect(work: Path, cache: Path, limit: int) -> tuple[Path, dict[str, str], dict[str, float]]:
    """Run the demo (genes) and MMLU on its models; return the results folder and families."""
    from phylolm_harness.demo.population import demo_population, family_of

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    demo = work / "demo"
    cmd = [
        sys.executable,
        "-m",
        "phylolm_harness",
        "demo",
        "-o",
        str(demo),
        "--cache-dir",
        str(cache),
    ]
    subprocess.run(cmd, check=False, env=_env(1))  # exit 1 only means a relation was missed
    seconds["genes (demo, cached after the first run)"] = time.perf_counter() - start
    population = demo_population(quick=False)
    families = {m.label: family_of(population, m) for m in population.models}
    results = work / "results"
    results.mkdir(parents=True, exist_ok=True)
    for label in families:
        genes = results / f"genes-{label}"
        shutil.rmtree(genes, ignore_errors=True)
        shutil.copytree(demo / "results" / label, genes)
        out = results / f"mmlu-{label}"
        if any(out.rglob("results_*.json")):
            continue
        start = time.perf_counter()
        folder = cache / "models" / label
        subprocess.run(
            [
                sys.executable, "-m", "lm_eval", "run", "--model", "hf",
                "--model_args", f"pretrained={folder},dtype=float32",
                "--tasks", "phylolm_mmlu", "--device", "cpu", "--batch_size", "16",
                "--limit", str(limit), "--output_path", str(out),
            ],
            check=True,
            env=_env(2),
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        seconds[f"MMLU {label}"] = time.perf_counter() - start
    return results, families, seconds


def _mae_on_rest(d: np.ndarray, y: np.ndarray, chosen: list[int]) -> float:
    from phylolm_harness.core.crossval import fit_predict

    rest = np.array([i for i in range(len(y)) if i not in chosen], dtype=np.int64)
    pred, _ = fit_predict(d, y, np.array(chosen, dtype=np.int64), rest, "knn")
    return float(np.mean(np.abs(pred - y[rest])))


def _share(x: float) -> str:
    return "n/a" if x != x else f"{x:.2f}"


def evaluate(results: Path, families: dict[str, str], out: Path, level: float) -> str:
    """Predict, and compare the plan with random choices; return the Markdown report."""
    from phylolm_harness import pipeline, prediction
    from phylolm_harness.core.plan import plan_runs

    fam_csv = out / "families.csv"
    fam_csv.write_text("model,family\n" + "".join(f"{m},{f}\n" for m, f in families.items()))
    found = pipeline.tree(results, benchmarks_hint=False)
    predicted = prediction.predict(found, results, ["mmlu"], families_file=fam_csv, level=level)
    preds = predicted.predictions[0]
    labels = list(preds.labels)
    lines = [
        "# Real MMLU predicted from real PhyloLM distances",
        "",
        f"MMLU: {predicted.definitions['mmlu']}.",
        "",
        f"| model | family | real | predicted (LOFO) | {level:.0%} interval |",
        "|---|---|---:|---:|---|",
    ]
    for i, m in enumerate(labels):
        lines.append(
            f"| {m} | {families[m]} | {preds.real[i]:.3f} | {preds.predicted[i]:.3f} | "
            f"[{preds.lower[i]:.3f}, {preds.upper[i]:.3f}] |"
        )
    lines += [
        "",
        f"| predictor | protocol | Pearson r | MAE | coverage ({level:.0%}) | mean width |",
        "|---|---|---:|---:|---:|---:|",
    ]
    y = preds.real
    for name, evals in (("auto", preds.evaluations), ("paper", predicted.references["mmlu"])):
        for ev in evals:
            lines.append(
                f"| {name} | {ev.protocol} | {ev.r:.3f} | {ev.mae:.4f} | {_share(ev.coverage)} | "
                f"{ev.width:.3f} |"
            )
    mean_loo = np.abs(y - (y.sum() - y) / (len(y) - 1)).mean()
    lines.append(f"| mean of the others | leave-one-out | | {mean_loo:.4f} | | |")
    d = np.asarray(found.phylogeny.distances)
    lines += [
        "",
        "| K | plan | MAE (plan) | MAE (random, mean of all choices) | plan better than |",
        "|---:|---|---:|---:|---:|",
    ]
    for k in range(2, len(labels) - 1):
        plan = plan_runs(d, labels, k).chosen
        chosen = [labels.index(m) for m in plan]
        ours = _mae_on_rest(d, y, chosen)
        others = [_mae_on_rest(d, y, list(c)) for c in itertools.combinations(range(len(y)), k)]
        better = float(np.mean([ours < o for o in others]))
        lines.append(
            f"| {k} | {', '.join(plan)} | {ours:.4f} | {np.mean(others):.4f} | {better:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the benchmark and write its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-mmlu"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=5, help="MMLU questions per subject")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--coverage", type=float, nargs="+", default=[0.9, 0.75])
    args = parser.parse_args()
    from phylolm_harness.io.packaged import default_cache_dir

    cache = args.cache_dir or default_cache_dir()
    args.work.mkdir(parents=True, exist_ok=True)
    results, families, seconds = collect(args.work, cache, args.limit)
    report = "\n".join(evaluate(results, families, args.work, level) for level in args.coverage)
    report += "\nTimes (s): " + json.dumps({k: round(v) for k, v in seconds.items()}) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mmlu.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
