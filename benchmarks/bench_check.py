"""Benchmark: false alarms and detection power of ``phylolm-harness check`` on real lm_eval runs.

Models: the six tiny models of the tests (built locally, deterministic) and changed copies of one
of them (``code-1``): its sibling and a model of another clade served under its name, short
fine-tunes, an int8 round-trip and Gaussian weight noise of several sizes.

- **Sampled mode, false alarms.** One real ``lm_eval --tasks phylolm_genes_math`` run per
  unchanged model with ``32 x (1 + COLLECTIONS)`` probes per gene. The continuations of each gene
  are independent draws of the same sampler, so cutting them into disjoint groups of 32 gives
  ``1 + COLLECTIONS`` collections exactly as re-collecting with fresh seeds would. Group 0 is the
  baseline; every other group is checked against it (same-model test, level 0.01), and groups
  ``(i, i + 1)`` against each other; with three models at once, Holm's adjustment makes the check's
  family-wise rate the figure.
- **Sampled mode, detection.** One run per changed copy with ``32 x 50`` probes per gene on 64
  genes: the share of its 50 collections that fail the same-model test against the unchanged
  model's baseline collection, on the first 8, 16, 32 and 64 genes.
- **Sampled mode, drift and nearest-relative rules.** The same runs, through ``check``'s rules
  (``core.rules.evaluate``, level 0.01): ``--max-drift code-1=LIMIT`` on re-collections of the
  unchanged ``code-1`` (a fail is a false alarm) and on every changed copy (against the limit, a
  pass or a fail is the right answer by the copy's distance); ``--nearest code-1`` with its sibling
  ``code-2`` kept (a fail is a false alarm) and with ``code-2``'s collections served under another
  name (a pass is the dangerous answer). Pass, inconclusive and fail shares on 8 to 64 genes.
- **Exact mode.** Exact runs of the unchanged model with other batch sizes and thread counts
  (kernel-level float noise) and of every changed copy: detection is deterministic (distance above
  the tolerance or not), on the first 8 to 64 genes.

Usage::

    python benchmarks/bench_check.py --work /tmp/bench-check [--collections 200]

Writes ``benchmarks/results/check.md``. lm_eval outputs are kept in the work folder; a re-run
reuses finished runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.stats import beta

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tiny-model builders live with the tests

from phylolm_harness.core.alleles import allele_of  # noqa: E402
from phylolm_harness.core.check import (  # noqa: E402
    EXACT_TOLERANCE,
    GeneKey,
    by_gene,
    gene_terms,
    holm,
    same_model_test,
)
from phylolm_harness.core.observations import GeneObservation  # noqa: E402
from phylolm_harness.core.rules import Drift, Rules, evaluate, permutations_for  # noqa: E402
from phylolm_harness.io.samples import read_observations  # noqa: E402

LEVEL = 0.01
PROBES = 32
GENE_STEPS = (8, 16, 32, 64)
UNCHANGED = ("code-1", "math-1", "prose-1")
Change = Callable[..., object]


def lm_eval(model: Path, out: Path, task: str, genes: int, extra: Sequence[str] = (),
            threads: int = 1, batch: int = 64, model_type: str = "hf") -> float:  # fmt: skip
    """Run lm_eval once (skipped when ``out`` already holds a results file); return seconds."""
    record = out / "seconds.txt"
    if any(out.rglob("results_*.json")):
        return float(record.read_text()) if record.is_file() else 0.0
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(threads))  # fmt: skip
    command = [
        sys.executable, "-m", "lm_eval", "--model", model_type, "--model_args",
        f"pretrained={model}", "--device", "cpu", "--tasks", task, "--limit", str(genes),
        "--batch_size", str(batch), "--output_path", str(out), "--log_samples", *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"lm_eval failed for {model}:\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - start
    record.write_text(f"{seconds:.1f}\n")
    return seconds


def build_models(work: Path) -> dict[str, Path]:
    """The tiny family and the changed copies of ``code-1``."""
    from support.tiny_models import build_tiny_family

    from phylolm_harness.demo.corpus import synthetic_corpus
    from phylolm_harness.demo.relatives import (
        add_weight_noise,
        derive_folder,
        fine_tune,
        int8_round_trip,
    )

    family_dir = work / "models"
    done = family_dir / ".complete"
    family = {p.name: p for p in sorted(family_dir.glob("*-[12]"))}
    if not done.exists():
        family = build_tiny_family(family_dir, seed=0).models
        done.write_text("ok")
    base = family["code-1"]
    corpus = synthetic_corpus("code", 200, 99)
    changes: dict[str, Change] = {
        "fine-tune 5 steps": lambda m, t: fine_tune(m, t, corpus, steps=5, lr=1e-3, seed=5),
        "fine-tune 20 steps": lambda m, t: fine_tune(m, t, corpus, steps=20, lr=1e-3, seed=5),
        "int8 round-trip": lambda m, t: int8_round_trip(m),
    }
    for scale in (0.005, 0.01, 0.02, 0.05):
        changes[f"weight noise {scale:.1%}"] = lambda m, t, s=scale: add_weight_noise(m, s, seed=7)
    models = dict(family)
    for name, change in changes.items():
        folder = work / "changed" / name.replace(" ", "_").replace("%", "pct")
        if not (folder / "config.json").exists():
            derive_folder(base, folder, change)
        models[name] = folder
    models["swap: sibling code-2"] = family["code-2"]
    models["swap: other clade math-1"] = family["math-1"]
    return models


def continuations(out: Path) -> dict[GeneKey, list[str]]:
    """Gene -> the run's raw continuations, in order."""
    (samples,) = list(out.rglob("samples_phylolm_genes_math_*.jsonl"))
    genes: dict[GeneKey, list[str]] = {}
    for line in samples.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        doc = row["doc"]
        # one request per probe (a list of one continuation each), or one with every repeat
        genes[(doc["genome"], doc["fingerprint"], doc["gene"])] = [
            text for response in row["resps"] for text in response
        ]
    return genes


