"""The outputs of ``check``: console summary, JSON, JUnit XML and a Markdown summary.

JUnit XML is what CI systems render as test results (one test case per rule and model); the
Markdown summary suits ``$GITHUB_STEP_SUMMARY``. An inconclusive rule counts as a failure or as a
pass as the user chose (``--inconclusive fail|pass``); every output names it as inconclusive.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from phylolm_harness.core.rules import Verdict

__all__ = ["check_json", "check_markdown", "check_passed", "console_summary", "junit_xml"]

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str) -> str:
    """Text XML 1.0 can hold: other characters are written as Python escapes."""
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.4g}"


def _p_text(verdict: Verdict) -> str:
    parts = []
    if verdict.p_value is not None:
        parts.append(f"p={_number(verdict.p_value)}, adjusted {_number(verdict.adjusted_p)}")
    if verdict.holds_p is not None:
        parts.append(
            f"holds: p={_number(verdict.holds_p)}, adjusted {_number(verdict.holds_adjusted_p)}"
        )
    return "; ".join(parts) or "no p-value"


_LABEL = {"fail": "FAIL", "inconclusive": "INCONCLUSIVE", "pass": "ok"}
_MARK = {"fail": "❌", "inconclusive": "❔", "pass": "✅"}


def _ordered(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """Failures first, then inconclusive rules, then those that hold."""
    rank = {"fail": 0, "inconclusive": 1, "pass": 2}
    return sorted(verdicts, key=lambda v: rank[v.outcome])


def _tally(verdicts: Sequence[Verdict], inconclusive_fails: bool) -> str:
    failed = sum(v.outcome == "fail" for v in verdicts)
    unsure = sum(v.outcome == "inconclusive" for v in verdicts)
    text = f"{len(verdicts) - failed - unsure} of {len(verdicts)} rules hold"
    if failed:
        text += f"; {failed} failed"
    if unsure:
        counted = "failures" if inconclusive_fails else "passes"
        text += f"; {unsure} inconclusive (counted as {counted}: --inconclusive "
        text += f"{'fail' if inconclusive_fails else 'pass'})"
    return text


def check_passed(verdicts: Sequence[Verdict], inconclusive_fails: bool) -> bool:
    """Whether a check passes: no rule failed, and no rule inconclusive where those fail."""
    bad = {"fail", "inconclusive"} if inconclusive_fails else {"fail"}
    return not any(v.outcome in bad for v in verdicts)


def console_summary(
    verdicts: Sequence[Verdict], level: float, notes: Sequence[str], inconclusive_fails: bool
) -> str:
    """Plain text for the terminal: one line per rule, failures first, then the notes."""
    lines = [
        f"{_LABEL[v.outcome]:<4} {v.rule}: {v.subject}: {v.explanation} [{_p_text(v)}]"
        for v in _ordered(verdicts)
    ]
    lines += [f"note: {note}" for note in notes]
    lines.append(f"{_tally(verdicts, inconclusive_fails)} (family-wise error rate {level:g})")
    return "\n".join(lines) + "\n"


def check_json(
    verdicts: Sequence[Verdict],
    level: float,
    notes: Sequence[str],
    meta: Mapping[str, Any],
    inconclusive_fails: bool,
) -> bytes:
    """Machine-readable outcome: every verdict with its evidence."""

    def num(value: float | None) -> float | str | None:
        if value is None or math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")

    document = {
        "passed": check_passed(verdicts, inconclusive_fails),
        "inconclusive": sum(v.outcome == "inconclusive" for v in verdicts),
        "inconclusive_counts_as": "failure" if inconclusive_fails else "pass",
        "level": level,
        **meta,
        "verdicts": [
            {
                "rule": v.rule,
                "subject": v.subject,
                "outcome": v.outcome,
                "passed": v.passed,
                "value": num(v.value),
                "threshold": num(v.threshold),
                "noise": num(v.noise),
                "p_value": num(v.p_value),
                "adjusted_p": num(v.adjusted_p),
                "holds_p": num(v.holds_p),
                "holds_adjusted_p": num(v.holds_adjusted_p),
                "explanation": v.explanation,
                "details": dict(v.details),
            }
            for v in verdicts
        ],
        "notes": list(notes),
    }
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def junit_xml(verdicts: Sequence[Verdict], suite: str, inconclusive_fails: bool) -> bytes:
    """JUnit XML: one ``testcase`` per verdict, with the reason of every rule that did not hold.

    A failing rule gets a ``failure`` element; an inconclusive one an ``error`` (when those fail
    the check) or ``skipped`` element.
    """
    failures = sum(v.outcome == "fail" for v in verdicts)
    unsure = sum(v.outcome == "inconclusive" for v in verdicts)
    errors, skipped = (unsure, 0) if inconclusive_fails else (0, unsure)
    tests = str(len(verdicts))
    root = ET.Element("testsuites", tests=tests, failures=str(failures), errors=str(errors))
    node = ET.SubElement(
        root,
        "testsuite",
        name=_xml_text(suite),
        tests=tests,
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
    )
    for v in verdicts:
        case = ET.SubElement(
            node,
            "testcase",
            classname=f"phylolm.{v.rule.replace(' ', '_')}",
            name=_xml_text(v.subject),
        )
        evidence = (
            f"value {_number(v.value)}, threshold {_number(v.threshold)}, noise "
            f"{_number(v.noise)}, {_p_text(v)}"
        )
        text = _xml_text(f"{v.explanation}\n{evidence}")
        if v.outcome == "fail":
            failure = ET.SubElement(case, "failure", message=_xml_text(v.explanation), type=v.rule)
            failure.text = text
        elif v.outcome == "inconclusive":
            tag = "error" if inconclusive_fails else "skipped"
            element = ET.SubElement(
                case, tag, message=_xml_text(v.explanation), type="inconclusive"
            )
            element.text = text
        else:
            out = ET.SubElement(case, "system-out")
            out.text = text
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def check_markdown(
    verdicts: Sequence[Verdict],
    level: float,
    notes: Sequence[str],
    baseline: str,
    inconclusive_fails: bool,
) -> str:
    """Markdown summary (for ``$GITHUB_STEP_SUMMARY``): a table, failures first."""
    unsure = any(v.outcome == "inconclusive" for v in verdicts)
    if not check_passed(verdicts, inconclusive_fails):
        head = "❌ PhyloLM check failed"
        if unsure and not any(v.outcome == "fail" for v in verdicts):
            head = "❔ PhyloLM check inconclusive (counted as a failure)"
    else:
        head = "✅ PhyloLM check passed" + (
            " (inconclusive rules counted as passes)" if unsure else ""
        )
    lines = [
        f"## {head}",
        "",
        f"{_tally(verdicts, inconclusive_fails)} against `{_cell(baseline)}` "
        f"(family-wise error rate {level:g}, Holm–Bonferroni).",
        "",
        "| | rule | subject | value | threshold | noise | p (adjusted) | evidence |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in _ordered(verdicts):
        p = "–" if v.p_value is None else f"{_number(v.p_value)} ({_number(v.adjusted_p)})"
        lines.append(
            f"| {_MARK[v.outcome]} | {v.rule} | {_cell(v.subject)} | "
            f"{_number(v.value)} | {_number(v.threshold)} | {_number(v.noise)} | {p} | "
            f"{_cell(v.explanation)} |"
        )
    if notes:
        lines += ["", "**Notes**", ""] + [f"- {_cell(note)}" for note in notes]
    return "\n".join(lines) + "\n"
