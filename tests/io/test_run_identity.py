"""Runs of one model with different settings are different populations, never merged silently."""

from __future__ import annotations

import csv
import json

from support.results_layout import write_benchmark_run, write_run

from phylolm_harness.cli import main

GENES = [f"math-{i:03d}" for i in range(4)]


def conts(words: list[str]) -> dict[str, list[str]]:
    return {g: ([*words, "beta"] * 8)[:8] for g in GENES}  # every model shares "beta"


def labels_of(out) -> list[str]:
    with (out / "distances.csv").open(encoding="utf-8") as handle:
        return next(csv.reader(handle))[1:]


def llm_in_two_dtypes(root):
    """Runs of one model, ``/m/llm``, in float32 and in bfloat16."""
    write_run(root, "/m/llm", conts(["alph", "beta"]), model_args={"dtype": "float32"})
    write_run(
        root, "/m/llm", conts(["alph", "alps"]), model_args={"dtype": "bfloat16"},
        timestamp="2026-01-02T00-00-00.000000",
    )  # fmt: skip


def test_one_model_in_two_dtypes_is_two_labelled_models(tmp_path):
    root = tmp_path / "r"
    llm_in_two_dtypes(root)
    write_run(root, "/m/other", conts(["gamm", "beta"]))
    assert main(["tree", str(root), "--resamples", "0", "-o", str(tmp_path / "o")]) == 0
    assert labels_of(tmp_path / "o") == ["llm [dtype=bfloat16]", "llm [dtype=float32]", "other"]
    report = (tmp_path / "o" / "report.md").read_text()
    assert "## Runs" in report and "| llm [dtype=bfloat16] | /m/llm | hf | sampled |" in report
    assert "was run" not in report  # not a repeated run


def test_sampled_and_exact_runs_of_one_model_are_two_models(tmp_path):
    root = tmp_path / "r"
    write_run(root, "/m/llm", conts(["alph", "beta"]))
    exact = json.dumps({"alleles": {"alph": 0.6, "beta": 0.3}, "tail": 0.1})
    write_run(
        root, "/m/llm", {g: [exact] for g in GENES}, task="phylolm_genes_exact_math",
        model="phylolm-hf", timestamp="2026-01-02T00-00-00.000000",
    )  # fmt: skip
    write_run(root, "/m/other", conts(["gamm", "beta"]))
    assert main(["tree", str(root), "--resamples", "0", "-o", str(tmp_path / "o")]) == 0
    assert labels_of(tmp_path / "o") == ["llm [mode=exact]", "llm [mode=sampled]", "other"]
    # the labels with settings can be renamed like any other
    args = ["--rename", "llm [mode=exact]=llm-x", "-o", str(tmp_path / "p")]
    assert main(["tree", str(root), "--resamples", "0", *args]) == 0
    assert labels_of(tmp_path / "p") == ["llm [mode=sampled]", "llm-x", "other"]


def test_exact_runs_with_other_expansion_settings_are_two_models(tmp_path):
    exact = json.dumps({"alleles": {"alph": 0.6, "beta": 0.3}, "tail": 0.1})
    for top_p, stamp in ((0.9, "2026-01-01T00-00-00.0"), (0.95, "2026-01-02T00-00-00.0")):
        write_run(
            tmp_path / "r", "/m/llm", {g: [exact] for g in GENES}, task="phylolm_genes_exact_math",
            generation_kwargs={"top_p": top_p, "top_k": 10, "min_mass": 0.01, "max_tokens": 5,
                               "tail_samples": 16, "seed": 0},
            timestamp=stamp,
        )  # fmt: skip
    write_run(tmp_path / "r", "/m/llm", {g: ["alph"] * 4 for g in GENES})
    assert main(["tree", str(tmp_path / "r"), "-o", str(tmp_path / "o")]) == 0
    rest = ",top_k=10,min_mass=0.01,max_tokens=5,tail_samples=16]"
    assert labels_of(tmp_path / "o") == [
        f"llm [expansion=top_p=0.9{rest[:-1]}, mode=exact]",
        f"llm [expansion=top_p=0.95{rest[:-1]}, mode=exact]",
        "llm [mode=sampled]",
    ]


