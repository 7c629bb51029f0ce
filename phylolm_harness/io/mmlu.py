"""MMLU in lm-eval results: its subjects, and the two definitions of its score.

lm-eval's own ``mmlu`` group (online, from the dataset hub) and this package's ``phylolm_mmlu``
group (offline, see :mod:`phylolm_harness.collect.mmlu`) write the same layout:
``results[<group>]`` holds the group's score and ``results[<group>_<subject>]`` each subject's.
Both read the same way here. Two definitions of "the MMLU score" are in use:

``subjects``
    The mean of the 57 subject accuracies: the Open LLM Leaderboard's MMLU, which the PhyloLM
    paper predicted. The default.
``questions``
    lm-eval's group score: the accuracy over all questions, each subject weighted by its size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phylolm_harness.errors import InputError

__all__ = [
    "AVERAGES",
    "CATEGORIES",
    "GROUPS",
    "QUESTIONS",
    "SIZES",
    "SUBJECTS",
    "MMLUScore",
    "mmlu_group",
    "mmlu_score",
]

GROUPS = ("mmlu", "phylolm_mmlu")
"""MMLU groups in results files: lm-eval's own (preferred in a run that holds both), the offline."""

AVERAGES: Mapping[str, str] = {
    "subjects": "mean of the 57 subject accuracies (the Open LLM Leaderboard's and the paper's)",
    "questions": "accuracy over all questions, subjects weighted by size (lm-eval's mmlu group)",
}
"""The definitions of the MMLU score, by name."""

QUESTIONS = 14042
"""Questions in MMLU's test set."""

CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "stem": (
        "abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
        "college_computer_science", "college_mathematics", "college_physics",
        "computer_security", "conceptual_physics", "electrical_engineering",
        "elementary_mathematics", "high_school_biology", "high_school_chemistry",
        "high_school_computer_science", "high_school_mathematics", "high_school_physics",
        "high_school_statistics", "machine_learning",
    ),
    "other": (
        "business_ethics", "clinical_knowledge", "college_medicine", "global_facts",
        "human_aging", "management", "marketing", "medical_genetics", "miscellaneous",
        "nutrition", "professional_accounting", "professional_medicine", "virology",
    ),
    "social_sciences": (
        "econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
        "human_sexuality", "professional_psychology", "public_relations", "security_studies",
        "sociology", "us_foreign_policy",
    ),
    "humanities": (
        "formal_logic", "high_school_european_history", "high_school_us_history",
        "high_school_world_history", "international_law", "jurisprudence",
        "logical_fallacies", "moral_disputes", "moral_scenarios", "philosophy", "prehistory",
        "professional_law", "world_religions",
    ),
}  # fmt: skip
"""lm-eval's four MMLU categories and their subjects (the ``mmlu_<category>`` groups)."""

SUBJECTS: tuple[str, ...] = tuple(sorted(s for group in CATEGORIES.values() for s in group))
"""The 57 subjects, as lm-eval names them (``mmlu_<subject>``)."""


SIZES: Mapping[str, int] = {
    "abstract_algebra": 100, "anatomy": 135, "astronomy": 152, "business_ethics": 100,
    "clinical_knowledge": 265, "college_biology": 144, "college_chemistry": 100,
    "college_computer_science": 100, "college_mathematics": 100, "college_medicine": 173,
    "college_physics": 102, "computer_security": 100, "conceptual_physics": 235,
    "econometrics": 114, "electrical_engineering": 145, "elementary_mathematics": 378,
    "formal_logic": 126, "global_facts": 100, "high_school_biology": 310,
    "high_school_chemistry": 203, "high_school_computer_science": 100,
    "high_school_european_history": 165, "high_school_geography": 198,
    "high_school_government_and_politics": 193, "high_school_macroeconomics": 390,
    "high_school_mathematics": 270, "high_school_microeconomics": 238, "high_school_physics": 151,
    "high_school_psychology": 545, "high_school_statistics": 216, "high_school_us_history": 204,
    "high_school_world_history": 237, "human_aging": 223, "human_sexuality": 131,
    "international_law": 121, "jurisprudence": 108, "logical_fallacies": 163,
    "machine_learning": 112, "management": 103, "marketing": 234, "medical_genetics": 100,
    "miscellaneous": 783, "moral_disputes": 346, "moral_scenarios": 895, "nutrition": 306,
    "philosophy": 311, "prehistory": 324, "professional_accounting": 282, "professional_law": 1534,
    "professional_medicine": 272, "professional_psychology": 612, "public_relations": 110,
    "security_studies": 245, "sociology": 201, "us_foreign_policy": 100, "virology": 166,
    "world_religions": 171,
}  # fmt: skip
"""Questions per subject in MMLU's test set."""


