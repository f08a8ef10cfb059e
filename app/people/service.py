"""Bringing people into an incident and handing roles over.

A role moves at once when nobody holds it or when the new holder takes it themselves;
otherwise it is offered, and the current holder keeps it until the new holder accepts
(playbooks 002 and 004), so a role is never dropped between two people.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core import clock
from app.core.org import OrgSettings
from app.db import commit
from app.incidents import delivery_keys, timeline
from app.incidents import service as incidents
from app.incidents.events import (
    HANDOVER_OFFERED,
    ROLE_ASSIGNED,
    Changed,
    Effects,
    Feed,
    Notice,
    ParticipantAdded,
    ParticipantRemoved,
)
from app.incidents.models import Incident, Participant, TimelineEntry
from app.incidents.rules import RuleError
from app.people.models import (
    ACCEPTED,
    CANCELLED,
    DECLINED,
    PENDING,
    RoleHandover,
)

# In a handover_offered entry's data: the offer made its person a participant.
MADE_PARTICIPANT = "made_participant"


def participants(session: Session, incident: Incident) -> Sequence[Participant]:
    return session.scalars(
        select(Participant).where(Participant.incident_id == incident.id)
        .order_by(Participant.added_at)).all()


def pending_handovers(session: Session, incident: Incident) -> Sequence[RoleHandover]:
    return session.scalars(
        select(RoleHandover).where(RoleHandover.incident_id == incident.id,
                                   RoleHandover.status == PENDING)
        .order_by(RoleHandover.requested_at)).all()


def add_participant(session: Session, effects: Effects, actor, incident: Incident,
                    user: User, *, record: bool = True) -> bool:
    """Bring someone in (in the caller's transaction): they can see the incident even if it
    is restricted, and join its Teams team. Returns False if already in."""
    if session.get(Participant, (incident.id, user.id)) is not None:
        return False
    session.add(Participant(incident_id=incident.id, user_id=user.id, added_by=actor,
                            added_at=clock.now()))
    if record:
        _record(session, incident, actor, "participant_added",
                f"{user.name} was added to the incident", {"user_id": user.id})
    effects.publish(session, ParticipantAdded(incident=incident, actor=actor, user=user))
    return True


def bring_in(session: Session, effects: Effects, actor, incident: Incident,
             user: User) -> None:
    """The incident lead commandeers someone (playbook 004)."""
    incident.refuse_if_closed("take new people")
    if not add_participant(session, effects, actor, incident, user):
        raise RuleError(f"{user.name} is already working on this incident.", "user")
    _changed(session, effects, incident, actor)
    commit(session)


def assign_or_offer(session: Session, org: OrgSettings, effects: Effects, actor,
                    incident: Incident, role_key: str, user: User) -> RoleHandover | None:
    """Give `user` the role now, or offer it to them; returns the offer if one was made."""
    incident.refuse_if_closed("change roles")
    role = org.role(role_key)
    if role is None:
        raise RuleError("Choose a role from the list.", "role")
    current = incident.current_roles().get(role_key)
    if current is not None and current.user_id == user.id:
        raise RuleError(f"{user.name} already holds this role.", "user")
    try:
        replaced = _cancel_pending(session, incident, role_key, actor,
                                   "a new hand-over was asked for")
        if current is None or user.id == actor.id:
            incidents.assign(session, org, incident, actor, role_key, user)
            add_participant(session, effects, actor, incident, user, record=False)
            offer = None
            if user.id != actor.id:
                _tell_assigned(session, effects, actor, incident, role, user)
        else:
            offer = RoleHandover(incident_id=incident.id, role=role_key,
                                 from_user_id=current.user_id, to_user_id=user.id,
                                 requested_by=actor, requested_at=clock.now(), status=PENDING)
            session.add(offer)
            made = add_participant(session, effects, actor, incident, user, record=False)
            session.flush()
            _record(session, incident, actor, "handover_offered",
                    f"{actor.name} asked {user.name} to take over as {role.label.lower()} "
                    f"from {current.user.name}; {current.user.name} keeps the role until "
                    f"{user.name} accepts",
                    {"role": role_key, "handover_id": offer.id, "to_user_id": user.id,
                     MADE_PARTICIPANT: made})
            url = effects.installation.incident_url(incident.reference) + f"/handovers/{offer.id}"
            effects.publish(session, Notice(
                incident=incident, actor=actor,
                key=delivery_keys.handover(incident.reference, offer.id), to=[user.email],
                subject=f"{user.name}: please take over as {role.label.lower()}",
                message=(f"{actor.name} asks you to take over as {role.label.lower()} for "
                         f"{incident.reference}: {incident.title}. {current.user.name} keeps "
                         "the role until you accept."),
                channel_message=(f"{actor.name} asks {user.name} to take over as "
                                 f"{role.label.lower()} for {incident.reference}: "
                                 f"{incident.title}. {current.user.name} keeps the role "
                                 f"until {user.name} accepts."),
                link_text="Accept or decline in Incident Desk", url=url,
                label="Hand-over request",
                feed=Feed(about=HANDOVER_OFFERED, to_user_id=user.id,
                          values=(("asker", actor.name), ("role", role.label.lower())),
                          preview=f"{current.user.name} keeps the role until you accept.")))
        for earlier in replaced:
            if earlier.to_user_id != user.id:
                _drop_if_only_offered(session, effects, actor, incident, earlier.to_user)
        _changed(session, effects, incident, actor)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return offer


def _tell_assigned(session: Session, effects: Effects, actor, incident: Incident, role,
                   user: User) -> None:
    """Someone given a role by someone else hears of it (in their Teams activity feed
    where they have the app, else by email): nobody should hold a role unawares."""
    session.flush()
    assignment = incident.current_roles()[role.key]
    label = role.label.lower()
    title = "" if incident.is_security else f": {incident.title}"
    effects.publish(session, Notice(
        incident=incident, actor=actor,
        key=delivery_keys.role_assigned(incident.reference, assignment.id), to=[user.email],
        subject=f"{user.name}: you are now {label}",
        message=(f"{actor.name} made you {label} for {incident.reference}{title}. The role "
                 "is yours until you hand it over."),
        link_text="Open the incident in Incident Desk",
        url=effects.installation.incident_url(incident.reference), teams=False,
        label="Role assigned", show_title=not incident.is_security,
        feed=Feed(about=ROLE_ASSIGNED, to_user_id=user.id,
                  values=(("assigner", actor.name), ("role", label)),
                  preview="The role is yours until you hand it over.")))


def accept(session: Session, org: OrgSettings, effects: Effects, actor,
           handover: RoleHandover) -> None:
    incident = handover.incident
    _check_open(handover, incident)
    if actor.id != handover.to_user_id:
        raise RuleError(f"Only {handover.to_user.name} can accept this hand-over.")
    try:
        current = incident.current_roles().get(handover.role)
        if current is not None and current.user_id == actor.id:
            pass  # they took it some other way meanwhile: nothing left to move
        else:
            incidents.assign(session, org, incident, actor, handover.role, actor)
        handover.status = ACCEPTED
        handover.settled_at = clock.now()
        _changed(session, effects, incident, actor)
        session.commit()
    except Exception:
        session.rollback()
        raise


def decline(session: Session, org: OrgSettings, effects: Effects, actor,
            handover: RoleHandover, reason: str = "") -> None:
    incident = handover.incident
    _check_open(handover, incident)
    if actor.id != handover.to_user_id:
        raise RuleError(f"Only {handover.to_user.name} can decline this hand-over.")
    role = org.role(handover.role)
    label = role.label.lower() if role else handover.role
    holder = handover.from_user.name if handover.from_user else "the current holder"
    try:
        handover.status = DECLINED
        handover.settled_at = clock.now()
        handover.note = reason.strip()
        _record(session, incident, actor, "handover_declined",
                f"{actor.name} declined to take over as {label}; {holder} still holds it",
                {"role": handover.role, "handover_id": handover.id}, note=reason)
        asker = handover.requested_by
        if asker is not None and asker.id != actor.id:
            effects.publish(session, Notice(
                incident=incident, actor=actor,
                key=delivery_keys.handover_declined(incident.reference, handover.id),
                to=[asker.email],
                subject=f"{actor.name} cannot take over as {label}",
                message=(f"{actor.name} declined to take over as {label} for "
                         f"{incident.reference}." + (f" They said: {reason.strip()}"
                                                     if reason.strip() else "")
                         + f" {holder} still holds the role."),
                link_text="Open the incident",
                url=effects.installation.incident_url(incident.reference),
                teams=False, label="Hand-over declined"))
        _drop_if_only_offered(session, effects, actor, incident, actor)
        _changed(session, effects, incident, actor)
        session.commit()
    except Exception:
        session.rollback()
        raise


def cancel(session: Session, org: OrgSettings, effects: Effects, actor,
           handover: RoleHandover) -> None:
    incident = handover.incident
    _check_open(handover, incident)
    allowed = {handover.requested_by_id, handover.from_user_id}
    if actor.id not in allowed and not actor.is_admin:
        raise RuleError("Only the person who asked, or the current holder, can withdraw "
                        "this hand-over.")
    try:
        for withdrawn in _cancel_pending(session, incident, handover.role, actor, "withdrawn"):
            _drop_if_only_offered(session, effects, actor, incident, withdrawn.to_user)
        _changed(session, effects, incident, actor)
        session.commit()
    except Exception:
        session.rollback()
        raise


def _cancel_pending(session, incident, role_key, actor, why: str) -> list[RoleHandover]:
    """Withdraw the role's open offers; returns them."""
    cancelled = list(session.scalars(select(RoleHandover).where(
        RoleHandover.incident_id == incident.id, RoleHandover.role == role_key,
        RoleHandover.status == PENDING)))
    for handover in cancelled:
        handover.status = CANCELLED
        handover.settled_at = clock.now()
        _record(session, incident, actor, "handover_cancelled",
                f"Hand-over to {handover.to_user.name} withdrawn ({why})",
                {"role": role_key, "handover_id": handover.id})
    return cancelled


def _drop_if_only_offered(session: Session, effects: Effects, actor, incident: Incident,
                          user: User) -> bool:
    """An offer that is settled without being accepted takes back the participant record
    it made (and the Teams membership work queued for it), unless something else keeps
    them in: they declared it, ever held a role, have another offer open, or were brought
    in after the offer that made them one. Returns True if they were removed."""
    participant = session.get(Participant, (incident.id, user.id))
    if participant is None or incident.declared_by_id == user.id:
        return False
    if any(a.user_id == user.id for a in incident.roles):
        return False
    session.flush()
    if session.scalar(select(RoleHandover.id).where(
            RoleHandover.incident_id == incident.id, RoleHandover.to_user_id == user.id,
            RoleHandover.status == PENDING).limit(1)) is not None:
        return False
    if not _made_by_an_offer(session, incident, user):
        return False
    session.delete(participant)
    effects.publish(session, ParticipantRemoved(incident=incident, actor=actor, user=user))
    return True


def _made_by_an_offer(session: Session, incident: Incident, user: User) -> bool:
    """Whether the latest entry that made `user` a participant is an offer (bringing
    someone in records participant_added; an offer records whether it made them one)."""
    entries = session.scalars(select(TimelineEntry).where(
        TimelineEntry.incident_id == incident.id,
        TimelineEntry.kind.in_(("participant_added", "handover_offered")))
        .order_by(TimelineEntry.id.desc()))
    for entry in entries:
        data = entry.data or {}
        if entry.kind == "participant_added" and data.get("user_id") == user.id:
            return False
        if entry.kind == "handover_offered" and data.get("to_user_id") == user.id \
                and data.get(MADE_PARTICIPANT):
            return True
    return False


def _check_open(handover: RoleHandover, incident: Incident) -> None:
    if handover.status != PENDING:
        raise RuleError(f"This hand-over was already {handover.status}.")
    incident.refuse_if_closed("change roles")


def _changed(session: Session, effects: Effects, incident: Incident, actor) -> None:
    """The incident's people changed: its timeline says so (its reports follow)."""
    incidents.touch(incident)
    effects.publish(session, Changed(incident=incident, actor=actor))


def _record(session, incident, actor, kind, text, data, note: str = "") -> None:
    timeline.record(incident, kind, text, author=actor, data=data, note=note, session=session)
