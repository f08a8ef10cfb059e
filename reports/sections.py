"""Sections more than one report shows, written once.

Each function appends one section's content (no heading: `compose` adds that when the
section is not placed by a template) and formats times through the snapshot's zone and
people through the report's `Namer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from docx.document import Document

from reports import word
from reports.compose import Render
from reports.people import Mode, Namer
from reports.snapshot import Action, IncidentSnapshot, TimelineItem
from reports.text import Clock, duration, label
from reports.word import Rich, Span

DONE = frozenset({"done", "closed", "complete", "completed"})
FINISHED = DONE | {"cancelled", "won't do", "wont do"}  # not chased when overdue
FULL_WIDTH = 17.0  # cm between the built-in look's margins
SECURITY_NOTICE = ("Security or data breach: share this report only with the people "
                   "handling the incident.")
TIME = 3.9  # "13 Mar 2026 09:12 GMT" on one line


@dataclass(frozen=True)
class Context:
    snap: IncidentSnapshot
    clock: Clock
    namer: Namer


def context(snap: IncidentSnapshot, mode: Mode = Mode.NAMED) -> Context:
    return Context(snap, Clock(snap.timezone), Namer(snap, mode))


def values(ctx: Context, kind: str, *, draft: bool = False) -> dict[str, str]:
    """Inline placeholder values (see docs/report-templates.md)."""
    snap, clock, namer = ctx.snap, ctx.clock, ctx.namer
    public = namer.mode is Mode.PUBLIC
    users = snap.impact.users_affected
    return {
        "reference": snap.reference,
        "title": namer.scrub(snap.title),
        "severity": snap.severity_display,
        "status": label(snap.status),
        "security": "Yes" if snap.is_security else "No",
        "services": ", ".join(snap.services),
        "declared_at": clock.full(snap.declared_at),
        "declared_by": "" if public else namer.who(snap.declared_by, snap.declared_at),
        "detected_at": clock.full(snap.started_at),
        "resolved_at": clock.full(snap.resolved_at),
        "closed_at": clock.full(snap.closed_at),
        "duration": duration(snap.duration),
        "description": "" if public else snap.description,
        "resolution": "" if public else snap.resolution,
        "impact": namer.scrub(snap.impact.summary),
        "users_affected": "" if users is None else f"{users:,}",
        "organisation": snap.organisation,
        "classification": "Public" if public else snap.classification,
        "generated_at": clock.full(snap.generated_at),
        "timezone": snap.timezone,
        "report_title": kind,
        "draft": "DRAFT" if draft else "",
    }


def footer(ctx: Context) -> str:
    snap = ctx.snap
    if ctx.namer.mode is Mode.PUBLIC:
        return snap.organisation
    made = f"Incident Desk, {ctx.clock.short(snap.generated_at)}"
    return f"{snap.organisation} · {made}" if snap.organisation else made


def keywords(ctx: Context, *extra: str) -> list[str]:
    """Document keywords: the reference first, so a SharePoint search finds every report."""
    snap = ctx.snap
    words = [snap.reference, "incident", snap.severity_display, *snap.services, *extra]
    if snap.is_security and ctx.namer.mode is not Mode.PUBLIC:
        words.append("security")
    return words


def cover(ctx: Context, kind: str, notices: Sequence[str] = ()) -> Render:
    """Title, the incident under it, any warnings, and when and where it came from."""
    def render(doc: Document) -> None:
        snap = ctx.snap
        word.heading(doc, kind, 0)
        word.paragraph(doc, f"{snap.reference}: {ctx.namer.scrub(snap.title)}",
                       style="Subtitle")
        for text in notices:
            word.notice(doc, text)
        if snap.is_security:
            word.notice(doc, SECURITY_NOTICE)
        made = f"Prepared by Incident Desk on {ctx.clock.full(snap.generated_at)}"
        if snap.organisation:
            made += f" for {snap.organisation}"
        word.aside(doc, f"{made}. Times are shown in {snap.timezone} time.")
    return render


def details(doc: Document, rows: Sequence[tuple[str, Rich]]) -> None:
    word.table(doc, (4.5, FULL_WIDTH - 4.5),
               [(Span(k, bold=True), v if v else "—") for k, v in rows], key_column=True)


def impact(ctx: Context, doc: Document) -> None:
    snap = ctx.snap
    users = snap.impact.users_affected
    span = snap.duration
    details(doc, [
        ("Users affected", "Not known yet" if users is None else f"{users:,}"),
        ("Duration", duration(span) if span is not None else "Ongoing"),
        ("Services affected", ", ".join(snap.services) or "None recorded"),
    ])
    word.prose(doc, ctx.namer.scrub(snap.impact.summary),
               empty="No description of the impact has been written yet.", after_table=True)


def severity_history(ctx: Context, doc: Document) -> None:
    snap, clock, namer = ctx.snap, ctx.clock, ctx.namer
    changes = sorted(snap.severity_changes, key=lambda c: c.changed_at)
    first = changes[0].from_severity if changes else snap.severity_display
    rows = [(clock.short(snap.declared_at), f"Declared as {first}",
             namer.who(snap.declared_by, snap.declared_at), "")]
    rows += [(clock.short(c.changed_at), f"{c.from_severity} → {c.to_severity}",
              namer.who(c.by, c.changed_at), namer.scrub(c.reason, c.changed_at))
             for c in changes]
    word.table(doc, (TIME, 3.6, 3.6, FULL_WIDTH - TIME - 7.2), rows,
               ("Time", "Severity", "By", "Reason"))


def roles(ctx: Context, doc: Document) -> None:
    snap, clock = ctx.snap, ctx.clock
    if not snap.roles:
        word.aside(doc, "No roles have been assigned yet.")
        return
    current = sorted(snap.current_roles(), key=lambda r: r.assigned_at)
    details(doc, [(r.role, f"{r.person} (since {clock.short(r.assigned_at)})")
                  for r in current] or [("Current roles", "None: every role was released")])
    word.heading(doc, "Who held each role", 2)
    spells = sorted(snap.roles, key=lambda r: r.assigned_at)
    word.table(doc, (3.4, FULL_WIDTH - 3.4 - 2 * TIME, TIME, TIME),
               [(r.role, r.person, clock.short(r.assigned_at),
                 clock.short(r.released_at) or "Still holds it") for r in spells],
               ("Role", "Person", "From", "Until"))


def timeline(ctx: Context, doc: Document) -> None:
    """Time, what happened (with any reason given), who; oldest first."""
    snap, clock, namer = ctx.snap, ctx.clock, ctx.namer
    if not snap.timeline:
        word.aside(doc, "Nothing has been recorded yet.")
        return
    if namer.mode is Mode.BLAMELESS:
        word.aside(doc, "This timeline names roles, not people: it is about what "
                        "happened and why, not who to blame.")
    rows = []
    for item in sorted(snap.timeline, key=lambda i: i.occurred_at):
        what: list[Span] = [Span(namer.timeline_text(item))]
        note = item.data.get("note")
        if isinstance(note, str) and note.strip():
            what.append(Span(f"\nReason: {namer.scrub(note.strip(), item.occurred_at)}",
                             italic=True))
        if item.corrected_at is not None:
            what.append(Span(f"\n{corrected(ctx, item)}", italic=True))
        what += teams_source(ctx, item)
        rows.append((clock.short(item.occurred_at), what,
                     namer.who(item.author, item.occurred_at)))
    word.table(doc, (TIME, FULL_WIDTH - TIME - 3.6, 3.6), rows, ("Time", "What happened", "Who"))


def teams_source(ctx: Context, item: TimelineItem) -> list[Span]:
    """"From a Teams message by Ada Lovelace, posted 3 Mar 2026 10:02 GMT" and a link
    to it, for an entry added from a message (data["teams_message"]: who wrote it, when,
    its link) or read in by the import page (kind "teams_message", its link only). The
    writer is named as free text names people (the role held then, or "a responder", in
    a blameless draft: people.Namer.scrub)."""
    source = item.data.get("teams_message")
    if not isinstance(source, Mapping):
        if item.kind != "teams_message" or not item.data.get("web_url"):
            return []
        source = {"web_url": item.data.get("web_url")}
    posted = source.get("sent_at")
    try:
        when = datetime.fromisoformat(posted) if isinstance(posted, str) else None
    except ValueError:
        when = None
    sender = source.get("sender") if isinstance(source.get("sender"), str) else ""
    said = "From a Teams message" + (f" by {sender}" if sender.strip() else "")
    said = ctx.namer.scrub(said, when or item.occurred_at) + (
        f", posted {ctx.clock.short(when)}" if when and when.tzinfo else "")
    spans = [Span(f"\n{said}", italic=True)]
    url = source.get("web_url")
    if isinstance(url, str) and url.startswith("https://"):
        spans += [Span(": ", italic=True), Span("open it in Teams", url=url)]
    return spans


def corrected(ctx: Context, item: TimelineItem) -> str:
    """"Corrected by Ada Lovelace at 3 Mar 2026 10:02 GMT" (the role, where names are
    left out): the words shown may not be the author's."""
    by = ctx.namer.who(item.corrected_by, item.corrected_at)
    return f"Corrected{f' by {by}' if by else ''} at {ctx.clock.short(item.corrected_at)}"