@dataclass(frozen=True)
class MMLUScore:
    """One run's MMLU score.

    Attributes
    ----------
    value : float
        The score under the definition asked for.
    group : str
        The group it was read from (``"mmlu"`` or ``"phylolm_mmlu"``).
    questions : int or None
        Questions the run answered (fewer than :data:`QUESTIONS` under ``lm_eval --limit``),
        ``None`` when the results file does not say.
    subset : bool
        Whether some subject was run on fewer questions than it has.
    shots : int or None
        Few-shot examples per question, when the results file says.
    """

    value: float
    group: str
    questions: int | None
    shots: int | None
    subset: bool = False


def mmlu_group(results: Mapping[str, Any]) -> str | None:
    """Return the MMLU group a parsed results file holds, lm-eval's own first, or ``None``."""
    for table in ("results", "groups"):
        section = results.get(table)
        for group in GROUPS:
            if isinstance(section, dict) and isinstance(section.get(group), dict):
                return group
    return None


def _table(results: Mapping[str, Any], name: str) -> dict[str, Any]:
    table = results.get(name)
    return table if isinstance(table, dict) else {}


def _number(raw: Any, where: str, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise InputError(f"{where}: {what} is {raw!r}, not a number")
    return float(raw)


def _score(raw: Any, where: str, what: str, key: str) -> float:
    """Read a score; accuracies (``acc``, ``acc_norm``) must lie in [0, 1]."""
    value = _number(raw, where, what)
    if key.split(",")[0] in ("acc", "acc_norm") and not 0.0 <= value <= 1.0:
        raise InputError(f"{where}: {what} is {value!r}, outside [0, 1] for an accuracy")
    return value


def mmlu_score(results: Mapping[str, Any], key: str, average: str, where: str) -> MMLUScore:
    """Read a run's MMLU score under one definition.

    Parameters
    ----------
    results : Mapping
        A parsed lm-eval results file that holds an MMLU group (see :func:`mmlu_group`).
    key : str
        Metric key, e.g. ``"acc,none"``.
    average : {"subjects", "questions"}
        Definition, see :data:`AVERAGES`.
    where : str
        The file and model, for messages.

    Returns
    -------
    MMLUScore

    Raises
    ------
    InputError
        An unknown definition; a group without its score or, for ``subjects``, without all 57
        subjects (a run of one category, say); a score that is not a number.

    Examples
    --------
    >>> subjects = {f"mmlu_{s}": {"acc,none": 0.5} for s in SUBJECTS}
    >>> subjects["mmlu_anatomy"] = {"acc,none": 1.0}
    >>> data = {"results": {"mmlu": {"acc,none": 0.51}, **subjects}}
    >>> round(mmlu_score(data, "acc,none", "subjects", "f").value, 4)
    0.5088
    >>> mmlu_score(data, "acc,none", "questions", "f").value
    0.51
    """
    if average not in AVERAGES:
        raise InputError(f"unknown MMLU average {average!r}; expected one of {sorted(AVERAGES)}")
    group = mmlu_group(results)
    if group is None:
        raise InputError(f"{where}: no MMLU results ({' or '.join(GROUPS)})")
    section = {**_table(results, "groups"), **_table(results, "results")}
    counts: dict[str, Any] = _table(results, "n-samples")
    shots_table: dict[str, Any] = _table(results, "n-shot")
    names = [f"{group}_{s}" for s in SUBJECTS]
    entries = [section.get(name) for name in names]
    missing = [s for s, entry in zip(SUBJECTS, entries, strict=True) if not isinstance(entry, dict)]
    if average == "questions":
        entry = section[group]
        if key not in entry:
            raise InputError(f"{where}: {group} has no {key!r}")
        value = _score(entry[key], where, f"{group} {key}", key)
    elif missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        shown = ", ".join(missing[:3]) + more
        raise InputError(
            f"{where}: {group} lacks {len(missing)} of the 57 subjects ({shown}); the mean over "
            "subjects needs all of them (or read lm-eval's own average: --mmlu-average questions)"
        )
    else:
        values = []
        for name in names:
            entry = _table(section, name)
            if key not in entry:
                raise InputError(f"{where}: {name} has no {key!r}")
            values.append(_score(entry[key], where, f"{name} {key}", key))
        value = sum(values) / len(values)
    effective = [_table(counts, name).get("effective") for name in names]
    known = [e for e in effective if isinstance(e, int)]
    questions = sum(known) if len(known) == len(names) else None
    subset = any(
        isinstance(e, int) and e < SIZES[s] for s, e in zip(SUBJECTS, effective, strict=True)
    )
    shots = shots_table.get(names[0])
    return MMLUScore(value, group, questions, shots if isinstance(shots, int) else None, subset)
