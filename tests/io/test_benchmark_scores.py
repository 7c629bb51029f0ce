from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import fuzz, mutate_json_line
from support.lm_eval_runner import run_lm_eval
from support.paths import TEST_TASKS
from support.results_layout import write_benchmark_run

from phylolm_harness.errors import InputError
from phylolm_harness.io.benchmark_scores import parse_benchmark, read_benchmark_scores
from phylolm_harness.io.mmlu import SUBJECTS
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


@pytest.fixture(scope="module")
def real_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results file of a real ``lm_eval`` run: a two-task group, a plain task, offline MMLU."""
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
        "--include_path", str(tasks), "--tasks", "arithgrp,arithgrp_c,phylolm_mmlu",
        "--limit", "3", "--batch_size", "16", "--output_path", str(out), "--log_samples",
        timeout=900,
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


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.slow
def test_real_group_layout_is_what_the_mmlu_fixture_assumes(real_results: Path):
    data = load(real_results)
    assert data["group_subtasks"]["arithgrp"] == ["arithgrp_a", "arithgrp_b"]
    assert data["groups"]["arithgrp"]["acc,none"] == data["results"]["arithgrp"]["acc,none"]


def subject_accuracies(results_file: Path) -> dict[str, list[float]]:
    """Per-question accuracy of every MMLU subject, from the run's samples files."""
    out = {}
    for subject in SUBJECTS:
        (path,) = results_file.parent.glob(f"samples_phylolm_mmlu_{subject}_*.jsonl")
        lines = path.read_text(encoding="utf-8").splitlines()
        out[subject] = [float(json.loads(line)["acc"]) for line in lines]
    return out


@pytest.mark.slow
def test_offline_mmlu_reads_as_the_paper_and_as_lm_eval_define_it(real_results: Path):
    per_subject = subject_accuracies(real_results)
    label = Path(load(real_results)["model_name"]).name
    paper = read_benchmark_scores(real_results.parent.parent, ["mmlu", "arithgrp_c:acc_norm"])
    expected = sum(sum(v) / len(v) for v in per_subject.values()) / len(SUBJECTS)
    assert paper.scores["mmlu"][label] == pytest.approx(expected, abs=1e-12)
    assert "57 subject" in paper.definitions["mmlu"]
    assert paper.definitions["mmlu"].endswith("(higher is better)")
    assert any("subset" in n and f"{label} (171)" in n for n in paper.notes)
    weighted = read_benchmark_scores(real_results.parent.parent, ["mmlu"], mmlu_average="questions")
    every = [a for v in per_subject.values() for a in v]
    assert weighted.scores["mmlu"][label] == pytest.approx(sum(every) / len(every), abs=1e-12)
    assert "lm-eval" in weighted.definitions["mmlu"]


@pytest.mark.slow
def test_group_is_read_from_groups_table_when_results_lacks_it(real_results: Path, tmp_path: Path):
    data = load(real_results)
    expected = data["results"].pop("phylolm_mmlu")["acc,none"]
    dump(tmp_path / "m" / real_results.name, data)
    got = read_benchmark_scores(tmp_path, ["mmlu"], mmlu_average="questions").scores["mmlu"]
    assert list(got.values()) == [expected]


@pytest.mark.slow
def test_mmlu_without_every_subject_names_what_is_missing(real_results: Path, tmp_path: Path):
    data = load(real_results)
    del data["results"]["phylolm_mmlu_virology"]
    path = dump(tmp_path / "m" / real_results.name, data)
    with pytest.raises(InputError, match="lacks 1 of the 57 subjects") as err:
        read_benchmark_scores(tmp_path, ["mmlu"])
    assert str(path) in str(err.value) and "virology" in str(err.value)
    assert read_benchmark_scores(tmp_path, ["mmlu"], mmlu_average="questions").scores["mmlu"]


@pytest.mark.slow
@pytest.mark.parametrize(("subject", "score"), [("virology", 7.0), ("anatomy", -1.0)])
def test_an_mmlu_subject_accuracy_outside_0_1_is_refused(real_results, tmp_path, subject, score):
    data = load(real_results)
    data["results"][f"phylolm_mmlu_{subject}"]["acc,none"] = score
    path = dump(tmp_path / "m" / real_results.name, data)
    with pytest.raises(InputError, match=r"outside \[0, 1\] for an accuracy") as err:
        read_benchmark_scores(tmp_path, ["mmlu"])
    assert str(path) in str(err.value) and subject in str(err.value)


