"""The post-incident review as a document: saving its findings, and asking for the
reports that depend on them (the review meeting is app/review_meetings)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.core import clock
from app.core.org import OrgSettings
from app.db import transaction
from app.documents import service
from app.documents.kinds import MAJOR, PUBLIC, REVIEW_DRAFT, REVIEW_FINAL
from app.documents.models import Review
from app.incidents import timeline
from app.incidents.models import Incident
from app.incidents.rules import RuleError


@dataclass(frozen=True)
class Findings:
    summary: str = ""
    impact_summary: str = ""
    users_affected: int | None = None
    contributing_factors: str = ""
    what_went_well: str = ""
    lessons_learnt: str = ""
    public_summary: str = ""
    answers: dict | None = None
    name_people_in_draft: bool = False


def can_review(incident: Incident) -> bool:
    """A review looks back: it starts once users are no longer affected."""
    return not incident.is_open


def get(session: Session, incident: Incident) -> Review | None:
    return session.get(Review, incident.id)


def save(session: Session, org: OrgSettings, actor, incident: Incident, findings: Findings,
         write: str | None = None, *, installation, outbox: service.Outbox) -> list[int]:
    """Store the findings; `write` "draft" or "final" also asks for that report (and, for
    final, updates the major-incident and public reports, and stops the draft: a final
    review has no newer draft). Returns the report ids asked for (empty where reports
    are not kept in SharePoint). `installation` says where reports go; `outbox` is where
    their writes wait (app.outbox.service)."""
    if not can_review(incident):
        raise RuleError("The review starts once the incident is resolved.")
    existing = session.get(Review, incident.id)
    if write == "draft" and existing is not None and existing.finalised_at is not None:
        # A draft written now would be newer than the final in the library.
        raise RuleError("The review is final: save and write the final report to change it.")
    now = clock.now()
    review = existing or Review(incident_id=incident.id)
    session.add(review)
    review.summary = findings.summary.strip()
    review.impact_summary = findings.impact_summary.strip()
    review.users_affected = findings.users_affected
    review.contributing_factors = findings.contributing_factors.strip()
    review.what_went_well = findings.what_went_well.strip()
    review.lessons_learnt = findings.lessons_learnt.strip()
    review.public_summary = findings.public_summary.strip()
    review.answers = {q: a for q, a in (findings.answers or {}).items() if a}
    review.name_people_in_draft = findings.name_people_in_draft
    review.updated_by = actor
    review.updated_at = now
    requested: list[int] = []

    def ask(kinds: list[str], create: bool = True) -> list[int]:
        return service.request(session, incident, kinds, installation=installation, outbox=outbox,
                               create=create)

    with transaction(session):
        if write == "draft":
            requested += ask([REVIEW_DRAFT])
        elif write == "final":
            first = review.finalised_at is None
            review.finalised_at = now
            if first:
                timeline.record(incident, "review_final", "Post-incident review marked final",
                                author=actor, occurred_at=now, session=session)
            severity = org.severity(incident.severity)
            service.supersede(session, incident, REVIEW_DRAFT, outbox=outbox)
            requested += ask([REVIEW_FINAL])
            requested += ask([MAJOR], create=bool(severity and severity.major))
            requested += ask([PUBLIC], create=incident.is_closed)
            if first:  # on the timeline: the running report (and the rest) follow
                service.follow_change(session, installation, org, incident, outbox=outbox)
    return requested
