"""Small CSV inputs: model families and model labels."""

from __future__ import annotations

from pathlib import Path

from phylolm_harness.errors import InputError
from phylolm_harness.io.reading import csv_rows

__all__ = ["read_families", "read_labels"]


def read_families(path: Path) -> dict[str, str]:
    """Read a ``model,family`` CSV file (with that header).

    Parameters
    ----------
    path : Path
        CSV file; extra columns are ignored.

    Returns
    -------
    dict
        Model label -> family name.

    Raises
    ------
    InputError
        Missing file or columns, an empty model or family, or a model listed twice with
        different families.
    """
    fields, rows = csv_rows(Path(path), "families file")
    if not rows or "model" not in fields or "family" not in fields:
        raise InputError(f"{path}: expected a CSV file with columns 'model' and 'family'")
    families: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        model, family = row.get("model", ""), row.get("family", "")
        if not model or not family:
            raise InputError(f"{path}:{line}: empty model or family")
        if families.setdefault(model, family) != family:
            raise InputError(
                f"{path}:{line}: model {model} is in two families ({families[model]}, {family})"
            )
    return families


def read_labels(path: Path) -> dict[str, str]:
    """Read a ``model,label`` CSV file (with that header): lm-eval model name or label -> label.

    Raises
    ------
    InputError
        When the file cannot be read, a row lacks a model or a label, or a model is given two
        different labels.
    """
    fields, rows = csv_rows(path, "labels file")
    if "model" not in fields or "label" not in fields:
        raise InputError(f"{path}: expected a CSV file with columns 'model' and 'label'")
    labels: dict[str, tuple[str, int]] = {}  # model -> (label, line first giving it)
    for number, row in enumerate(rows, start=2):
        if not row.get("model") or not row.get("label"):
            raise InputError(f"{path}:{number}: needs non-empty model and label columns")
        model, label = row["model"], row["label"]
        earlier, line = labels.setdefault(model, (label, number))
        if earlier != label:
            raise InputError(
                f"{path}:{number}: model {model!r} is labelled {label!r} here and "
                f"{earlier!r} on line {line}"
            )
    return {model: label for model, (label, _) in labels.items()}
