"""What CI systems read from a check: JUnit XML (one testcase per budget) and a Markdown summary for
``$GITHUB_STEP_SUMMARY``. The JUnit file is written atomically; the summary is appended to in place (same file,
mode and links), as GitHub expects several steps to add to the same summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from edgekit.fsutil import append_text, write_atomic
from edgekit.report.gate import Outcome, fmt

_ICON = {"pass": "✅", "fail": "❌", "skip": "⚠️"}


def junit_xml(outcome: Outcome, suite: str = "edgekit.check") -> str:
    res = outcome.results
    counts = {
        "tests": str(len(res)),
        "failures": str(len(outcome.failed)),
        "errors": "0",
        "skipped": str(sum(r.status == "skip" for r in res)),
    }
    root = ET.Element("testsuites", name=suite, **counts)
    ts = ET.SubElement(
        root, "testsuite", name=suite, timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"), **counts
    )
    for r in res:
        tc = ET.SubElement(ts, "testcase", classname=f"{suite}.{r.artifact}", name=r.budget, time="0")
        if r.status == "fail":
            failure = ET.SubElement(tc, "failure", message=r.message, type="BudgetExceeded")
            failure.text = f"measured {fmt(r.measured, r.unit)}, limit {fmt(r.limit, r.unit)}"
        elif r.status == "skip":
            ET.SubElement(tc, "skipped", message=r.message)
        ET.SubElement(tc, "system-out").text = r.message
    if outcome.warnings:
        ET.SubElement(ts, "system-err").text = "\n".join(outcome.warnings)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def markdown_summary(outcome: Outcome, title: str = "edgekit check") -> str:
    n, bad = len(outcome.results), len(outcome.failed)
    skipped = sum(r.status == "skip" for r in outcome.results)
    if not outcome.passed:
        head = f"## {_ICON['fail']} {title}: {bad} of {n} budgets broken"
    elif skipped:  # a skipped gate is not a met one: say so in the headline, not only in its row
        head = f"## {_ICON['skip']} {title}: {n - skipped} of {n} budgets met, {skipped} not checked"
    else:
        head = f"## {_ICON['pass']} {title}: all {n} budgets met"
    lines = [head, "", "| | budget | artifact | measured | limit |", "|---|---|---|---:|---:|"]
    for r in outcome.results:
        lines.append(
            f"| {_ICON[r.status]} | `{r.budget}` | {r.artifact} | {fmt(r.measured, r.unit)} | {fmt(r.limit, r.unit)} |"
        )
    if outcome.warnings:
        lines.append("")
        lines += [f"> ⚠️ {w}" for w in outcome.warnings]
    return "\n".join(lines) + "\n"


def write_junit(outcome: Outcome, path: Path) -> None:
    write_atomic(path, junit_xml(outcome))


def append_summary(outcome: Outcome, path: Path) -> None:
    path = Path(path)
    old_size = path.stat().st_size if path.is_file() else 0
    append_text(path, ("\n" if old_size else "") + markdown_summary(outcome))
