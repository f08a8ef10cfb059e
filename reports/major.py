"""The major-incident report the central team asks for after a P1 or critical incident.

Playbook 000: reported once the incident is closed, then updated with lessons learnt
after the review, so empty review sections say what is still to come rather than vanish.
"""

from __future__ import annotations

from docx.document import Document

from reports import compose, sections, word
from reports.compose import Section
from reports.sections import Context, details
from reports.snapshot import IncidentSnapshot
from reports.text import duration, label

KIND = "Major incident report"
AFTER_REVIEW = "To be added after the incident review."


def build_major(snapshot: IncidentSnapshot, template: bytes | None = None) -> bytes:
    """The major-incident report as .docx bytes, in `template`'s styles if one is given."""
    ctx = sections.context(snapshot)
    report = compose.Report(
        kind=KIND,
        cover=sections.cover(ctx, KIND),
        sections=[
            Section("overview", "Summary", lambda d: _summary(ctx, d)),
            Section("what_happened", "What happened", lambda d: _what_happened(ctx, d)),
            Section("impact", "Impact", lambda d: sections.impact(ctx, d)),
            Section("times", "Key times", lambda d: _times(ctx, d)),
            Section("contributing_factors", "Contributing factors",
                    lambda d: word.bullets(d, snapshot.contributing_factors, AFTER_REVIEW)),
            Section("actions", "Actions", lambda d: sections.actions(ctx, d)),
            Section("lessons", "Lessons learnt",
                    lambda d: word.bullets(d, snapshot.lessons_learnt, AFTER_REVIEW)),
        ],
        values=sections.values(ctx, KIND),
        header_left=f"{snapshot.reference} · {KIND}",
        classification=snapshot.classification,
        footer=sections.footer(ctx),
        title=f"Major incident {snapshot.reference}: {snapshot.title}",
        subject=KIND,
        keywords=sections.keywords(ctx, "major incident"),
        created=snapshot.generated_at,
    )
    return compose.build(report, template)


def _summary(ctx: Context, doc: Document) -> None:
    snap = ctx.snap
    details(doc, [
        ("Reference", snap.reference),
        ("Title", snap.title),
        ("Organisation", snap.organisation),
        ("Services affected", ", ".join(snap.services) or "None recorded"),
        ("Severity", snap.severity_display),
        ("Security or data breach", "Yes" if snap.is_security else "No"),
        ("Status", label(snap.status)),
        ("Reported by", snap.declared_by or "Not recorded"),
        ("Incident team", sections.current_team(ctx) or "Not recorded"),
    ])


def _what_happened(ctx: Context, doc: Document) -> None:
    snap = ctx.snap
    word.prose(doc, snap.summary or snap.description, empty="No description yet.")
    word.heading(doc, "How it was resolved", 2)
    word.prose(doc, snap.resolution, empty="Not resolved yet." if snap.resolved_at is None
               else "No resolution was recorded.")


def _times(ctx: Context, doc: Document) -> None:
    snap, clock = ctx.snap, ctx.clock
    rows = [
        ("Detected", clock.full(snap.started_at)),
        ("Declared", clock.full(snap.declared_at)),
        ("Resolved", clock.full(snap.resolved_at, "Not yet")),
        ("Closed", clock.full(snap.closed_at, "Not yet")),
    ]
    if snap.detected_at and snap.detected_at < snap.declared_at:
        rows.append(("Detected to declared", duration(snap.declared_at - snap.detected_at)))
    rows.append(("Duration", duration(snap.duration) if snap.duration is not None
                 else "Ongoing"))
    details(doc, rows)
    word.aside(doc, "Duration runs from detection (or declaration) to resolution.",
               after_table=True)
