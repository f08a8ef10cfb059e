"""An incident, as the report builders see it: copied out of the database at one moment."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.actions.models import STATUSES, FollowUpAction
from app.core import clock
from app.core.org import OrgSettings
from app.documents.models import Review
from app.incidents.models import Incident, RoleAssignment, StatusUpdate, TimelineEntry
from reports import (
    Action,
    Impact,
    IncidentSnapshot,
    QuestionAnswer,
    RoleSpell,
    SeverityChange,
    TimelineItem,
    UpdateSent,
)


def load_incident(session: Session, incident_id: int) -> Incident | None:
    """The incident with everything a report shows, in a fixed number of queries."""
    return session.scalar(
        select(Incident).where(Incident.id == incident_id).options(
            selectinload(Incident.services),
            selectinload(Incident.declared_by),
            selectinload(Incident.roles).selectinload(RoleAssignment.user),
            selectinload(Incident.timeline).selectinload(TimelineEntry.author),
            selectinload(Incident.timeline).selectinload(TimelineEntry.edited_by),
        ))


def take(session: Session, org: OrgSettings, incident: Incident, *, timezone: str,
         organisation: str = "") -> IncidentSnapshot:
    severity = org.severity(incident.severity)
    updates = session.scalars(
        select(StatusUpdate).where(StatusUpdate.incident_id == incident.id)
        .options(selectinload(StatusUpdate.author)).order_by(StatusUpdate.created_at)
    ).all()
    review = session.get(Review, incident.id)
    return IncidentSnapshot(
        reference=incident.reference,
        title=incident.title,
        declared_at=incident.declared_at,
        severity=incident.severity,
        severity_label=severity.label if severity else incident.severity,
        status=incident.status,
        description=incident.description or "",
        is_security=incident.is_security,
        services=tuple(s.name for s in incident.services),
        declared_by=incident.declared_by.name if incident.declared_by else None,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        resolution=incident.resolution or "",
        roles=tuple(_spell(org, a) for a in incident.roles),
        timeline=tuple(_item(e) for e in incident.timeline),
        updates=tuple(_update(u) for u in updates),
        severity_changes=tuple(_severity_changes(org, incident.timeline)),
        actions=tuple(_actions(session, incident)),
        **_review_fields(review),
        organisation=organisation,
        timezone=timezone,
        generated_at=clock.now(),
    )


def _spell(org: OrgSettings, assignment: RoleAssignment) -> RoleSpell:
    role = org.role(assignment.role)
    return RoleSpell(role=role.label if role else assignment.role, person=assignment.user.name,
                     assigned_at=assignment.assigned_at, released_at=assignment.released_at,
                     key=assignment.role)


def _item(entry: TimelineEntry) -> TimelineItem:
    corrected = entry.edited_at is not None
    return TimelineItem(occurred_at=entry.occurred_at, text=entry.text, kind=entry.kind,
                        author=entry.author.name if entry.author else None,
                        data=dict(entry.data or {}),
                        corrected_at=entry.edited_at,
                        corrected_by=entry.edited_by.name if corrected and entry.edited_by
                        else None)


def _update(update: StatusUpdate) -> UpdateSent:
    return UpdateSent(created_at=update.created_at, message=update.message, phase=update.phase,
                      recipients=len(update.recipients or ()), to_channel=update.to_channel,
                      author=update.author.name if update.author else None)


def _severity_changes(org: OrgSettings, timeline) -> list[SeverityChange]:
    def shown(key: str) -> str:
        severity = org.severity(key)
        return severity.label if severity else key

    return [SeverityChange(changed_at=e.occurred_at, from_severity=shown(e.data["from"]),
                           to_severity=shown(e.data["to"]),
                           by=e.author.name if e.author else None,
                           reason=(e.data or {}).get("note", ""))
            for e in timeline if e.kind == "severity_change" and "from" in (e.data or {})]


def _actions(session: Session, incident: Incident) -> list[Action]:

    rows = session.scalars(select(FollowUpAction).where(
        FollowUpAction.incident_id == incident.id)
        .options(selectinload(FollowUpAction.owner)).order_by(FollowUpAction.id))
    return [Action(description=a.description, owner=a.owner.name if a.owner else "",
                   due=a.due, status=STATUSES.get(a.status, a.status), link=a.link or "",
                   public=a.public) for a in rows]


def _review_fields(review: Review | None) -> dict:
    if review is None:
        return {}
    answers = review.answers or {}
    return {
        "summary": review.summary,
        "public_summary": review.public_summary,
        "impact": Impact(summary=review.impact_summary, users_affected=review.users_affected),
        "contributing_factors": Review.lines(review.contributing_factors),
        "what_went_well": Review.lines(review.what_went_well),
        "lessons_learnt": Review.lines(review.lessons_learnt),
        "key_questions": tuple(QuestionAnswer(q, a) for q, a in answers.items() if a.strip()),
    }
