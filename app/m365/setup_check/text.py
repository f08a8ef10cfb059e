"""The check's report as plain text, for a terminal or a pipeline's log."""

from __future__ import annotations

from app.m365.setup_check.results import FAILED, NOT_APPLICABLE, NOT_CHECKED, PASSED, Report

LABELS = {PASSED: "PASS", FAILED: "FAIL", NOT_CHECKED: "NOT CHECKED",
          NOT_APPLICABLE: "N/A"}


def printable(text: str) -> str:
    """One line with no control characters (a Graph message or a setting could carry
    terminal escapes or line breaks that would forge log lines)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def as_text(report: Report) -> str:
    lines = [f"Microsoft 365 set-up check: {printable(report.where)}", ""]
    for finding in report.findings:
        lines.append(f"{LABELS[finding.status]:<11} {printable(finding.title)} "
                     f"({printable(finding.needs)})")
        lines.append(f"{'':<12}{printable(finding.detail)}")
        if finding.fix:
            lines.append(f"{'':<12}Fix: {printable(finding.fix)}")
        for command in finding.commands:
            lines += [f"{'':<16}{printable(line)}" for line in command.splitlines()]
        if finding.docs:
            lines.append(f"{'':<12}See {printable(finding.docs)}")
    counts = report.counts()
    lines += ["", ", ".join(f"{counts[status]} {status}" for status in counts) + ".",
              "All passed." if report.all_passed else "Not everything passed."]
    return "\n".join(lines)
