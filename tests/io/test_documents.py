from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from phylolm_harness.errors import InputError
from phylolm_harness.io.documents import read_dataset_documents, read_documents


def test_read_documents_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    lines = [
        json.dumps({"text": "first document"}),
        "",
        json.dumps({"text": "second", "source": "pkg==1:a.py"}),
        json.dumps({"body": "third"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert list(itertools.islice(read_documents(path, field="text"), 2)) == [
        (f"{path}:1", "first document"),
        ("pkg==1:a.py", "second"),
    ]
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}:4: no string field 'text'"):
        list(read_documents(path))


def test_read_documents_jsonl_field(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"body": "only"}) + "\n", encoding="utf-8")
    assert list(read_documents(path, field="body")) == [(f"{path}:1", "only")]


@pytest.mark.parametrize("broken", ['{"text": "cut off', '{"text": 1}', "[1, 2]", "plain"])
def test_malformed_jsonl_names_file_and_line(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n" + broken, encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.jsonl:2"):
        list(read_documents(path))


def test_read_documents_json_list(tmp_path: Path) -> None:
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(["plain string", {"text": "object"}]), encoding="utf-8")
    assert list(read_documents(path)) == [(f"{path}:0", "plain string"), (f"{path}:1", "object")]
    path.write_text('{"text": "not a list"}', encoding="utf-8")
    with pytest.raises(InputError, match="docs.json"):
        list(read_documents(path))


def test_read_documents_text_paragraphs(tmp_path: Path) -> None:
    path = tmp_path / "docs.txt"
    path.write_text("\nfirst line\nsecond line\n\n\n  \nthird para\n", encoding="utf-8")
    assert list(read_documents(path)) == [
        (f"{path}:2", "first line\nsecond line"),
        (f"{path}:7", "third para"),
    ]


def test_read_documents_directory(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.py").write_text("print('z')\n", encoding="utf-8")
    (tmp_path / "a.c").write_text("int main(void) { return 0; }\n", encoding="utf-8")
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00binary")
    docs = list(read_documents(tmp_path))
    assert docs == [
        (str(tmp_path / "a.c"), "int main(void) { return 0; }\n"),
        (str(tmp_path / "b" / "z.py"), "print('z')\n"),
    ]


def test_read_documents_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(read_documents(tmp_path / "absent.jsonl"))
    odd = tmp_path / "docs.csv"
    odd.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(InputError, match="docs.csv: unknown document format"):
        list(read_documents(odd))


def test_unreachable_dataset_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionError("hub unreachable")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(InputError, match="some/dataset.*cannot be loaded"):
        next(read_dataset_documents("some/dataset", "train"))
