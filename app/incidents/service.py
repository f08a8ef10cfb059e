"""Incident use cases shared by the web forms and the JSON API.

Each public function is one unit of work: it validates against the rules, changes the
incident, writes the timeline entry that explains the change, and commits, or raises
and leaves nothing behind.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session, selectinload

from app.auth.models import User
from app.core import clock
from app.core.org import OrgSettings
from app.db import commit, insert_for, transaction
from app.incidents import timeline
from app.incidents.events import Changed, Declared, Effects, StatusChanged
from app.incidents.models import (
    Incident,
    Participant,
    ReferenceCounter,
    RoleAssignment,
    Service,
    StatusUpdate,
    TimelineEdit,
    TimelineEntry,
)
from app.incidents.rules import (
    CLOSED,
    OPEN_STATUSES,
    RESOLVED,
    STATUS_BY_KEY,
    AlreadyDeclared,
    RuleError,
    check_transition,
    format_reference,
    normalise_service_name,
    series_for,
)

PAGE_SIZE = 25


class ConflictError(RuleError):
    """Someone else changed the incident since the form was loaded."""


@dataclass(frozen=True)
class Filters:
    state: str = "open"  # open | resolved | closed | all
    severity: str | None = None
    service_id: int | None = None


@dataclass(frozen=True)
class Page:
    items: Sequence[Incident]
    number: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    def window(self, around: int = 2) -> list[int | None]:
        """Page numbers to link: first, last and a few either side; None marks a gap."""
        pages = self.pages
        shown = sorted({1, pages, *range(max(1, self.number - around),
                                         min(pages, self.number + around) + 1)})
        numbers: list[int | None] = []
        previous = 0
        for number in shown:
            if number - previous > 1:
                numbers.append(None)
            numbers.append(number)
            previous = number
        return numbers


# ---- reading ---------------------------------------------------------------------------


def visible_to(viewer: User):
    """SQL condition: security incidents only for admins, the security team, the declarer,
    role holders and participants."""
    if viewer.is_admin or viewer.is_security:
        return True
    held_a_role = exists().where(
        RoleAssignment.incident_id == Incident.id, RoleAssignment.user_id == viewer.id
    )
    took_part = exists().where(
        Participant.incident_id == Incident.id, Participant.user_id == viewer.id
    )
    return or_(Incident.is_security.is_(False), Incident.declared_by_id == viewer.id,
               held_a_role, took_part)


def can_view(viewer: User, incident: Incident) -> bool:
    if not incident.is_security or viewer.is_admin or viewer.is_security:
        return True
    if incident.declared_by_id == viewer.id:
        return True
    if any(a.user_id == viewer.id for a in incident.roles):
        return True
    session = object_session(incident)
    return session is not None and session.get(Participant, (incident.id, viewer.id)) is not None


def get_for(session: Session, viewer: User, reference: str, *, timeline: bool = True
            ) -> Incident | None:
    """The incident if this person may see it; None otherwise (callers answer 404).
    `timeline` False leaves the whole timeline unloaded, for a page that shows part.

    "Not found" and "not yours" are one path: who may see it is part of the one query, so
    a hidden incident runs exactly the statements a missing one does."""
    options = [selectinload(Incident.services),
               selectinload(Incident.roles).selectinload(RoleAssignment.user),
               selectinload(Incident.declared_by)]
    if timeline:
        options.append(selectinload(Incident.timeline).selectinload(TimelineEntry.author))
    return session.scalar(
        select(Incident).where(Incident.reference == reference.strip().upper(),
                               visible_to(viewer)).options(*options))


@dataclass(frozen=True)
class TimelinePage:
    entries: Sequence[TimelineEntry]  # newest first
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.entries)


def latest_timeline(session: Session, incident: Incident, limit: int | None
                    ) -> TimelinePage:
    """The newest `limit` entries (all with None), with authors and edit history loaded:
    a long major incident's page shows the recent part without rendering hundreds."""
    query = (select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
             .order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.id.desc())
             .options(selectinload(TimelineEntry.author),
                      selectinload(TimelineEntry.edits).selectinload(TimelineEdit.edited_by)))
    if limit is None:
        entries = session.scalars(query).all()
        return TimelinePage(entries, len(entries))
    entries = session.scalars(query.limit(limit)).all()
    total = len(entries) if len(entries) < limit else session.scalar(
        select(func.count()).select_from(TimelineEntry)
        .where(TimelineEntry.incident_id == incident.id))
    return TimelinePage(entries, total)


