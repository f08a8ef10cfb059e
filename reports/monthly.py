"""The monthly summary for the board: how many incidents, how bad, how fast they were
resolved, and what is still to do. Pure: figures in, .docx bytes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from docx.document import Document

from reports import compose, word
from reports.compose import Section
from reports.text import Clock, duration

KIND = "Monthly incident summary"


@dataclass(frozen=True)
class IncidentLine:
    reference: str
    title: str
    severity: str
    declared_at: datetime
    status: str
    time_to_resolve: timedelta | None = None
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonthlyFigures:
    month: str  # "November 2026"
    generated_at: datetime
    incidents: tuple[IncidentLine, ...] = ()
    by_severity: tuple[tuple[str, int], ...] = ()  # in the scale's order
    by_service: tuple[tuple[str, int], ...] = ()  # most first
    resolve_times: tuple[tuple[str, timedelta | None, timedelta | None], ...] = ()
    acknowledge_median: timedelta | None = None
    actions_open: int = 0
    actions_overdue: int = 0
    actions_done: int = 0
    withheld: int = 0  # security incidents counted but not listed
    organisation: str = ""
    timezone: str = "Europe/London"
    classification: str = "OFFICIAL"
    notes: tuple[str, ...] = field(default_factory=tuple)


def build_monthly(figures: MonthlyFigures, template: bytes | None = None) -> bytes:
    clock = Clock(figures.timezone)
    total = len(figures.incidents) + figures.withheld
    report = compose.Report(
        kind=KIND,
        cover=lambda d: _cover(figures, d, total),
        sections=[
            Section("summary", "Summary", lambda d: _summary(figures, d, total)),
            Section("by_severity", "By severity", lambda d: _counts(
                d, figures.by_severity, "Severity", total)),
            Section("by_service", "By service", lambda d: _counts(
                d, figures.by_service, "Service", total)),
            Section("time_to_resolve", "Time to resolve", lambda d: _times(figures, d)),
            Section("incidents", "Incidents", lambda d: _incidents(figures, clock, d)),
            Section("actions", "Follow-up actions", lambda d: _actions(figures, d)),
        ],
        values={"report_title": KIND, "organisation": figures.organisation,
                "classification": figures.classification, "title": figures.month,
                "generated_at": clock.full(figures.generated_at)},
        header_left=f"{KIND} · {figures.month}",
        classification=figures.classification,
        footer=f"{figures.organisation + ' · ' if figures.organisation else ''}Incident Desk",
        title=f"{KIND}: {figures.month}",
        subject=KIND,
        keywords=["incident", "monthly summary", figures.month],
        created=figures.generated_at,
    )
    return compose.build(report, template)


def _cover(f: MonthlyFigures, doc: Document, total: int) -> None:
    word.heading(doc, f"{KIND}: {f.month}", 0)
    org = f"{f.organisation} · " if f.organisation else ""
    word.aside(doc, f"{org}made by Incident Desk on {Clock(f.timezone).full(f.generated_at)}.")


def _summary(f: MonthlyFigures, doc: Document, total: int) -> None:
    if not total:
        word.prose(doc, f"There were no incidents in {f.month}.")
        return
    lines = [f"{total} incident{'s' if total != 1 else ''} were declared in {f.month}."]
    if f.by_severity:
        worst = next(((label, n) for label, n in f.by_severity if n), None)
        if worst:
            lines.append(f"The most severe level reached was {worst[0]} ({worst[1]}).")
    if f.acknowledge_median is not None:
        lines.append(f"A person was working on a new incident within "
                     f"{duration(f.acknowledge_median) or 'a minute'} (median).")
    lines.append(f"Follow-up actions: {f.actions_open} open, {f.actions_overdue} overdue, "
                 f"{f.actions_done} done.")
    if f.withheld:
        lines.append(f"{f.withheld} of them were security incidents, counted here but not "
                     "listed.")
    word.prose(doc, " ".join(lines))
    for note in f.notes:
        word.aside(doc, note)


def _counts(doc: Document, rows, label: str, total: int) -> None:
    if not rows:
        word.aside(doc, "None.")
        return
    word.table(doc, (8.0, 3.0, 6.0), [
        (name, f"{count:,}", "█" * round(20 * count / total) if total else "")
        for name, count in rows], (label, "Incidents", ""))


def _times(f: MonthlyFigures, doc: Document) -> None:
    rows = [(label, duration(median) or "—", duration(p90) or "—")
            for label, median, p90 in f.resolve_times]
    if not rows:
        word.aside(doc, "Nothing was resolved this month.")
        return
    word.table(doc, (6.0, 5.5, 5.5), rows, ("Severity", "Median", "90th percentile"))
    word.aside(doc, "From declaration to resolution (users no longer affected).",
               after_table=True)


def _incidents(f: MonthlyFigures, clock: Clock, doc: Document) -> None:
    if not f.incidents:
        word.aside(doc, "None to list.")
        return
    word.table(doc, (3.2, 6.3, 1.8, 3.0, 2.7), [
        (i.reference, i.title, i.severity, clock.short(i.declared_at),
         duration(i.time_to_resolve) if i.time_to_resolve else i.status.capitalize())
        for i in f.incidents], ("Reference", "Title", "Severity", "Declared", "Resolved in"))


def _actions(f: MonthlyFigures, doc: Document) -> None:
    word.table(doc, (8.0, 9.0), [("Open", f"{f.actions_open:,}"),
                                 ("Overdue", f"{f.actions_overdue:,}"),
                                 ("Done", f"{f.actions_done:,}")], key_column=True)
