"""What the set-up check found: one finding per thing Incident Desk needs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

PASSED = "passed"
FAILED = "failed"
NOT_CHECKED = "not checked"  # could not be tried (something before it failed, or time ran out)
NOT_APPLICABLE = "not applicable"  # a feature left switched off, or no person to check
STATUSES = (PASSED, FAILED, NOT_CHECKED, NOT_APPLICABLE)


@dataclass(frozen=True)
class Outcome:
    """What one probe saw (`detail`) and, when it failed, what fixes it: the words, any
    commands to run, and Microsoft's page about it."""

    status: str
    detail: str
    fix: str = ""
    commands: tuple[str, ...] = ()
    docs: str = ""


def passed(detail: str) -> Outcome:
    return Outcome(PASSED, detail)


def failed(detail: str, fix) -> Outcome:
    """`fix`: words, or a fixes.Fix with commands."""
    if isinstance(fix, str):
        return Outcome(FAILED, detail, fix)
    return Outcome(FAILED, detail, fix.text, fix.commands, fix.docs)


def not_checked(reason: str) -> Outcome:
    return Outcome(NOT_CHECKED, reason)


def not_applicable(reason: str) -> Outcome:
    return Outcome(NOT_APPLICABLE, reason)


@dataclass(frozen=True)
class Finding:
    key: str
    title: str
    status: str
    detail: str
    fix: str = ""
    section: str = ""  # Sign-in, Teams, Outlook, SharePoint
    needs: str = ""  # the permission or setting it rests on
    commands: tuple[str, ...] = ()
    docs: str = ""


@dataclass(frozen=True)
class Report:
    where: str  # which Microsoft 365 was checked
    findings: tuple[Finding, ...]

    @property
    def all_passed(self) -> bool:
        """Nothing failed and nothing that applies went unchecked."""
        return not any(f.status in (FAILED, NOT_CHECKED) for f in self.findings)

    def counts(self) -> dict[str, int]:
        found = Counter(f.status for f in self.findings)
        return {status: found[status] for status in STATUSES}

    def sections(self) -> list[tuple[str, list[Finding]]]:
        """The findings by section, in the order they were checked."""
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.section, []).append(finding)
        return list(grouped.items())

    def finding(self, key: str) -> Finding:
        return next(f for f in self.findings if f.key == key)
