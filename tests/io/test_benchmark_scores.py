from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.lm_eval_runner import run_lm_eval
from support.paths import TEST_TASKS

from phylolm_harness.errors import InputError
from phylolm_harness.io.benchmark_scores import parse_benchmark, read_benchmark_scores
from phylolm_harness.io.tables import read_families

ARITH_TASK = TEST_TASKS / "phylolm_bench" / "phylolm_arith_mc.yaml"

GROUP_YAML = """group: arithgrp
task:
  - arithgrp_a
  - arithgrp_b
aggregate_metric_list:
  - metric: acc
    weight_by_size: true
metadata:
  version: 2
"""

# Names of a real local run, and the names the reshaped fixture gives them.
AS_MMLU = {
    "arithgrp": "mmlu",
    "arithgrp_a": "mmlu_abstract_algebra",
    "arithgrp_b": "mmlu_anatomy",
    "arithgrp_c": "arc_challenge",
}


@pytest.fixture(scope="module")
def real_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results file written by a real ``lm_eval`` run: a two-task group plus a plain task."""
    from support.tiny_models import build_tiny_model, synthetic_corpus

    root = tmp_path_factory.mktemp("scores")
    model = build_tiny_model(
        root / "tiny-bench", synthetic_corpus("math", 40, seed=0), train_steps=0
    )
    tasks = root / "tasks"
    tasks.mkdir()
    shipped = ARITH_TASK.read_text(encoding="utf-8")
    for name in ("arithgrp_a", "arithgrp_b", "arithgrp_c"):
        text = shipped.replace("task: phylolm_arith_mc", f"task: {name}")
        text = text.replace("  - phylolm_bench\n", "  - arithgrp_tag\n")
        (tasks / f"{name}.yaml").write_text(text, encoding="utf-8")
    (tasks / "arithgrp.yaml").write_text(GROUP_YAML, encoding="utf-8")
    shutil.copy(ARITH_TASK.parent / "arith.py", tasks / "arith.py")
    out = root / "results"
    run_lm_eval(
        "--model", "hf", "--model_args", f"pretrained={model}", "--device", "cpu",
        "--include_path", str(tasks), "--tasks", "arithgrp,arithgrp_c", "--limit", "8",
        "--batch_size", "16", "--output_path", str(out), timeout=600,
    )  # fmt: skip
    (path,) = out.glob("*/results_*.json")
    return path


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def dump(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # as lm-eval's EvaluationTracker writes it
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return path


def as_mmlu(data: dict[str, Any]) -> dict[str, Any]:
    """Reshape a real local run into the layout of an MMLU + ARC-Challenge run.

    The real MMLU cannot run offline. lm-eval 0.4.13 writes a group's aggregate twice, under
    ``results[<group>]`` and ``groups[<group>]`` (``EvalAcc._to_eval_results`` in
    ``lm_eval/evaluator_utils.py``), lists its members in ``group_subtasks`` and keys
    ``configs``, ``versions``, ``n-shot``, ``higher_is_better`` and ``n-samples`` by task. The
    real run above has exactly that shape for the group ``arithgrp``; only the names change here.
    """

    def name(x: str) -> str:
        return AS_MMLU.get(x, x)

    out = dict(data)
    for table in ("results", "groups", "configs", "versions", "n-shot", "higher_is_better",
                  "n-samples"):  # fmt: skip
        if table in data:
            out[table] = {name(k): v for k, v in data[table].items()}
    for entry in list(out["results"].values()) + list(out.get("groups", {}).values()):
        for field in ("alias", "name"):
            if field in entry:
                entry[field] = name(entry[field])
    for config in out["configs"].values():
        config["task"] = name(config["task"])
    out["group_subtasks"] = {
        name(k): [name(t) for t in v] for k, v in data["group_subtasks"].items()
    }
    return out


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.slow
def test_real_group_layout_is_what_the_mmlu_fixture_assumes(real_results: Path):
    data = load(real_results)
    assert data["group_subtasks"]["arithgrp"] == ["arithgrp_a", "arithgrp_b"]
    assert data["groups"]["arithgrp"]["acc,none"] == data["results"]["arithgrp"]["acc,none"]


@pytest.mark.slow
def test_reads_mmlu_group_and_arc_challenge(real_results: Path, tmp_path: Path):
    source = load(real_results)
    dump(tmp_path / "res" / "m" / real_results.name, as_mmlu(source))
    got = read_benchmark_scores(tmp_path / "res", ["mmlu", "arc_challenge"])
    label = Path(source["model_name"]).name
    assert got.scores["mmlu"] == {label: source["results"]["arithgrp"]["acc,none"]}
    assert got.scores["arc_challenge"] == {label: source["results"]["arithgrp_c"]["acc_norm,none"]}
    assert got.notes == ()


@pytest.mark.slow
def test_group_is_read_from_groups_table_when_results_lacks_it(real_results: Path, tmp_path: Path):
    data = as_mmlu(load(real_results))
    expected = data["results"].pop("mmlu")["acc,none"]
    dump(tmp_path / "m" / real_results.name, data)
    assert list(read_benchmark_scores(tmp_path, ["mmlu"]).scores["mmlu"].values()) == [expected]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ("arithgrp_c:acc_norm", "acc_norm,none"),
        ("arithgrp_c:acc_norm,none", "acc_norm,none"),
        ("arithgrp_c", "acc,none"),
        ("arithgrp_a:acc", "acc,none"),
    ],
)
def test_task_metric_forms(real_results: Path, spec: str, key: str):
    data = load(real_results)
    task = spec.split(":")[0]
    got = read_benchmark_scores(real_results.parent.parent, [spec]).scores[spec]
    assert list(got.values()) == [data["results"][task][key]]


@pytest.mark.slow
def test_newest_run_wins_and_a_note_says_so(real_results: Path, tmp_path: Path):
    data = load(real_results)
    old = dump(tmp_path / "m" / "results_2026-01-01T00-00-00.000000.json", data)
    newer = dict(data, date=data["date"] + 60)
    newer["results"] = {k: dict(v) for k, v in data["results"].items()}
    newer["results"]["arithgrp_c"]["acc,none"] = 0.875
    dump(tmp_path / "m" / "results_2026-01-02T00-00-00.000000.json", newer)
    got = read_benchmark_scores(tmp_path, ["arithgrp_c:acc"])
    assert list(got.scores["arithgrp_c:acc"].values()) == [0.875]
    assert "arithgrp_c:acc was run 2 times" in got.notes[0] and "2026-01-02" in got.notes[0]
    assert old.exists()


@pytest.mark.slow
def test_two_runs_with_the_same_date_are_an_error(real_results: Path, tmp_path: Path):
    dump(tmp_path / "a" / real_results.name, load(real_results))
    dump(tmp_path / "b" / real_results.name, load(real_results))
    with pytest.raises(InputError, match="two runs of arithgrp_c:acc with the same date"):
        read_benchmark_scores(tmp_path, ["arithgrp_c:acc"])


@pytest.mark.slow
@pytest.mark.parametrize("bad", [math.nan, "N/A", None])
def test_nan_or_na_score_is_an_error_naming_file_and_model(real_results, tmp_path, bad):
    data = load(real_results)
    data["results"]["arithgrp_c"]["acc_norm,none"] = bad
    path = dump(tmp_path / "m" / real_results.name, data)
    label = Path(data["model_name"]).name
    with pytest.raises(InputError, match="not a number") as err:
        read_benchmark_scores(tmp_path, ["arithgrp_c:acc_norm"])
    assert str(path) in str(err.value) and f"model {label}" in str(err.value)


@pytest.mark.slow
def test_missing_metric_is_an_error_listing_what_is_there(real_results: Path):
    with pytest.raises(InputError, match=r"no 'f1,none' for arithgrp_c.*acc,none, acc_norm,none"):
        read_benchmark_scores(real_results.parent.parent, ["arithgrp_c:f1"])


@pytest.mark.slow
def test_benchmark_not_run_gives_no_scores(real_results: Path):
    got = read_benchmark_scores(real_results.parent.parent, ["hellaswag"])
    assert got.scores == {"hellaswag": {}}


@pytest.mark.slow
def test_two_models_with_one_label_are_an_error(real_results: Path, tmp_path: Path):
    data = load(real_results)
    dump(tmp_path / "a" / real_results.name, dict(data, model_name="/x/tiny"))
    dump(tmp_path / "b" / "results_2026-01-01T00-00-00.json", dict(data, model_name="/y/tiny"))
    with pytest.raises(InputError, match="share the label 'tiny'"):
        read_benchmark_scores(tmp_path, ["arithgrp_c"])
    got = read_benchmark_scores(tmp_path, ["arithgrp_c"], rename={"/y/tiny": "tiny-y"})
    assert sorted(got.scores["arithgrp_c"]) == ["tiny", "tiny-y"]


def test_unreadable_results_file_is_an_error(tmp_path: Path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "results_2026-01-01T00-00-00.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable lm-eval results file"):
        read_benchmark_scores(tmp_path, ["mmlu"])
    with pytest.raises(InputError, match="results folder not found"):
        read_benchmark_scores(tmp_path / "nope", ["mmlu"])


@pytest.mark.parametrize(
    ("spec", "task", "key"),
    [
        ("mmlu", "mmlu", "acc,none"),
        ("arc_challenge", "arc_challenge", "acc_norm,none"),
        ("hellaswag:acc_norm", "hellaswag", "acc_norm,none"),
        ("gsm8k:exact_match,strict-match", "gsm8k", "exact_match,strict-match"),
    ],
)
def test_parse_benchmark(spec: str, task: str, key: str):
    parsed = parse_benchmark(spec)
    assert (parsed.name, parsed.task, parsed.key) == (spec, task, key)


@pytest.mark.parametrize("spec", ["", ":acc", "mmlu:"])
def test_parse_benchmark_rejects_malformed(spec: str):
    with pytest.raises(InputError, match="expected TASK or TASK:METRIC"):
        parse_benchmark(spec)


def test_read_families(tmp_path: Path):
    path = tmp_path / "families.csv"
    path.write_text("model,family,note\na,llama,x\nb,llama,\nc,qwen,\n", encoding="utf-8")
    assert read_families(path) == {"a": "llama", "b": "llama", "c": "qwen"}
    path.write_text("name,family\na,llama\n", encoding="utf-8")
    with pytest.raises(InputError, match="columns 'model' and 'family'"):
        read_families(path)
    path.write_text("model,family\na,llama\na,qwen\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"families.csv:3: model a is in two families"):
        read_families(path)
    with pytest.raises(InputError, match="cannot read the families file"):
        read_families(tmp_path / "missing.csv")