def collections(raw: Mapping[GeneKey, list[str]], model: str,
                count: int) -> list[dict[GeneKey, GeneObservation]]:  # fmt: skip
    """Cut every gene's continuations into ``count`` disjoint collections of PROBES."""
    return [
        _pooled({key: texts[i * PROBES : (i + 1) * PROBES] for key, texts in raw.items()}, model)
        for i in range(count)
    ]


def first_genes(
    collection: Mapping[GeneKey, GeneObservation], n: int
) -> dict[GeneKey, GeneObservation]:
    keys = sorted(collection)[:n]
    return {k: collection[k] for k in keys}


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    low = beta.ppf(0.025, k, n - k + 1) if k else 0.0
    high = beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def rate(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.2%} (95% CI {low:.2%}–{high:.2%})"


def false_alarms(work: Path, models: Mapping[str, Path], n: int, genes: int,
                 lines: list[str], timings: dict[str, float]) -> None:  # fmt: skip
    """Sampled mode, unchanged models: the false-alarm rate of the same-model test."""
    probes = PROBES * (n + 1)
    permutations = permutations_for(LEVEL, 1)
    per_model: dict[str, list[float]] = {}
    consecutive: dict[str, list[float]] = {}
    for label in UNCHANGED:
        out = work / "runs" / f"null-{label}"
        timings[f"lm_eval, {label}, {probes} probes x {genes} genes"] = lm_eval(
            models[label], out, "phylolm_genes_math", genes,
            ["--metadata", json.dumps({"probes": probes})],
        )  # fmt: skip
        groups = collections(continuations(out), label, n + 1)
        start = time.perf_counter()
        per_model[label] = [
            same_model_test(groups[0], groups[i], level=LEVEL, permutations=permutations,
                            seed=i).p_value or 1.0
            for i in range(1, n + 1)
        ]  # fmt: skip
        consecutive[label] = [
            same_model_test(groups[i], groups[i + 1], level=LEVEL, permutations=permutations,
                            seed=10_000 + i).p_value or 1.0
            for i in range(1, n)
        ]  # fmt: skip
        timings[f"{2 * n - 1} same-model tests, {label}"] = time.perf_counter() - start
    lines += [
        "## Sampled mode: false alarms of *same model* (unchanged models)",
        "",
        f"{n} re-collections of 32 probes per gene on {genes} genes of the `math` genome, each "
        f"tested at level {LEVEL} with {permutations} permutations.",
        "",
        "| model | against the baseline collection | consecutive pairs | mean p |",
        "|---|---|---|---|",
    ]
    for label in UNCHANGED:
        p, q = np.array(per_model[label]), np.array(consecutive[label])
        lines.append(
            f"| {label} | {rate(int((p < LEVEL).sum()), len(p))} | "
            f"{rate(int((q < LEVEL).sum()), len(q))} | {p.mean():.3f} |"
        )
    holm_fail = sum(min(holm([per_model[m][i] for m in UNCHANGED])) < LEVEL for i in range(n))
    pooled = np.concatenate([per_model[m] for m in UNCHANGED])
    lines += [
        "",
        f"- Pooled over the three models: {rate(int((pooled < LEVEL).sum()), len(pooled))}.",
        f"- The three models checked together (one check, Holm at {LEVEL}): "
        f"{rate(holm_fail, n)} of the checks fail.",
        "",
    ]