def test_repeated_runs_of_one_identity_use_the_newest_and_name_the_others(tmp_path, capsys):
    root = tmp_path / "r"
    old = write_run(root, "/m/a", conts(["alph"]), model_args={"dtype": "float32"}, date=1.0)
    write_run(
        root, "/m/a", conts(["beta", "alph"]), model_args={"dtype": "float32"}, date=2.0,
        timestamp="2026-01-02T00-00-00.000000",
    )  # fmt: skip
    write_run(root, "/m/b", conts(["beta", "bets"]))
    write_run(root, "/m/c", conts(["gamm", "beta"]))
    assert main(["tree", str(root), "--resamples", "0"]) == 0
    note = capsys.readouterr().out
    assert "a: phylolm_genes_math was run 2 times" in note and str(old) in note


def test_no_secret_from_model_args_reaches_an_output(tmp_path):
    root = tmp_path / "r"
    secret = {"api_key": "sk-s3cr3t", "base_url": "http://user:pa55@host/v1", "dtype": "float16"}
    write_run(root, "/m/a", conts(["alph", "beta"]), model_args=secret)
    write_run(root, "/m/b", conts(["beta", "bets"]), model_args=secret)
    write_run(root, "/m/c", conts(["gamm", "beta"]), model_args=secret)
    assert main(["tree", str(root), "--resamples", "0", "-o", str(tmp_path / "o")]) == 0
    for path in (tmp_path / "o").iterdir():
        content = path.read_bytes()
        assert b"s3cr3t" not in content and b"pa55" not in content, path.name
    assert "dtype=float16" in (tmp_path / "o" / "report.md").read_text()


def test_a_benchmark_score_goes_to_the_populations_of_the_same_weights(tmp_path, capsys):
    root = tmp_path / "r"
    llm_in_two_dtypes(root)
    for name, words in (("other", ["gamm", "beta"]), ("third", ["beta", "bets"])):
        write_run(root, f"/m/{name}", conts(words))
    bench = write_benchmark_run(
        root, "/m/llm", "mmlu", "acc", 0.5, timestamp="2026-02-01T00-00-00.000000"
    )
    data = json.loads(bench.read_text())
    data["config"]["model_args"]["dtype"] = "float32"
    bench.write_text(json.dumps(data))
    write_benchmark_run(root, "/m/other", "mmlu", "acc", 0.3, "2026-02-01T00-00-00.000000")
    out = tmp_path / "o"
    assert main(["predict", str(root), "--resamples", "0", "-o", str(out)]) == 0
    with (out / "predictions.csv").open(encoding="utf-8") as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle)}
    assert rows["llm [dtype=float32]"]["real"] == "0.500000"
    assert rows["llm [dtype=bfloat16]"]["real"] == ""  # other weights: predicted, not copied
    assert "not used for llm [dtype=bfloat16]" in (out / "report.md").read_text()


def test_what_is_left_out_of_the_tree_is_said(tmp_path, capsys):
    root = tmp_path / "r"
    for name, words in (("a", ["alph"]), ("b", ["bets"]), ("c", ["gamm"])):
        write_run(root, f"/m/{name}", conts(words))
    write_benchmark_run(root, "/m/only-mmlu", "mmlu", "acc", 0.4)
    interrupted = write_run(root, "/m/d", conts(["delt"]), timestamp="2026-03-01T00-00-00.0")
    interrupted.unlink()  # lm_eval writes the results file last
    assert main(["tree", str(root), "--resamples", "0", "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "no PhyloLM task are not in the tree: only-mmlu" in out
    assert "without their results file were not read" in out and "m__d" in out
    assert labels_of(tmp_path / "o") == ["a", "b", "c"]
    assert "only-mmlu" in (tmp_path / "o" / "report.md").read_text()