def list_for(session: Session, viewer: User, filters: Filters, page: int = 1) -> Page:
    query = select(Incident).where(visible_to(viewer))
    if filters.state == "open":
        query = query.where(Incident.status.in_(OPEN_STATUSES))
    elif filters.state in ("resolved", "closed"):
        query = query.where(Incident.status == filters.state)
    if filters.severity:
        query = query.where(Incident.severity == filters.severity)
    if filters.service_id:
        query = query.where(Incident.services.any(Service.id == filters.service_id))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    items = session.scalars(
        query.options(selectinload(Incident.services))
        .order_by(Incident.declared_at.desc(), Incident.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return Page(items=items, number=page, total=total)


def all_services(session: Session) -> Sequence[Service]:
    return session.scalars(select(Service).order_by(func.lower(Service.name))).all()


def assignable_users(session: Session) -> Sequence[User]:
    """People, not system accounts such as alert intake."""
    return session.scalars(select(User).where(~User.entra_oid.startswith("system-"))
                           .order_by(func.lower(User.name))).all()


# ---- changing --------------------------------------------------------------------------


def declare(
    session: Session,
    org: OrgSettings,
    actor: User,
    *,
    title: str,
    description: str,
    severity: str,
    service_ids: Iterable[int] = (),
    new_services: Iterable[str] = (),
    is_security: bool = False,
    take_lead: bool = True,
    effects: Effects | None = None,
    commit: bool = True,
    declare_key: str | None = None,
) -> Incident:
    """Open an incident and publish `Declared` to `effects` (its Teams channel,
    announcements and reports follow in this transaction); without `effects`, nothing
    follows (tests of the rules alone). `commit` False leaves the commit to the caller
    (alert intake records the alert with it). `declare_key`, the one-use key of the form
    or card pressed: pressed again (a double click, two people on one card, at once or
    later), AlreadyDeclared names the incident it made, and nothing new is declared."""
    title = " ".join(title.split())
    if not title:
        raise RuleError("Enter a title.", "title")
    if org.severity(severity) is None:
        raise RuleError("Choose a severity from the list.", "severity")
    if declare_key:
        _refuse_if_declared(session, declare_key)
    now = clock.now()
    try:
        services = _resolve_services(session, service_ids, new_services)
        incident = Incident(
            title=title,
            description=description.strip(),
            severity=severity,
            status="investigating",
            is_security=is_security,
            declared_by=actor,
            declared_at=now,
            updated_at=now,
            services=services,
            # Empty, not unloaded: appending the first entries must not query for them.
            timeline=[],
            roles=[],
            declare_key=declare_key or None,
        )
        _allocate_reference(session, incident, now.year)
        _record(
            incident,
            actor,
            "declared",
            f"Declared as {org.severity(severity).label}"
            + (" (security or data breach)" if is_security else ""),
            {"severity": severity, "is_security": is_security},
        )
        if take_lead and org.role("incident_lead"):
            _assign(session, org, incident, actor, "incident_lead", actor)
        if effects is not None:
            session.flush()
            effects.publish(session, Declared(incident=incident, actor=actor))
        if commit:
            session.commit()
        else:
            session.flush()
    except IntegrityError:
        session.rollback()
        if declare_key:  # pressed twice at the same moment: the other press declared it
            _refuse_if_declared(session, declare_key)
        raise
    except Exception:
        session.rollback()
        raise
    return incident


def _refuse_if_declared(session: Session, declare_key: str) -> None:
    earlier = session.scalar(select(Incident).where(Incident.declare_key == declare_key))
    if earlier is not None:
        raise AlreadyDeclared(earlier)


def change_status(
    session: Session, org: OrgSettings, effects: Effects, actor: User, incident: Incident,
    status: str, note: str
) -> None:
    """Move the incident on; resolving books its review and reopening a closed one
    unarchives its channel (app/m365/effects.py)."""
    check_transition(incident.status, status, note)
    if status == CLOSED:
        _check_status_page_resolved(session, incident)
    now = clock.now()
    previous = incident.status
    incident.status = status
    if status == RESOLVED:
        incident.resolved_at = now
        incident.resolution = note.strip()
    elif status == CLOSED:
        incident.closed_at = now
    elif previous == RESOLVED:  # reopened: the earlier resolution no longer stands
        incident.resolved_at = None
        incident.resolution = None
    incident.updated_at = now
    reopened = previous == RESOLVED and status != CLOSED
    verb = "Reopened" if reopened else "Status changed"
    text = f"{verb}: {STATUS_BY_KEY[previous].label} → {STATUS_BY_KEY[status].label}"
    _record(incident, actor, "status_change", text, {"from": previous, "to": status},
            note=note)
    effects.publish(session, StatusChanged(incident=incident, actor=actor, previous=previous,
                                           status=status))
    commit(session)


def change_details(
    session: Session,
    org: OrgSettings,
    actor: User,
    incident: Incident,
    *,
    expected_version: int,
    title: str,
    description: str,
    severity: str,
    service_ids: Iterable[int],
    new_services: Iterable[str] = (),
    reason: str = "",
    effects: Effects,
) -> list[str]:
    """Apply edits; returns the kinds of change made (empty if nothing changed)."""
    if incident.version != expected_version:
        raise ConflictError(
            "Someone else changed this incident while you were editing it. Their changes are "
            "shown below and your text is still in the form: check it and save again."
        )
    incident.refuse_if_closed("be changed")
    title = " ".join(title.split())
    if not title:
        raise RuleError("Enter a title.", "title")
    new_severity = org.severity(severity)
    if new_severity is None:
        raise RuleError("Choose a severity from the list.", "severity")
    changed: list[str] = []
    with transaction(session):
        if title != incident.title:
            _record(incident, actor, "title_change", f"Title changed to “{title}”",
                    {"from": incident.title, "to": title}, note=reason)
            incident.title = title
            changed.append("title")
        if severity != incident.severity:
            old = org.severity(incident.severity)
            old_label = old.label if old else incident.severity
            direction = (
                "raised"
                if org.severity_rank(severity) < org.severity_rank(incident.severity)
                else "lowered"
            )
            _record(incident, actor, "severity_change",
                    f"Severity {direction}: {old_label} → {new_severity.label}",
                    {"from": incident.severity, "to": severity}, note=reason)
            incident.severity = severity
            changed.append("severity")
        description = description.strip()
        if description != incident.description:
            _record(incident, actor, "description_change", "Description updated",
                    {"from": incident.description, "to": description}, note=reason)
            incident.description = description
            changed.append("description")
        services = _resolve_services(session, service_ids, new_services)
        if {s.id for s in services} != {s.id for s in incident.services}:
            names = ", ".join(s.name for s in services) or "none"
            _record(incident, actor, "services_change", f"Impacted services: {names}",
                    {"from": [s.name for s in incident.services],
                     "to": [s.name for s in services]}, note=reason)
            incident.services = services
            changed.append("services")
        if changed:
            incident.updated_at = clock.now()
            effects.publish(session, Changed(incident=incident, actor=actor))
    return changed


def assign(session: Session, org: OrgSettings, incident: Incident, actor: User, role_key: str,
           user: User) -> None:
    """Move a role now, in the caller's transaction (hand-overs decide when: app.people)."""
    _assign(session, org, incident, actor, role_key, user)


def touch(incident: Incident) -> None:
    incident.updated_at = clock.now()


# ---- helpers ---------------------------------------------------------------------------


def _check_status_page_resolved(session: Session, incident: Incident) -> None:
    """Closing is the last step: the public must not still be told it is going on."""
    last = session.scalar(select(StatusUpdate.phase).where(
        StatusUpdate.incident_id == incident.id, StatusUpdate.public.is_(True))
        .order_by(StatusUpdate.created_at.desc(), StatusUpdate.id.desc()).limit(1))
    if last is not None and last != "resolved":
        raise RuleError(f"The public status page still shows this incident as {last}. Send "
                        "a resolved update to the status page before closing it.")


def _assign(session, org, incident, actor, role_key, user) -> None:
    now = clock.now()
    previous = incident.current_roles().get(role_key)
    if previous is not None:
        previous.released_at = now
    incident.roles.append(
        RoleAssignment(role=role_key, user=user, assigned_by=actor, assigned_at=now)
    )
    label = org.role(role_key).label
    text = f"{user.name} is now {label.lower()}"
    if previous is not None:
        text += f", taking over from {previous.user.name}"
    _record(incident, actor, "role_assigned", text,
            {"role": role_key, "user_id": user.id,
             "previous_user_id": previous.user_id if previous else None})


def _record(incident, actor, kind, text, data, note: str = "") -> None:
    timeline.record(incident, kind, text, author=actor, data=data, note=note)


def _resolve_services(session, service_ids, new_names) -> list[Service]:
    ids = {int(i) for i in service_ids}
    services = list(session.scalars(select(Service).where(Service.id.in_(ids)))) if ids else []
    if len(services) != len(ids):
        raise RuleError("One of the chosen services no longer exists. Choose again.", "services")
    for raw in new_names:
        name = normalise_service_name(raw)
        if not name:
            continue
        if len(name) > 120:
            raise RuleError("Service names must be 120 characters or fewer.", "new_services")
        existing = session.scalar(select(Service).where(func.lower(Service.name) == name.lower()))
        if existing is None:
            existing = Service(name=name)
            session.add(existing)
            session.flush()
        if existing not in services:
            services.append(existing)
    return services


def _allocate_reference(session: Session, incident: Incident, year: int) -> None:
    """Next number in the year and series (INC, or SEC for security incidents, so those
    leave no gap in INC) from a counter row; its row lock makes concurrent declares take
    turns until commit, so numbers are never duplicated and never retried."""
    series = series_for(incident.is_security)
    insert = insert_for(session)
    stmt = insert(ReferenceCounter).values(series=series, year=year, last_number=1)
    number = session.execute(
        stmt.on_conflict_do_update(
            index_elements=["series", "year"],
            set_={"last_number": ReferenceCounter.last_number + 1})
        .returning(ReferenceCounter.last_number)
    ).scalar_one()
    incident.year, incident.number = year, number
    incident.reference = format_reference(year, number, series)
    session.add(incident)
    session.flush()
