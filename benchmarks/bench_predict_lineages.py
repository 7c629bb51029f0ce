"""Benchmark: predict real lm-eval scores of models with a known history, from their genes.

Grows the held-out lineages of ``benchmarks/lineage_zoo.py`` (``bal3-random-s7``: 8 leaves,
``cat10-same-s8``: 10 leaves, every edge a short fine-tune of SmolLM2-135M on code, maths or
prose text of a vocabulary of its own), adds SmolLM2-135M itself and Gemma-3-270M (registry
weights) as outgroups, saves every model as a Hugging Face folder, and runs the real ``lm_eval``
command once per model with three tasks (``benchmarks/tasks/phylolm_lineage_bench``):

* ``phylolm_genes_exact`` (``--model phylolm-hf``, 256 genes, the task's default expansion);
* ``phylolm_lineage_cloze``: 120 four-way next-line questions on held-out code, maths and prose
  documents (metric ``acc``, higher is better);
* ``phylolm_lineage_bpb``: 60 held-out documents scored whole (``bits_per_byte``, lower is
  better, unbounded).

Then ``tree`` and ``predict`` (the library calls behind the commands) predict both benchmarks
with every predictor, under leave-one-out and leave-one-family-out (families: each lineage,
SmolLM2, Gemma), beside the baselines ``predict`` reports (mean of the others, nearest relative,
regression on random questions)::

    python benchmarks/bench_predict_lineages.py --work /tmp/bench-predict-lineages

Writes ``benchmarks/results/predict_lineages.md``. A rerun in the same work folder reuses the
models and the ``lm_eval`` outputs (delete the folder to start again).
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TASKS = REPO / "benchmarks" / "tasks" / "phylolm_lineage_bench"
LINEAGES = ("bal3-random-s7", "cat10-same-s8")
BENCHMARKS = ("phylolm_lineage_cloze:acc", "phylolm_lineage_bpb:bits_per_byte")
PREDICTORS = ("auto", "paper", "kernel", "knn")


def build_models(work: Path) -> dict[str, str]:
    """Grow the lineages and save every model; return label -> family."""
    from lineage_zoo import held_out

    from phylolm_harness.demo.lineages import grow_lineage
    from phylolm_harness.demo.registry import GEMMA3, SMOLLM2, ensure_model
    from phylolm_harness.demo.relatives import load_model_folder, save_model_folder

    models = work / "models"
    families: dict[str, str] = {}
    smol = ensure_model(SMOLLM2, progress=print)
    root, tokenizer = load_model_folder(smol)
    for lineage, _ in held_out():
        if lineage.name not in LINEAGES:
            continue
        families.update(dict.fromkeys(lineage.leaves, lineage.name))
        if all((models / leaf / "config.json").is_file() for leaf in lineage.leaves):
            continue
        grow_lineage(
            lineage,
            copy.deepcopy(root),
            tokenizer,
            lambda label, model: save_model_folder(model, tokenizer, models / label),
        )
    for label, folder in (("smollm2", smol), ("gemma3", ensure_model(GEMMA3, progress=print))):
        families[label] = label
        if not (models / label).exists():
            (models / label).symlink_to(folder)
    return families


def run_lm_eval(work: Path, labels: list[str]) -> None:
    """One real ``lm_eval`` run per model with the genes and both benchmarks (skips done ones)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env["TOKENIZERS_PARALLELISM"] = "false"
    for label in labels:
        out = work / "results" / label
        if any(out.rglob("results_*.json")):
            continue
        log = work / "logs" / f"{label}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "lm_eval", "run",
            "--model", "phylolm-hf",
            "--model_args", f"pretrained={work / 'models' / label},dtype=float32",
            "--tasks", "phylolm_genes_exact,phylolm_lineage_cloze,phylolm_lineage_bpb",
            "--include_path", str(TASKS),
            "--device", "cpu", "--batch_size", "8",
            "--output_path", str(out), "--log_samples",
        ]  # fmt: skip
        start = time.perf_counter()
        with log.open("w", encoding="utf-8") as handle:
            done = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)
        if done.returncode:
            sys.exit(f"lm_eval failed on {label} (exit {done.returncode}); log: {log}")
        print(f"{label}: lm_eval {time.perf_counter() - start:.0f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-predict-lineages"))
    parser.add_argument(
        "-o", "--out", type=Path, default=REPO / "benchmarks" / "results" / "predict_lineages.md"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    families = build_models(args.work)
    grown = time.perf_counter() - start
    start = time.perf_counter()
    run_lm_eval(args.work, sorted(families))
    evaluated = time.perf_counter() - start

    from phylolm_harness import pipeline
    from phylolm_harness.prediction import predict, read_scores

    results = args.work / "results"
    families_file = args.work / "families.csv"
    with families_file.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("model", "family"), *sorted(families.items())])
    start = time.perf_counter()
    found = pipeline.tree(results, benchmarks_hint=False)
    scores = read_scores(results, BENCHMARKS, rename=found.rename)
    rows: list[tuple[str, str, str, str, int, float, float]] = []
    baselines: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
    for predictor in PREDICTORS:
        made = predict(
            found, results, BENCHMARKS, families_file=families_file, predictor=predictor,
            scores=scores,
        )  # fmt: skip
        for preds in made.predictions:
            for ev in preds.evaluations:
                rows.append(
                    (preds.benchmark, predictor, ev.chosen or "-", ev.protocol, len(ev.real),
                     ev.r, ev.mae)
                )  # fmt: skip
                baselines[(preds.benchmark, ev.protocol)] = list(ev.baselines)
                if predictor == "auto" and len(ev.choices) > 1:
                    picks = ", ".join(f"{n} in {c}" for n, c in ev.choices)
                    rows[-1] = (*rows[-1][:2], f"{picks} of {ev.n_folds} folds", *rows[-1][3:])
    predicted = time.perf_counter() - start
    real = {bench: scores.scores[bench] for bench in BENCHMARKS}
    lines = [
        "# Predicting real lm-eval scores of models with a known history",
        "",
        f"`python benchmarks/bench_predict_lineages.py` (machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; growing and saving the "
        f"models {grown:.0f} s, `lm_eval` {evaluated:.0f} s, tree and all predictions "
        f"{predicted:.0f} s; times of the run that wrote this file, 0 where reused).",
        "",
        f"- Models: {len(families)} — lineages "
        + ", ".join(f"`{n}` ({sum(f == n for f in families.values())} leaves)" for n in LINEAGES)
        + " grown from SmolLM2-135M by `benchmarks/lineage_zoo.py`, SmolLM2-135M itself and "
        "Gemma-3-270M. Families for leave-one-family-out: each lineage, SmolLM2, Gemma.",
        "- One real `lm_eval --model phylolm-hf` run per model: `phylolm_genes_exact` (256 genes) "
        "and the two benchmarks of `benchmarks/tasks/phylolm_lineage_bench` (held-out code, "
        "maths and prose documents).",
    ]
    for bench, values in real.items():
        v = np.array(list(values.values()))
        lines.append(
            f"- `{bench}`: {len(v)} models, real scores {v.min():.4f} to {v.max():.4f} "
            f"(mean {v.mean():.4f}, sd {v.std():.4f})."
        )
    lines += [
        "",
        "| benchmark | predictor | chosen | protocol | n | Pearson r | MAE |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for bench, predictor, chosen, protocol, n, r, mae in rows:
        lines.append(
            f"| {bench} | {predictor} | {chosen} | {protocol} | {n} | {r:.3f} | {mae:.4f} |"
        )
    for (bench, protocol), base in baselines.items():
        for name, r, mae in base:
            lines.append(
                f"| {bench} | baseline: {name} | – | {protocol} | – | {r:.3f} | {mae:.4f} |"
            )
    text = "\n".join(lines) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