@pytest.mark.slow
def test_models_run_with_different_shots_get_a_note(real_results: Path, tmp_path: Path):
    data = load(real_results)
    dump(tmp_path / "a" / real_results.name, dict(data, model_name="/m/zero"))
    five = dict(data, model_name="/m/five", **{"n-shot": {k: 5 for k in data["n-shot"]}})
    dump(tmp_path / "b" / real_results.name, five)
    got = read_benchmark_scores(tmp_path, ["mmlu"])
    assert sorted(got.scores["mmlu"]) == ["five", "zero"]
    assert any("0-shot: zero" in n and "5-shot: five" in n for n in got.notes)


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


# ------------------------------------------------------------ per-question results (samples)


def test_per_question_results_are_read_from_real_samples_files(real_results: Path):
    from phylolm_harness.io.benchmark_questions import read_question_scores
    from phylolm_harness.io.runs import index_runs

    (run,) = index_runs(real_results.parent)
    plain, notes = read_question_scores("arithgrp_c", "arithgrp_c", "acc,none", {"m": run})
    assert notes == [] and plain is not None
    assert plain.values.shape == (1, 3) and set(plain.values.ravel()) <= {0.0, 1.0}
    acc = load(real_results)["results"]["arithgrp_c"]["acc,none"]
    assert plain.score(np.array([0]), np.arange(3))[0] == pytest.approx(acc)
    mmlu, notes = read_question_scores("mmlu", "mmlu", "acc,none", {"m": run})
    assert notes == [] and mmlu is not None
    assert mmlu.values.shape == (1, 3 * len(SUBJECTS))  # every subject's questions, pooled
    group, notes = read_question_scores("arithgrp", "arithgrp", "acc,none", {"m": run})
    assert notes == [] and group is not None and group.values.shape == (1, 6)  # its two tasks


def scored_with_questions(root: Path, models: dict[str, float], questions: int = 300) -> None:
    rng = np.random.default_rng(0)
    for i, (name, ability) in enumerate(models.items()):
        right = (rng.random(questions) < ability).astype(int).tolist()
        write_benchmark_run(root, f"/m/{name}", "quiz", "acc", float(np.mean(right)),
                            timestamp=f"2026-02-0{i + 1}T00-00-00.000000",
                            per_question=right)  # fmt: skip


def test_per_question_results_of_every_scored_model_are_kept(tmp_path: Path):
    scored_with_questions(tmp_path, {"a": 0.3, "b": 0.5, "c": 0.7})
    scores = read_benchmark_scores(tmp_path, ["quiz:acc"])
    q = scores.questions["quiz:acc"]
    assert q.labels == ("a", "b", "c") and q.values.shape == (3, 300)
    assert q.values.mean(axis=1).tolist() == [scores.scores["quiz:acc"][m] for m in q.labels]


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("a text value", "samples_quiz_2026-02-02T00-00-00.000000.jsonl:5: acc is not usable ('"),
        ("an integer beyond floats", ".jsonl:5: acc is not usable (1000000"),
        ("no doc_id", ".jsonl:5: doc_id is not usable (None)"),
        ("a question twice", ".jsonl:5: question 3 of quiz logged twice"),
        ("truncated", "samples_quiz_2026-02-02T00-00-00.000000.jsonl:300: malformed JSON"),
        ("few questions", "150 questions answered by every scored model, not more than twice"),
        ("cut at a line end", ".jsonl: 150 sample lines but the results file reports 300"),
        ("values too large", "per-question values too large to add up"),
    ],
)
def test_a_baseline_that_cannot_be_computed_is_left_out_with_a_note(tmp_path, damage, said):
    scored_with_questions(tmp_path, {"a": 0.3, "b": 0.5, "c": 0.7})
    (samples,) = tmp_path.glob("m__b/samples_*.jsonl")
    rows = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
    lines = [json.dumps(row) for row in rows]
    if damage == "a text value":
        rows[4]["acc"] = str(rows[4]["acc"])
    elif damage == "an integer beyond floats":
        lines[4] = lines[4].replace(f'"acc": {rows[4]["acc"]}', '"acc": 1' + "0" * 400)
    elif damage == "no doc_id":
        del rows[4]["doc_id"]
    elif damage == "a question twice":
        rows[4]["doc_id"] = 3
    elif damage == "values too large":
        rows[4]["acc"] = rows[5]["acc"] = 1e308
    if damage in ("a text value", "no doc_id", "a question twice", "values too large"):
        lines = [json.dumps(row) for row in rows]
    text = "\n".join(lines) + "\n"
    if damage == "truncated":
        text = text[:-6]
    elif damage in ("few questions", "cut at a line end"):
        text = "\n".join(lines[:150]) + "\n"
    if damage == "few questions":  # a run with --limit 150: its results file says so
        (results,) = tmp_path.glob("m__b/results_*.json")
        data = json.loads(results.read_text(encoding="utf-8"))
        data["n-samples"]["quiz"]["effective"] = 150
        results.write_text(json.dumps(data), encoding="utf-8")
    samples.write_text(text, encoding="utf-8")
    scores = read_benchmark_scores(tmp_path, ["quiz:acc"])
    assert "quiz:acc" not in scores.questions
    assert scores.scores["quiz:acc"]["b"] > 0  # the scores themselves stand
    (note,) = [n for n in scores.notes if "random-questions baseline" in n]
    assert said in note, note


