"""The outputs of ``check``: console summary, JSON, JUnit XML and a Markdown summary.

JUnit XML is what CI systems render as test results (one test case per rule and model); the
Markdown summary suits ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from phylolm_harness.core.rules import Verdict

__all__ = ["check_json", "check_markdown", "console_summary", "junit_xml"]

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
    if verdict.p_value is None:
        return "no p-value"
    return f"p={_number(verdict.p_value)}, adjusted {_number(verdict.adjusted_p)}"


def console_summary(verdicts: Sequence[Verdict], level: float, notes: Sequence[str]) -> str:
    """Plain text for the terminal: one line per rule, failures first, then the notes."""
    failed = [v for v in verdicts if not v.passed]
    lines = [
        f"{'FAIL' if not v.passed else 'ok  '} {v.rule}: {v.subject}: {v.explanation} "
        f"[{_p_text(v)}]"
        for v in [*failed, *(v for v in verdicts if v.passed)]
    ]
    lines += [f"note: {note}" for note in notes]
    lines.append(
        f"{len(verdicts) - len(failed)} of {len(verdicts)} rules hold"
        + (f"; {len(failed)} failed" if failed else "")
        + f" (family-wise error rate {level:g})"
    )
    return "\n".join(lines) + "\n"


def check_json(
    verdicts: Sequence[Verdict], level: float, notes: Sequence[str], meta: Mapping[str, Any]
) -> bytes:
    """Machine-readable outcome: every verdict with its evidence."""

    def num(value: float | None) -> float | str | None:
        if value is None or math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")

    document = {
        "passed": all(v.passed for v in verdicts),
        "level": level,
        **meta,
        "verdicts": [
            {
                "rule": v.rule,
                "subject": v.subject,
                "passed": v.passed,
                "value": num(v.value),
                "threshold": num(v.threshold),
                "noise": num(v.noise),
                "p_value": num(v.p_value),
                "adjusted_p": num(v.adjusted_p),
                "explanation": v.explanation,
                "details": dict(v.details),
            }
            for v in verdicts
        ],
        "notes": list(notes),
    }
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def junit_xml(verdicts: Sequence[Verdict], suite: str) -> bytes:
    """JUnit XML: one ``testcase`` per verdict, a ``failure`` element for each failing rule."""
    failures = sum(not v.passed for v in verdicts)
    root = ET.Element("testsuites", tests=str(len(verdicts)), failures=str(failures))
    node = ET.SubElement(
        root,
        "testsuite",
        name=_xml_text(suite),
        tests=str(len(verdicts)),
        failures=str(failures),
        errors="0",
        skipped="0",
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
        if not v.passed:
            failure = ET.SubElement(case, "failure", message=_xml_text(v.explanation), type=v.rule)
            failure.text = _xml_text(f"{v.explanation}\n{evidence}")
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _xml_text(f"{v.explanation}\n{evidence}")
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def check_markdown(
    verdicts: Sequence[Verdict], level: float, notes: Sequence[str], baseline: str
) -> str:
    """Markdown summary (for ``$GITHUB_STEP_SUMMARY``): a table, failures first."""
    failed = [v for v in verdicts if not v.passed]
    head = "❌ PhyloLM check failed" if failed else "✅ PhyloLM check passed"
    lines = [
        f"## {head}",
        "",
        f"{len(verdicts) - len(failed)} of {len(verdicts)} rules hold against `{_cell(baseline)}` "
        f"(family-wise error rate {level:g}, Holm–Bonferroni).",
        "",
        "| | rule | subject | value | threshold | noise | p (adjusted) | evidence |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in [*failed, *(v for v in verdicts if v.passed)]:
        p = "–" if v.p_value is None else f"{_number(v.p_value)} ({_number(v.adjusted_p)})"
        lines.append(
            f"| {'❌' if not v.passed else '✅'} | {v.rule} | {_cell(v.subject)} | "
            f"{_number(v.value)} | {_number(v.threshold)} | {_number(v.noise)} | {p} | "
            f"{_cell(v.explanation)} |"
        )
    if notes:
        lines += ["", "**Notes**", ""] + [f"- {_cell(note)}" for note in notes]
    return "\n".join(lines) + "\n"
