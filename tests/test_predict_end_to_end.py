"""Benchmark prediction from real ``lm_eval`` runs of local models, end to end.

Two lineages of tiny models grow from one ancestor trained on the genes' style, for 600 and 60
more steps on two-digit additions, so their ``phylolm_arith_mc`` accuracy differs; each has a
weight-noise relative, and the skilled lineage an int8 copy that runs only the PhyloLM task. One
real ``lm_eval`` run per model writes both the benchmark score and the PhyloLM samples; the
distances come from the package's own reader, and the int8 copy's score is predicted from them.
"""

from __future__ import annotations

import csv
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from support.lm_eval_runner import run_lm_eval
from support.paths import TEST_TASKS

from phylolm_harness import pipeline, prediction
from phylolm_harness.errors import InputError
from phylolm_harness.io.files import write_outputs
from phylolm_harness.io.populations_file import format_populations_file
from phylolm_harness.pipeline import TreeResult

BENCH = "phylolm_arith_mc:acc"
FAMILY = {"a": "A", "a-noise": "A", "a-int8": "A", "b": "B", "b-noise": "B"}

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def arith_docs(n_docs: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        "".join(f"{a} + {b} = {a + b}\n" for a, b in rng.integers(10, 100, size=(8, 2)))
        for _ in range(n_docs)
    ]


def build_models(root: Path) -> dict[str, Path]:
    import torch
    from support.tiny_models import (
        TinySpec,
        init_tiny_model,
        synthetic_corpus,
        train_tokenizer,
    )

    from phylolm_harness.demo.relatives import (
        add_weight_noise,
        fine_tune,
        int8_round_trip,
        save_model_folder,
    )

    torch.set_num_threads(1)
    text = arith_docs(400, seed=1)
    prose = synthetic_corpus("math", 150, seed=2)
    spec = TinySpec(vocab_size=300)
    tokenizer = train_tokenizer(text + prose, spec.vocab_size)
    # A common ancestor that writes the genes' style, as real families share a language: without
    # it two lineages trained apart from random weights can share no allele at all on some CPUs.
    base = fine_tune(
        init_tiny_model(tokenizer, spec, seed=0), tokenizer, prose,
        steps=200, lr=3e-3, batch_size=16, seq_len=64, seed=0,
    )  # fmt: skip
    trained = {}
    for name, seed, steps in (("a", 1, 600), ("b", 2, 60)):
        trained[name] = fine_tune(
            base, tokenizer, text + prose,
            steps=steps, lr=3e-3, batch_size=16, seq_len=64, seed=seed,
        )  # fmt: skip
    models = {
        "a": trained["a"],
        "a-noise": add_weight_noise(trained["a"], 0.05, seed=3),
        "a-int8": int8_round_trip(trained["a"]),
        "b": trained["b"],
        "b-noise": add_weight_noise(trained["b"], 0.05, seed=4),
    }
    return {n: save_model_folder(m, tokenizer, root / "models" / n) for n, m in models.items()}


def run_model(model: Path, tasks: str, genome: Path, out: Path) -> None:
    run_lm_eval(
        "--model", "hf", "--model_args", f"pretrained={model}", "--device", "cpu",
        "--include_path", str(TEST_TASKS), "--tasks", tasks,
        "--metadata", json.dumps({"genome": str(genome), "probes": 16}),
        "--batch_size", "64", "--output_path", str(out), "--log_samples",
    )  # fmt: skip


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support.tiny_models import synthetic_corpus

    from phylolm_harness.genomes.build import build_genome
    from phylolm_harness.genomes.genome import write_genome

    root = tmp_path_factory.mktemp("predict-e2e")
    models = build_models(root)
    docs = synthetic_corpus("math", 1500, seed=99)
    genome = root / "tinymath.json"
    write_genome(build_genome(((f"d{i}", t) for i, t in enumerate(docs)), "tinymath", 24), genome)
    jobs = [
        (path, "phylolm_genes_math" if name == "a-int8" else "phylolm_arith_mc,phylolm_genes_math")
        for name, path in models.items()
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda job: run_model(job[0], job[1], genome, root / "results"), jobs))
    with (root / "families.csv").open("w", encoding="utf-8") as handle:
        handle.write("model,family\n" + "".join(f"{m},{f}\n" for m, f in FAMILY.items()))
    return root


def tree_of(results: Path, tmp_path: Path, without: tuple[str, ...] = ()) -> TreeResult:
    """The tree ``phylolm-harness tree`` finds, optionally with some models' genes left out."""
    found = pipeline.tree(results, resamples=0)
    if not without:
        return found
    kept = [o for o in found.observations if o.model not in without]
    path = tmp_path / "populations.jsonl"
    path.write_text(format_populations_file(kept), encoding="utf-8")
    return pipeline.tree(None, [path], resamples=0)


