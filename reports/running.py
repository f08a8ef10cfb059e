"""The running incident report: started at declaration and refreshed as the incident moves.

Internal and complete: who held which role, every timeline entry with names, every
status update sent. Playbook 000 keeps it in SharePoint under the day's date.
"""

from __future__ import annotations

from docx.document import Document

from reports import compose, sections, word
from reports.compose import Section
from reports.sections import Context, details
from reports.snapshot import IncidentSnapshot
from reports.text import label

KIND = "Running incident report"
REFRESHED = ("Made by Incident Desk from the incident record and remade as the incident "
             "moves: edits made in this file are replaced at the next refresh.")


def build_running(snapshot: IncidentSnapshot, template: bytes | None = None) -> bytes:
    """The running report as .docx bytes, in `template`'s styles if one is given."""
    ctx = sections.context(snapshot)
    report = compose.Report(
        kind=KIND,
        cover=sections.cover(ctx, KIND),
        sections=[
            Section("overview", "Overview", lambda d: _overview(ctx, d)),
            Section("impact", "Impact", lambda d: sections.impact(ctx, d)),
            Section("severity_history", "Severity history",
                    lambda d: sections.severity_history(ctx, d)),
            Section("roles", "Roles", lambda d: sections.roles(ctx, d)),
            Section("timeline", "Timeline", lambda d: sections.timeline(ctx, d)),
            Section("updates", "Status updates sent", lambda d: sections.updates(ctx, d)),
            Section("actions", "Actions", lambda d: sections.actions(ctx, d)),
        ],
        values=sections.values(ctx, KIND),
        header_left=f"{snapshot.reference} · {KIND}",
        classification=snapshot.classification,
        footer=sections.footer(ctx),
        title=f"{snapshot.reference}: {snapshot.title}",
        subject=KIND,
        keywords=sections.keywords(ctx, "running report"),
        created=snapshot.generated_at,
        comments=REFRESHED,
    )
    return compose.build(report, template)


def _overview(ctx: Context, doc: Document) -> None:
    snap, clock = ctx.snap, ctx.clock
    rows = [
        ("Reference", snap.reference),
        ("Title", snap.title),
        ("Severity", snap.severity_display),
        ("Status", label(snap.status)),
        ("Security or data breach", "Yes" if snap.is_security else "No"),
        ("Services affected", ", ".join(snap.services) or "None recorded"),
        ("Declared", clock.full(snap.declared_at)),
        ("Declared by", snap.declared_by or "Not recorded"),
    ]
    if snap.resolved_at:
        rows.append(("Resolved", clock.full(snap.resolved_at)))
    if snap.closed_at:
        rows.append(("Closed", clock.full(snap.closed_at)))
    details(doc, rows)
    word.heading(doc, "What is happening", 2)
    word.prose(doc, snap.description, empty="No description yet.")
    if snap.resolution:
        word.heading(doc, "Resolution", 2)
        word.prose(doc, snap.resolution)
