"""The passages file: written as it is read, and refused by name when it is not one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.results_layout import write_run

from phylolm_harness.cli.main import main
from phylolm_harness.errors import InputError
from phylolm_harness.io.passages_file import (
    Passage,
    format_passages_file,
    read_passages_file,
    read_profiles,
)


def test_passages_file_round_trip(tmp_path: Path) -> None:
    passages = (
        Passage("a/p0-s0", "a", "x = 1\n\ty"),
        Passage("b/p0-s0", "b", "Ünïcode \u2028 text"),
    )
    path = tmp_path / "passages.jsonl"
    path.write_bytes(format_passages_file(passages))
    assert read_passages_file(path) == passages


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no passage"),
        (b"[1, 2]\n", "expected an object"),
        (b'{"id": "a", "writer": "m"}\n', "text must be a string"),
        (b'{"id": 3, "writer": "m", "text": "t"}\n', "id must be a string"),
        (b'{"id": "a", "writer": "m", "text": "  "}\n', "empty text"),
        (b'{"id": "a", "writer": "m", "text": "t"}\n' * 2, "repeats"),
        (b'{"id": "a", "writer": "m", "text": "t\xff"}\n', "UTF-8"),
        (b'{"id": "a", "writer": "m", "text": "\\ud800"}\n', "surrogate"),
        (b'{"id": "a", "writer": "m", "text": "t"', "JSON"),
    ],
)
def test_a_bad_passages_file_is_refused_naming_it(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "passages.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as error:
        read_passages_file(path)
    assert str(path) in str(error.value)


def test_commands_without_runs_say_which_task_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["passages", str(tmp_path / "empty"), "-o", str(tmp_path / "p.jsonl")]) == 2
    assert "phylolm_passages_write" in capsys.readouterr().err
    assert main(["lineage", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no lm-eval results of phylolm_passages " in err and err.count("\n") == 1
    assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "empty" / "lineage").exists()


@pytest.mark.parametrize(
    "logged",
    [
        lambda ll: [str(ll)],  # lm-eval 0.4: the value as text
        lambda ll: [[[str(ll), "False"]]],  # lm-eval 0.5: (value, is-greedy) pairs
        lambda ll: [ll],
    ],
)
def test_scores_are_read_as_each_lm_eval_logs_them(tmp_path: Path, logged: Any) -> None:
    rng = np.random.default_rng(0)
    texts = [f"passage number {i} " * (1 + i % 3) for i in range(20)]
    for model in ("m1", "m2", "m3"):
        write_run(tmp_path, model, dict.fromkeys(texts, ()), task="phylolm_passages")
        lines = [
            json.dumps(
                {"doc_id": i, "doc": {"id": f"p{i}", "text": t}, "filtered_resps": logged(v)}
            )
            for i, (t, v) in enumerate(zip(texts, -rng.uniform(10, 90, len(texts)), strict=True))
        ]
        samples = next((tmp_path / model).glob("samples_*.jsonl"))
        samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    profiles, notes = read_profiles(tmp_path)
    assert profiles.models == ("m1", "m2", "m3") and profiles.loglik.shape == (3, 20) and not notes
    assert np.all(profiles.loglik < 0)
    assert profiles.nbytes[1] == len(texts[1].encode())