def updates(ctx: Context, doc: Document) -> None:
    snap, clock, namer = ctx.snap, ctx.clock, ctx.namer
    if not snap.updates:
        word.aside(doc, "No status updates have been sent yet.")
        return
    rows = []
    for u in sorted(snap.updates, key=lambda u: u.created_at):
        audience = [f"{u.recipients:,} {'person' if u.recipients == 1 else 'people'}"] \
            if u.recipients else []
        if u.to_channel:
            audience.insert(0, "Teams channel")
        sent = " and ".join(audience) or "Nobody"
        by = namer.who(u.author, u.created_at)
        rows.append((clock.short(u.created_at), label(u.phase),
                     namer.scrub(u.message, u.created_at),
                     [Span(sent), Span(f"\nby {by}", italic=True)] if by else sent))
    word.table(doc, (TIME, 2.4, FULL_WIDTH - TIME - 6.0, 3.6), rows,
               ("Sent", "Phase", "Message", "Sent to"))


def _action_status(ctx: Context, action: Action) -> Rich:
    status = label(action.status) or "Open"
    overdue = (action.due is not None and action.status.lower() not in FINISHED
               and action.due < ctx.snap.generated_at.date())
    return [Span(status), Span(" (overdue)", bold=True)] if overdue else status


def actions(ctx: Context, doc: Document) -> None:
    if not ctx.snap.actions:
        word.aside(doc, "No follow-up actions have been agreed yet.")
        return
    rows = []
    for a in ctx.snap.actions:
        what: list[Span] = [Span(a.description)]
        if a.link:
            what += [Span("\n"), Span(a.link, url=a.link)]
        rows.append((what, a.owner or "Not assigned", Clock.day(a.due) or "—",
                     _action_status(ctx, a)))
    word.table(doc, (8.0, 3.6, 2.6, 2.8), rows, ("Action", "Owner", "Due", "Status"))


def plain_summary(ctx: Context) -> str:
    """What happened in a few plain sentences, from the facts alone."""
    snap, clock = ctx.snap, ctx.clock
    title = ctx.namer.scrub(snap.title)
    text = f"On {clock.full(snap.declared_at)} we declared an incident: {title}."
    if snap.services:
        text += f" It affected {_and(snap.services)}."
    if snap.impact.users_affected is not None:
        users = snap.impact.users_affected
        text += f" About {users:,} {'user was' if users == 1 else 'users were'} affected."
    if snap.resolved_at is None:
        text += " It has not been resolved yet."
    else:
        text += f" It was resolved on {clock.full(snap.resolved_at)}"
        text += f", {duration(snap.duration)} after it began." if snap.duration else "."
    return text


def _and(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def current_team(ctx: Context) -> str:
    """"Incident lead: Ada Lovelace; Comms lead: Grace Hopper"."""
    return "; ".join(f"{r.role}: {r.person}" for r in
                     sorted(ctx.snap.current_roles(), key=lambda r: r.assigned_at))
