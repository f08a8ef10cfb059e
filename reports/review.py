"""The post-incident review report: a draft to circulate before the meeting, then final.

Playbooks 000/003/004: a plain-English introduction, an overview with impact figures, the
timeline, contributing factors and a few actions. The draft is marked DRAFT everywhere
and, by default, its timeline names roles rather than people (a blameless review).
"""

from __future__ import annotations

from docx.document import Document

from reports import compose, sections, word
from reports.compose import Section
from reports.people import Mode
from reports.sections import Context, details
from reports.snapshot import IncidentSnapshot
from reports.text import duration, label
from reports.word import Span

KIND = "Post-incident review"
TO_DISCUSS = "To be discussed at the review meeting."
BLAMELESS = ("This review is blameless. We believe everyone involved did the best job they "
             "could with what they knew at the time. It sets out how the incident happened "
             "and how we responded, so that we can learn from it, not who was at fault.")
# Playbook 003's key questions: the draft's prompts until answers are recorded.
PROMPTS = (
    "What made us declare an incident? What triggered this?",
    "How did we respond, and what were the key decision points?",
    "Have we taken all the restorative actions that we need to take?",
    "Do we have a plan for communicating with the people affected?",
    "How could we do better at responding to incidents?",
    "How could we prevent this kind of incident from happening again?",
)


def build_review(snapshot: IncidentSnapshot, template: bytes | None = None, *,
                 final: bool = False, blameless: bool | None = None) -> bytes:
    """The review as .docx bytes. `blameless` defaults to `not final`."""
    blameless = (not final) if blameless is None else blameless
    ctx = sections.context(snapshot, Mode.BLAMELESS if blameless else Mode.NAMED)
    ref = snapshot.reference
    notices = [] if final else [
        "DRAFT for comment before the review meeting: some sections are still to be "
        "completed." + (" Names are left out of the timeline." if blameless else "")]
    report = compose.Report(
        kind=KIND,
        cover=sections.cover(ctx, KIND if final else f"{KIND} (draft)", notices),
        sections=_sections(ctx, final),
        values=sections.values(ctx, KIND, draft=not final),
        header_left=f"{ref} · {KIND}" if final else [Span("DRAFT", bold=True),
                                                       Span(f" · {ref} · {KIND}")],
        classification=snapshot.classification,
        footer=sections.footer(ctx),
        title=f"{'' if final else 'DRAFT '}{KIND} {ref}: {ctx.namer.scrub(snapshot.title)}",
        subject=KIND if final else f"{KIND} (draft)",
        keywords=sections.keywords(ctx, "review", "final" if final else "draft"),
        created=snapshot.generated_at,
        alert="" if final else "DRAFT",
    )
    return compose.build(report, template)


def _sections(ctx: Context, final: bool) -> list[Section]:
    snap = ctx.snap
    pending = "None recorded." if final else TO_DISCUSS
    found = [
        Section("introduction", "Introduction", lambda d: _introduction(ctx, d)),
        Section("overview", "Overview", lambda d: _overview(ctx, d)),
        Section("timeline", "Timeline", lambda d: sections.timeline(ctx, d)),
        Section("contributing_factors", "Contributing factors",
                lambda d: word.bullets(d, snap.contributing_factors, pending)),
    ]
    if snap.what_went_well or not final:
        found.append(Section("what_went_well", "What went well",
                             lambda d: word.bullets(d, snap.what_went_well, pending)))
    found.append(Section("lessons", "Lessons learnt",
                         lambda d: word.bullets(d, snap.lessons_learnt, pending)))
    if snap.key_questions or not final:
        found.append(Section("key_questions", "Key questions",
                             lambda d: _questions(ctx, d)))
    found.append(Section("actions", "Actions", lambda d: sections.actions(ctx, d)))
    return found


def _introduction(ctx: Context, doc: Document) -> None:
    word.paragraph(doc, sections.plain_summary(ctx))
    word.prose(doc, ctx.namer.scrub(ctx.snap.summary))
    word.paragraph(doc, BLAMELESS)


def _overview(ctx: Context, doc: Document) -> None:
    snap, clock = ctx.snap, ctx.clock
    users = snap.impact.users_affected
    details(doc, [
        ("Reference", snap.reference),
        ("Severity", snap.severity_display),
        ("Security or data breach", "Yes" if snap.is_security else "No"),
        ("Services affected", ", ".join(snap.services) or "None recorded"),
        ("Users affected", "Not known" if users is None else f"{users:,}"),
        ("Duration of impact", duration(snap.duration) or "Ongoing"),
        ("Detected", clock.full(snap.started_at)),
        ("Declared", clock.full(snap.declared_at)),
        ("Resolved", clock.full(snap.resolved_at, "Not yet")),
        ("Closed", clock.full(snap.closed_at, "Not yet")),
        ("Status", label(snap.status)),
    ])
    word.prose(doc, ctx.namer.scrub(snap.impact.summary), after_table=True,
               empty="The impact is still to be described.")


def _questions(ctx: Context, doc: Document) -> None:
    if not ctx.snap.key_questions:
        word.aside(doc, "Questions for the review meeting:")
        word.bullets(doc, PROMPTS)
        return
    for qa in ctx.snap.key_questions:
        word.paragraph(doc, Span(qa.question, bold=True)).paragraph_format.keep_with_next = True
        word.prose(doc, ctx.namer.scrub(qa.answer), empty="Not answered yet.")