def predict_into(out: Path, found: TreeResult, results: Path, benchmarks, families, predictor):
    """Predict as ``phylolm-harness predict`` does; return the report's text."""
    predicted = prediction.predict(
        found, results, benchmarks, families_file=families, predictor=predictor
    )
    files = predicted.files()
    write_outputs(out, files)
    return files["report.md"].decode()


def real_scores(results: Path) -> dict[str, float]:
    scores = {}
    for path in results.glob("*/results_*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "phylolm_arith_mc" in data["results"]:
            scores[Path(data["model_name"]).name] = data["results"]["phylolm_arith_mc"]["acc,none"]
    return scores


def test_predictions_from_real_runs(population: Path, tmp_path: Path):
    results = population / "results"
    found = tree_of(results, tmp_path)
    assert sorted(found.phylogeny.labels) == sorted(FAMILY)
    real = real_scores(results)
    assert sorted(real) == ["a", "a-noise", "b", "b-noise"]
    assert real["a"] - real["b"] > 0.05, real  # training made a difference in skill

    section = predict_into(tmp_path, found, results, [BENCH], population / "families.csv", "auto")
    with (tmp_path / "predictions.csv").open(encoding="utf-8") as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == sorted(FAMILY)
    for model, score in real.items():
        assert float(rows[model]["real"]) == pytest.approx(score, abs=1e-6)
        assert rows[model]["held_out"] == "true"
        assert rows[model]["protocol"] == "leave-one-family-out"
        assert rows[model]["family"] == FAMILY[model]
    unscored = rows["a-int8"]
    assert (unscored["real"], unscored["held_out"]) == ("", "false")
    predicted = float(unscored["predicted"])
    # the int8 copy of ``a`` is predicted from its relatives, not from the other lineage
    assert abs(predicted - real["a"]) < abs(predicted - real["b"])

    png = tmp_path / "predictions_phylolm_arith_mc_acc.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| phylolm_arith_mc:acc | auto:" in section
    assert "| phylolm_arith_mc:acc | paper (reference) | leave-one-family-out | 4 | 2 |" in section
    assert "score: phylolm_arith_mc acc,none (higher is better)" in section  # as lm_eval wrote
    # the runs logged their 300 answers: the random-questions baseline sits beside the tree
    assert (
        "| phylolm_arith_mc:acc | baseline: 100 random questions + regression | leave-one-out |"
        in section
    )

    # identical inputs give identical files
    again = tmp_path / "again"
    predict_into(again, found, results, [BENCH], population / "families.csv", "auto")
    for name in ("predictions.csv", png.name):
        assert (again / name).read_bytes() == (tmp_path / name).read_bytes()


def test_families_default_to_tree_clades(population: Path, tmp_path: Path):
    results = population / "results"
    section = predict_into(tmp_path, tree_of(results, tmp_path), results, [BENCH], None, "knn")
    assert "clades of the UPGMA tree" in section
    with (tmp_path / "predictions.csv").open(encoding="utf-8") as handle:
        families = {row["model"]: row["family"] for row in csv.DictReader(handle)}
    assert set(families.values()) <= {"clade-1", "clade-2"}


def test_bad_inputs_from_real_runs(population: Path, tmp_path: Path):
    results = population / "results"
    found = tree_of(results, tmp_path)
    fam = population / "families.csv"

    def run_predict(folder: Path, benchmarks: list[str], tree: TreeResult = found) -> str:
        return predict_into(tmp_path, tree, folder, benchmarks, fam, "auto")

    # a scored model without a population: a note, and its score is not used
    out = tmp_path / "without-b"
    section = predict_into(
        out, tree_of(results, tmp_path, without=("b",)), results, [BENCH], fam, "auto"
    )
    assert f"{BENCH}: b has a score but no genes (not in the tree): not used" in section
    with (out / "predictions.csv").open(encoding="utf-8") as handle:
        assert "b" not in {row["model"] for row in csv.DictReader(handle)}
    # a benchmark no model ran, and one only one model ran
    with pytest.raises(InputError, match="arc_challenge: scores found for no model"):
        run_predict(results, ["arc_challenge"])
    with pytest.raises(InputError, match="no results for mmlu or arc_challenge"):
        run_predict(results, [])
    single = tmp_path / "single"
    for folder in results.iterdir():
        if folder.name.endswith(("__a", "__a-int8")):
            shutil.copytree(folder, single / folder.name)
    with pytest.raises(InputError, match="only one model"):
        run_predict(single, [BENCH])
    # a duplicated run (same model, same date, another folder)
    dup = tmp_path / "dup"
    shutil.copytree(results, dup)
    (src,) = [f for f in dup.iterdir() if f.name.endswith("__b")]
    shutil.copytree(src, dup / "copy-of-b")
    with pytest.raises(InputError, match="model b has two runs of phylolm_arith_mc:acc"):
        run_predict(dup, [BENCH])
    assert not (tmp_path / "predictions.csv").exists()
