"""Recording, changing and chasing follow-up actions.

Chasing runs with the reminders: an overdue action's owner hears by email, and the
incident channel sees it, once when it becomes overdue and then once a week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from app.actions.models import FINISHED, STATUSES, FollowUpAction
from app.auth.models import User
from app.catalogue.service import link as checked_link
from app.core import clock
from app.db import commit
from app.incidents import delivery_keys, timeline
from app.incidents.events import ACTION_OVERDUE, Changed, Effects, Feed, Notice
from app.incidents.models import Incident
from app.incidents.rules import RuleError
from app.incidents.service import visible_to

ABOUT_RIGHT = 3  # playbook 003: "aim for about three" actions
CHASE_EVERY = timedelta(days=7)


@dataclass(frozen=True)
class ActionFields:
    description: str
    owner_id: int | None = None
    due: date | None = None
    link: str | None = None
    status: str = "open"
    public: bool = False


def for_incident(session: Session, incident: Incident) -> list[FollowUpAction]:
    return list(session.scalars(select(FollowUpAction).where(
        FollowUpAction.incident_id == incident.id).options(selectinload(FollowUpAction.owner))
        .order_by(FollowUpAction.created_at, FollowUpAction.id)))


def nudge(count: int) -> str | None:
    """What the review page says about how many actions there are."""
    if count == 0:
        return "Agree a few follow-up actions: aim for about three that will make a difference."
    if count > ABOUT_RIGHT + 2:
        return (f"There are {count} actions. Aim for about three that matter most: too many "
                "and none get done.")
    return None


def save(session: Session, actor, incident: Incident, action: FollowUpAction | None,
         fields: ActionFields, *, effects: Effects) -> FollowUpAction:
    description = " ".join((fields.description or "").split())
    if not description:
        raise RuleError("Describe the action.", "description")
    if len(description) > 2000:
        raise RuleError("Keep the action to 2,000 characters.", "description")
    if fields.status not in STATUSES:
        raise RuleError("Choose a status.", "status")
    if fields.owner_id is not None and session.get(User, fields.owner_id) is None:
        raise RuleError("That person no longer exists. Choose again.", "owner")
    url = checked_link(fields.link, "link")
    now = clock.now()
    new = action is None
    if new:
        action = FollowUpAction(incident_id=incident.id, created_by=actor, created_at=now)
        session.add(action)
    before = action.status
    action.description, action.owner_id, action.due = description, fields.owner_id, fields.due
    action.link, action.status, action.public = url, fields.status, fields.public
    action.updated_at = now
    if new:
        _record(session, incident, actor, f"Follow-up action agreed: {description}")
    elif before != fields.status:
        _record(session, incident, actor,
                f"Follow-up action {STATUSES[fields.status].lower()}: {description}")
    if new or before != fields.status:
        effects.publish(session, Changed(incident=incident, actor=actor))
    commit(session)
    return action


def all_actions(session: Session, viewer, state: str, today: date) -> list[FollowUpAction]:
    """Across incidents the viewer may see: open (the default), overdue, mine or all."""
    query = (select(FollowUpAction).join(Incident).where(visible_to(viewer))
             .options(selectinload(FollowUpAction.owner),
                      selectinload(FollowUpAction.incident)))
    if state in ("open", "overdue", "mine"):
        query = query.where(FollowUpAction.status.not_in(FINISHED))
    if state == "overdue":
        query = query.where(FollowUpAction.due < today)
    if state == "mine":
        query = query.where(FollowUpAction.owner_id == viewer.id)
    return list(session.scalars(query.order_by(FollowUpAction.due.is_(None),
                                               FollowUpAction.due, FollowUpAction.id)))


def chase_overdue(session: Session, effects: Effects, now: datetime | None = None) -> int:
    """Tell the owners of overdue actions (once, then weekly); returns how many."""
    now = now or clock.now()
    today = now.astimezone(effects.installation.timezone).date()
    due = session.scalars(select(FollowUpAction).where(
        FollowUpAction.status.not_in(FINISHED), FollowUpAction.due < today,
        or_(FollowUpAction.last_chased_at.is_(None),
            FollowUpAction.last_chased_at <= now - CHASE_EVERY))
        .options(selectinload(FollowUpAction.owner), selectinload(FollowUpAction.incident))
    ).all()
    for action in due:
        incident = action.incident
        owner = action.owner
        lead = incident.current_roles().get("incident_lead")
        told = owner or (lead.user if lead else None)  # nobody owns it: the lead decides
        days = (today - action.due).days
        effects.publish(session, Notice(
            incident=incident, actor=None,
            key=delivery_keys.action_chase(incident.reference, action.id, today),
            to=[told.email] if told is not None else [],
            subject="A follow-up action is overdue",
            message=(f"“{action.description}” was due {days} day{'s' if days != 1 else ''} "
                     f"ago ({action.due:%-d %B %Y})"
                     + (f" and is owned by {owner.name}." if owner else
                        " and has no owner: agree who will do it.")
                     + " Update it in Incident Desk when it moves."),
            link_text="Open the incident's actions",
            url=effects.installation.incident_url(incident.reference) + "/review#actions",
            label="Overdue action", show_title=not incident.is_security,
            # The owner's own action: their Teams activity feed, where they have the app.
            # A security incident's action may say too much there: only its due date.
            feed=Feed(about=ACTION_OVERDUE, to_user_id=owner.id,
                      preview=(f"Due {action.due:%-d %B %Y}" if incident.is_security
                               else action.description)) if owner is not None else None))
        action.last_chased_at = now
    session.commit()
    return len(due)


def _record(session, incident, actor, text: str) -> None:
    entry = timeline.record(incident, "action", text, author=actor, session=session)
    timeline.touch(session, incident, entry.created_at)
