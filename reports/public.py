"""The abridged version for clients or the status page: only what is safe to publish.

Title, times, the impact, what happened in plain words and what is being done about it.
No names (people are "our team"), no internal timeline, description, resolution notes,
owners or links. Security incidents are never published automatically (playbook 001):
publishing could cause further harm, so a person writes that statement by hand.
"""

from __future__ import annotations

from docx.document import Document

from reports import compose, sections, word
from reports.compose import Section
from reports.people import Mode
from reports.sections import DONE, FINISHED, Context, details
from reports.snapshot import IncidentSnapshot
from reports.text import duration

KIND = "Incident report"


class NotPublishable(Exception):
    """This incident must not be published automatically."""


def build_public(snapshot: IncidentSnapshot, template: bytes | None = None) -> bytes:
    """The public version as .docx bytes. Raises NotPublishable for security incidents."""
    if snapshot.is_security:
        raise NotPublishable(
            f"{snapshot.reference} is a security incident: security incidents are never "
            "published automatically, as publishing could cause further harm. Agree a "
            "statement with the people handling it and publish that by hand.")
    ctx = sections.context(snapshot, Mode.PUBLIC)
    report = compose.Report(
        kind=KIND,
        cover=lambda d: _cover(ctx, d),
        sections=[
            Section("what_happened", "What happened", lambda d: _what_happened(ctx, d)),
            Section("times", "When it happened", lambda d: _times(ctx, d)),
            Section("impact", "Who was affected", lambda d: _impact(ctx, d)),
            Section("prevention", "What we are doing to stop it happening again",
                    lambda d: _prevention(ctx, d)),
        ],
        values=sections.values(ctx, KIND),
        header_left=snapshot.reference,
        classification="Public",
        footer=sections.footer(ctx),
        title=f"{KIND}: {ctx.namer.scrub(snapshot.title)}",
        subject=KIND,
        keywords=sections.keywords(ctx, "public"),
        created=snapshot.generated_at,
    )
    return compose.build(report, template)


def _cover(ctx: Context, doc: Document) -> None:
    snap = ctx.snap
    word.heading(doc, f"{KIND}: {ctx.namer.scrub(snap.title)}", 0)
    org = f"{snap.organisation} · " if snap.organisation else ""
    word.paragraph(doc, f"{org}{snap.reference} · {ctx.clock.full(snap.generated_at)}",
                   style="Subtitle")


def _what_happened(ctx: Context, doc: Document) -> None:
    written = ctx.snap.public_summary or ctx.snap.summary
    if written:
        word.prose(doc, ctx.namer.scrub(written))
    else:
        word.paragraph(doc, sections.plain_summary(ctx))


def _times(ctx: Context, doc: Document) -> None:
    snap, clock = ctx.snap, ctx.clock
    details(doc, [
        ("Started", clock.full(snap.started_at)),
        ("Resolved", clock.full(snap.resolved_at, "Not yet: we are still working on it")),
        ("Duration", duration(snap.duration) or "Ongoing"),
    ])


def _impact(ctx: Context, doc: Document) -> None:
    snap = ctx.snap
    rows = [("Services affected", ", ".join(snap.services) or "None")]
    if snap.impact.users_affected is not None:
        rows.append(("Users affected", f"About {snap.impact.users_affected:,}"))
    details(doc, rows)
    word.prose(doc, ctx.namer.scrub(snap.impact.summary), after_table=True)


def _prevention(ctx: Context, doc: Document) -> None:
    items = []
    for action in ctx.snap.actions:
        status = action.status.lower()
        if action.public and (status in DONE or status not in FINISHED):
            done = " (done)" if status in DONE else ""
            items.append(ctx.namer.scrub(action.description) + done)
    word.bullets(doc, items, empty="We are reviewing the incident and will add here the "
                                   "steps we take.")