def detection(work: Path, models: Mapping[str, Path], n: int,
              lines: list[str], timings: dict[str, float]) -> None:  # fmt: skip
    """Sampled mode, changed copies: detection rate by number of genes."""
    genes = max(GENE_STEPS)
    probes = PROBES * n
    permutations = permutations_for(LEVEL, 1)
    base_out = work / "runs" / "base-code-1-64"
    timings["lm_eval, code-1 baseline, 64 genes"] = lm_eval(
        models["code-1"], base_out, "phylolm_genes_math", genes,
        ["--metadata", json.dumps({"probes": PROBES * 2})],
    )  # fmt: skip
    baseline, unchanged_again = collections(continuations(base_out), "code-1", 2)
    changed = [m for m in models if not m.endswith(("-1", "-2")) or m.startswith("swap")]
    lines += [
        "## Sampled mode: detection of a changed model",
        "",
        f"Share of {n} collections (32 probes per gene) of each changed copy of `code-1` that fail "
        f"the same-model test at level {LEVEL} against one baseline collection of `code-1`, by "
        "number of genes (the first G genes of the `math` genome). The distance column is the "
        f"Nei distance of the copy to `code-1` on {genes} genes (all collections pooled).",
        "",
        "| change | distance | " + " | ".join(f"G={g}" for g in GENE_STEPS) + " | genes for 80% |",
        "|---|---|" + "---|" * len(GENE_STEPS) + "---|",
    ]
    for name in ["unchanged (second collection)", *changed]:
        if name.startswith("unchanged"):
            groups = [unchanged_again]
            pooled_distance = gene_terms(baseline, unchanged_again).distance()[0]
        else:
            out = work / "runs" / ("detect-" + name.replace(" ", "_").replace(":", ""))
            timings[f"lm_eval, {name}, {probes} probes x {genes} genes"] = lm_eval(
                models[name], out, "phylolm_genes_math", genes,
                ["--metadata", json.dumps({"probes": probes})],
            )  # fmt: skip
            raw = continuations(out)
            groups = collections(raw, name, n)
            pooled_distance = gene_terms(baseline, _pooled(raw, name)).distance()[0]
        cells, needed = [], "> 64"
        for g in GENE_STEPS:
            base_g = first_genes(baseline, g)
            hits = sum(
                (same_model_test(base_g, first_genes(c, g), level=LEVEL,
                                 permutations=permutations, seed=i).p_value or 1.0) < LEVEL
                for i, c in enumerate(groups)
            )  # fmt: skip
            cells.append(f"{hits / len(groups):.0%}")
            if needed == "> 64" and hits / len(groups) >= 0.8:
                needed = str(g)
        lines.append(f"| {name} | {pooled_distance:.4f} | " + " | ".join(cells) + f" | {needed} |")
    lines.append("")