def test_a_model_without_per_question_results_is_named_not_a_veto(tmp_path):
    scored_with_questions(tmp_path, {"a": 0.3, "b": 0.5, "c": 0.7})
    next(tmp_path.glob("m__b/samples_*.jsonl")).unlink()
    scores = read_benchmark_scores(tmp_path, ["quiz:acc"])
    assert scores.questions["quiz:acc"].labels == ("a", "c")
    assert "quiz:acc: no per-question results (lm_eval --log_samples) for b" in " ".join(
        scores.notes
    )


def test_results_are_summed_as_the_task_config_says_lm_eval_aggregates_them(tmp_path):
    """lambada's ``perplexity``: one log-likelihood a question, aggregated as exp(-mean)."""
    rng = np.random.default_rng(1)
    for i, name in enumerate(("a", "b", "c")):
        ll = (-rng.random(300) * (i + 1)).tolist()
        path = write_benchmark_run(tmp_path, f"/m/{name}", "cloze", "perplexity",
                                   math.exp(-np.mean(ll)), per_question=ll,
                                   timestamp=f"2026-02-0{i + 1}T00-00-00.000000")  # fmt: skip
        data = load(path)
        data["configs"]["cloze"]["metric_list"] = [
            {"metric": "perplexity", "aggregation": "perplexity", "higher_is_better": False}
        ]
        dump(path, data)
    scores = read_benchmark_scores(tmp_path, ["cloze:perplexity"])
    q = scores.questions["cloze:perplexity"]
    whole = q.score(np.arange(3), np.arange(300))
    assert whole == pytest.approx([scores.scores["cloze:perplexity"][m] for m in q.labels])


def test_a_groups_questions_are_read_from_its_subtasks(tmp_path):
    """A group other than MMLU: lm-eval logs one samples file per subtask, none for the group."""
    for i, name in enumerate(("a", "b", "c")):
        stamp = f"2026-02-0{i + 1}T00-00-00.000000"
        right = {t: [int(v) for v in np.random.default_rng(i).random(150) < 0.5] for t in "xy"}
        path = write_benchmark_run(tmp_path, f"/m/{name}", "grp", "acc", 0.5, timestamp=stamp)
        for t, values in right.items():
            rows = [{"doc_id": d, "filter": "none", "acc": v} for d, v in enumerate(values)]
            (path.parent / f"samples_grp_{t}_{stamp}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
            )
        data = load(path)
        data["group_subtasks"] = {"grp": ["grp_x", "grp_y"]}
        dump(path, data)
    scores = read_benchmark_scores(tmp_path, ["grp:acc"])
    assert scores.questions["grp:acc"].values.shape == (3, 300)


@fuzz(150)
@given(data=st.data())
def test_fuzz_per_question_results(tmp_path_factory, data):
    """One value of a samples file replaced by a hostile one: scores and a note, or one line."""
    root = tmp_path_factory.mktemp("questions")
    scored_with_questions(root, {"a": 0.3, "b": 0.5, "c": 0.7})
    target = next(root.glob(f"m__{data.draw(st.sampled_from('abc'))}/samples_*.jsonl"))
    mutate_json_line(target, data)
    try:
        scores = read_benchmark_scores(root, ["quiz:acc"])
    except InputError as error:
        assert "\n" not in str(error)
        return
    questions = scores.questions.get("quiz:acc")
    if questions is not None:
        assert np.isfinite(questions.score(np.arange(3), np.arange(200))).all()
    else:
        assert any("random-questions baseline" in note for note in scores.notes), scores.notes