DRIFT_LIMIT = 0.05
"""The drift rule's limit: about half the distance of the smallest fine-tune measured."""


def rule_verdicts(work: Path, n: int, lines: list[str]) -> None:
    """Sampled mode: the drift and nearest-relative rules' verdicts on the runs made above."""
    runs = work / "runs"
    null = {m: collections(continuations(runs / f"null-{m}"), m, n + 1) for m in UNCHANGED}
    baseline = collections(continuations(runs / "base-code-1-64"), "code-1", 1)[0]
    Trial = Callable[[int], tuple[dict, dict, dict]]  # genes -> baseline, current, nearest
    cases: dict[str, list[Trial]] = {}
    distances: dict[str, float] = {}
    # the unchanged model against its group 0, on the genes of the false-alarm runs
    zero = null["code-1"][0]
    cases["drift, unchanged code-1"] = [
        lambda g, c=c: ({"code-1": first_genes(zero, g)}, {"code-1": first_genes(c, g)}, {})
        for c in null["code-1"][1:]
    ]  # fmt: skip
    detected = {}
    for path in sorted(runs.glob("detect-*")):
        name = path.name.removeprefix("detect-").replace("_", " ").replace("swap ", "swap: ")
        raw = continuations(path)
        detected[name] = collections(raw, name, len(next(iter(raw.values()))) // PROBES)
        pooled = _relabelled(_pooled(raw, name), "code-1")
        distances[f"drift, {name}"] = gene_terms(baseline, pooled).distance()[0]
        cases[f"drift, {name}"] = [
            lambda g, c=c: (
                {"code-1": first_genes(baseline, g)},
                {"code-1": _relabelled(first_genes(c, g), "code-1")},
                {},
            )
            for c in detected[name]
        ]
    sibling = detected["swap: sibling code-2"]

    def nearest(i: int, swapped: bool) -> Trial:
        now = {"code-1": null["code-1"][i + 1], "code-2": sibling[i],
               "math-1": null["math-1"][i + 1], "prose-1": null["prose-1"][i + 1]}  # fmt: skip
        if swapped:  # code-2's collections served as prose-1, prose-1's as code-2
            now["code-2"], now["prose-1"] = now["prose-1"], now["code-2"]

        def trial(g: int) -> tuple[dict, dict, dict]:
            current = {m: _relabelled(first_genes(c, g), m) for m, c in now.items()}
            return current, current, {"code-1": "code-2"}

        return trial

    trials = range(min(n, len(sibling)))
    cases["nearest, sibling kept"] = [nearest(i, False) for i in trials]
    cases["nearest, sibling replaced"] = [nearest(i, True) for i in trials]
    lines += [
        "## Sampled mode: drift and nearest-relative rules",
        "",
        f"`check`'s rules (level {LEVEL}, 1,000 gene resamples) on the collections above, each of "
        f"32 probes per gene, on the first G genes. Drift: `--max-drift code-1={DRIFT_LIMIT}` "
        "against one baseline collection of `code-1` (the unchanged case: its re-collections of "
        "the false-alarm section, on their genes); the distance column is the pooled distance of "
        f"the copy to `code-1` on {max(GENE_STEPS)} genes, and the right answer is a fail above "
        "the limit, a pass below it. Nearest: `--nearest code-1` with the baseline's nearest "
        "relative `code-2`, among code-1, code-2, math-1 and prose-1, re-collected (kept) or with "
        "code-2's and prose-1's collections served under each other's names (replaced). "
        "Inconclusive: the data cannot decide at the level (a check counts it as a fail unless "
        "`--inconclusive pass`). Cells: pass / inconclusive / fail.",
        "",
        "| case | distance | right answer | " + " | ".join(f"G={g}" for g in GENE_STEPS) + " |",
        "|---|---|---|" + "---|" * len(GENE_STEPS),
    ]
    for case, trial_list in cases.items():
        distance = distances.get(case)
        if case.startswith("nearest"):
            right = "fail" if "replaced" in case else "pass"
        else:
            right = "fail" if distance is not None and distance > DRIFT_LIMIT else "pass"
        rules = Rules(same_model=(), drift=(Drift("code-1", DRIFT_LIMIT),)) if case.startswith(
            "drift") else Rules(same_model=(), nearest=("code-1",))  # fmt: skip
        cells = []
        for g in GENE_STEPS:
            if g > len(zero) and (case.startswith("nearest") or "unchanged" in case):
                cells.append("–")  # the false-alarm runs have fewer genes
                continue
            tally = {"pass": 0, "inconclusive": 0, "fail": 0}
            for i, trial in enumerate(trial_list):
                base, now, near = trial(g)
                (verdict,) = evaluate(
                    dataclasses.replace(rules, seed=i), base, now, baseline_nearest=near,
                    baseline_tree=None, current_tree=None, estimator="unbiased",
                )  # fmt: skip
                tally[verdict.outcome] += 1
            cells.append(" / ".join(f"{v / len(trial_list):.0%}" for v in tally.values()))
        shown = "–" if distance is None else f"{distance:.4f}"
        lines.append(f"| {case} | {shown} | {right} | " + " | ".join(cells) + " |")
    lines.append("")


def _relabelled(
    collection: Mapping[GeneKey, GeneObservation], model: str
) -> dict[GeneKey, GeneObservation]:
    return {k: dataclasses.replace(v, model=model) for k, v in collection.items()}


def _pooled(raw: Mapping[GeneKey, list[str]], model: str) -> dict[GeneKey, GeneObservation]:
    """Count the alleles of every gene's continuations into one observation."""
    return {
        key: GeneObservation(model, *key, dict(Counter(map(allele_of, texts))), len(texts))
        for key, texts in raw.items()
    }


def exact(work: Path, models: Mapping[str, Path], lines: list[str],
          timings: dict[str, float]) -> None:  # fmt: skip
    """Exact mode: float noise of unchanged runs and the distance of every change."""
    genes = max(GENE_STEPS)
    variants = {"batch 64, 1 thread": (1, 64), "batch 1, 1 thread": (1, 1),
                "batch 16, 2 threads": (2, 16)}  # fmt: skip
    runs: dict[str, dict[GeneKey, GeneObservation]] = {}
    for name, (threads, batch) in variants.items():
        out = work / "runs" / f"exact-code-1-t{threads}-b{batch}"
        timings[f"lm_eval exact, code-1, {name}"] = lm_eval(
            models["code-1"], out, "phylolm_genes_exact_math", genes, threads=threads,
            batch=batch, model_type="phylolm-hf",
        )  # fmt: skip
        runs[name] = _without_draws(by_gene(read_observations(out).observations), "code-1")
    reference = runs["batch 64, 1 thread"]
    lines += [
        "## Exact mode: float noise against real changes",
        "",
        f"Nei distance of exact runs ({genes} genes of `math`) to `code-1` run with batch size 64 "
        f"on 1 thread; a check reads a distance above the tolerance ({EXACT_TOLERANCE:g}) as a "
        "changed model. 'genes to detect' is the smallest G of 8, 16, 32, 64 at which the "
        "distance on the first G genes exceeds the tolerance.",
        "",
        "| run | distance | largest allele probability change | genes to detect |",
        "|---|---|---|---|",
    ]
    noise = []
    for name in list(variants)[1:]:
        d = gene_terms(reference, runs[name]).distance()[0]
        noise.append(abs(d))
        lines.append(
            f"| unchanged, {name} | {d:.2g} | {_largest_change(reference, runs[name]):.2g} | – |"
        )
    changed = [m for m in models if not m.endswith(("-1", "-2")) or m.startswith("swap")]
    smallest = math.inf
    for name in changed:
        out = work / "runs" / ("exact-" + name.replace(" ", "_").replace(":", ""))
        timings[f"lm_eval exact, {name}"] = lm_eval(
            models[name], out, "phylolm_genes_exact_math", genes, model_type="phylolm-hf"
        )
        run = _without_draws(by_gene(read_observations(out).observations), name)
        d = gene_terms(reference, run).distance()[0]
        smallest = min(smallest, d)
        needed = next(
            (str(g) for g in GENE_STEPS
             if gene_terms(first_genes(reference, g), first_genes(run, g)).distance()[0]
             > EXACT_TOLERANCE),
            "> 64",
        )  # fmt: skip
        lines.append(f"| {name} | {d:.2g} | {_largest_change(reference, run):.2g} | {needed} |")
    lines += [
        "",
        f"- Largest float-noise distance {max(noise):.2g}; smallest change {smallest:.2g}: "
        f"{smallest / max(max(noise), 1e-300):.2g} times larger; tolerance {EXACT_TOLERANCE:g}.",
        "",
    ]


def _without_draws(
    run: Mapping[GeneKey, GeneObservation], model: str
) -> dict[GeneKey, GeneObservation]:
    """Exact observations as numbers: the pruned mass as one tail, its sampled draws left out
    (they are keyed per model, so they would add noise between two copies, not compare them)."""
    return {k: GeneObservation(model, *k[:3], v.alleles, None, v.tail) for k, v in run.items()}


def _largest_change(
    a: Mapping[GeneKey, GeneObservation], b: Mapping[GeneKey, GeneObservation]
) -> float:
    return max(
        abs(float(a[g].alleles.get(k, 0)) - float(b[g].alleles.get(k, 0)))
        for g in a if g in b for k in {*a[g].alleles, *b[g].alleles}
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-check"))
    parser.add_argument("--collections", type=int, default=200)
    parser.add_argument("--genes", type=int, default=32, help="genes of the false-alarm runs")
    parser.add_argument("--detect-collections", type=int, default=50)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "check.md")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    load = os.getloadavg()
    models = build_models(args.work)
    lines: list[str] = []
    timings: dict[str, float] = {}
    false_alarms(args.work, models, args.collections, args.genes, lines, timings)
    detection(args.work, models, args.detect_collections, lines, timings)
    rule_verdicts(args.work, args.collections, lines)
    exact(args.work, models, lines, timings)
    head = [
        "# `phylolm-harness check`: false alarms and detection power",
        "",
        f"- date: {time.strftime('%Y-%m-%dT%H:%M%z')}",
        f"- machine: {os.cpu_count()} cores, CPU only, torch threads 1 (lm_eval runs with "
        "OMP_NUM_THREADS=1 unless stated)",
        f"- load average at start: {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}",
        f"- command: `python benchmarks/bench_check.py --work {args.work} --collections "
        f"{args.collections} --genes {args.genes} --detect-collections {args.detect_collections}`",
        "- models: the tiny family of the tests (2-layer Llama, 64 wide, byte-level BPE of 512; "
        "built locally with seed 0) and changed copies of `code-1`; real `lm_eval` runs, "
        "temperature 0.7 (the tasks' default), 4-character alleles",
        f"- time of this pass {time.perf_counter() - started:.0f} s (lm_eval runs found in the "
        "work folder are reused; their times are those of the pass that ran them)",
        "",
    ]
    timing_lines = ["## Timings", "", "| step | seconds |", "|---|---|"] + [
        f"| {k} | {v:.1f} |" for k, v in timings.items() if v
    ]
    args.out.write_text("\n".join(head + lines + timing_lines) + "\n", encoding="utf-8")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
