"""Syncing contacts from SharePoint and choosing who must hear about an incident.

The sync streams the list page by page and writes in batches, so a 10,000-row list
needs memory for a batch and a page, not the list; the next page is read while a batch
is written. Rows that vanished from SharePoint are removed only after a complete read;
a failed sync changes nothing it had not finished.

Merging: one email address (trimmed, any case) is one person, however many rows name it.
A person keeps one contact per (service, role) their rows give, compared ignoring case;
rows that repeat a service and role add their severities to it. So someone who owns two
services is found for each, at the severities the row for that service names, and by
every query by service or role, yet is shown, counted and emailed once (`Person`). The
person's name is the one on their first row that has a name; the first row's spelling
of a service or role is kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.contacts.mapping import ContactRow, SkippedRow, to_contact
from app.contacts.models import Contact, ContactSync
from app.core import clock
from app.core.org import OrgSettings
from app.core.read_ahead import read_ahead
from app.core.redact import redact
from app.incidents.models import Incident
from graph.port import Graph, GraphError

BATCH = 500
PAGE_AHEAD = 200  # items read ahead while a batch is written: one page of list_items
SKIPPED_KEPT = 100  # skipped rows listed with a sync; the count covers the rest


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


ACTIVE = "active"  # ContactSync.slot while queued or running: unique, one at a time
MANUAL_GAP = timedelta(minutes=5)  # between syncs started by hand from the contacts page
STALE = timedelta(minutes=30)  # a sync still holding the slot this long died unfinished


class SyncRefused(Exception):
    """A sync asked for by hand that cannot start now; `message` says why and when."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def request_sync(session: Session) -> ContactSync:
    """Reserve the next sync for someone on the contacts page (the job then runs it):
    refused while one is queued or running, and within MANUAL_GAP of the last one
    started by hand, so clicking cannot pile reads of the whole list onto SharePoint."""
    now = clock.now()
    _release_stale(session, now)
    if session.scalar(select(ContactSync.id).where(ContactSync.slot == ACTIVE)) is not None:
        raise SyncRefused(_ALREADY)
    last = session.scalar(select(ContactSync.started_at).where(ContactSync.by_hand)
                          .order_by(ContactSync.started_at.desc()).limit(1))
    if last is not None and now - last < MANUAL_GAP:
        wait = max(1, math.ceil((MANUAL_GAP - (now - last)).total_seconds() / 60))
        raise SyncRefused(
            f"The contacts list was read by hand less than {_minutes(MANUAL_GAP)} ago. "
            f"Try again in {_minutes(timedelta(minutes=wait))} (it is also read every "
            "15 minutes).")
    run = ContactSync(started_at=now, status="queued", by_hand=True, slot=ACTIVE,
                      skipped_rows=[])
    session.add(run)
    try:
        session.commit()
    except IntegrityError:  # someone else's request took the slot a moment ago
        session.rollback()
        raise SyncRefused(_ALREADY) from None
    return run


_ALREADY = ("The contacts list is already being read from SharePoint. Refresh this page "
            "in a moment to see the result.")


def _minutes(span: timedelta) -> str:
    count = int(span.total_seconds() // 60)
    return f"{count} minute{'s' if count != 1 else ''}"


def sync(session: Session, graph: Graph, site_id: str, list_id: str,
         mapping: dict[str, str]) -> ContactSync:
    """Read the list, unless another sync holds the slot (then that one is returned)."""
    run, mine = _claim(session)
    if not mine:
        return run
    started = run.started_at
    try:
        # The next page is read while this batch is written: waiting on SharePoint and
        # writing overlap, and memory stays a page ahead.
        items = read_ahead(graph.list_items(site_id, list_id), buffer=PAGE_AHEAD)
        for batch in _batches(items, BATCH):
            rows = [to_contact(item.id, item.fields, mapping) for item in batch]
            good = [row for row in rows if isinstance(row, ContactRow)]
            _note_skipped(run, [row for row in rows if isinstance(row, SkippedRow)])
            run.items += len(good)
            _merge(session, good, started)
            session.commit()
        session.execute(delete(Contact).where(Contact.synced_at < started))
        run.people, run.status = count(session), "done"
    except GraphError as error:
        session.rollback()
        run.status, run.error = "failed", redact(f"Microsoft 365 answered: {error.message}")
    except Exception as error:
        session.rollback()
        _finish(session, run, "failed", f"Unexpected error ({type(error).__name__}); "
                                        "the details are in the server log.")
        raise
    _finish(session, run, run.status, run.error)
    return run


def _finish(session: Session, run: ContactSync, status: str, error: str | None) -> None:
    run.status, run.error = status, error
    run.finished_at, run.slot = clock.now(), None
    session.commit()


def _claim(session: Session) -> tuple[ContactSync, bool]:
    """(the sync to run, True), taking one queued from the contacts page or starting a
    new one; (the one holding the slot, False) while another is running."""
    now = clock.now()
    _release_stale(session, now)
    active = session.scalar(select(ContactSync).where(ContactSync.slot == ACTIVE))
    if active is not None:
        taken = session.execute(
            update(ContactSync).where(ContactSync.id == active.id,
                                      ContactSync.status == "queued")
            .values(status="running", started_at=now)
            .execution_options(synchronize_session=False)).rowcount
        session.commit()
        session.refresh(active)
        return active, taken == 1
    run = ContactSync(started_at=now, status="running", skipped_rows=[], slot=ACTIVE)
    session.add(run)
    try:
        session.commit()
    except IntegrityError:  # another worker started one a moment ago
        session.rollback()
        return session.scalar(select(ContactSync).where(ContactSync.slot == ACTIVE)), False
    return run, True


def _release_stale(session: Session, now: datetime) -> None:
    """A sync whose worker died keeps the slot only until STALE."""
    session.execute(
        update(ContactSync).where(ContactSync.slot == ACTIVE,
                                  ContactSync.started_at < now - STALE)
        .values(slot=None, status="failed", finished_at=now,
                error="Did not finish (the worker reading it stopped).")
        .execution_options(synchronize_session=False))


def _note_skipped(run: ContactSync, skipped: list[SkippedRow]) -> None:
    """Count every skipped row; keep the first SKIPPED_KEPT to list on the page."""
    run.skipped += len(skipped)
    room = SKIPPED_KEPT - len(run.skipped_rows)
    if skipped and room > 0:  # a new list, so the JSON column sees the change
        run.skipped_rows = [*run.skipped_rows, *(row.as_dict() for row in skipped[:room])]


def _key(email: str, service: str, role: str) -> tuple[str, str, str]:
    return email, service.lower(), role.lower()


def _merge(session: Session, rows: list[ContactRow], started: datetime) -> None:
    """Fold a batch of rows into the contacts (see the module docstring for the rule).

    A contact this sync has touched already (synced_at is its start) gathers the row's
    severities; one from an earlier sync is overwritten by the first row that matches
    it, so an edited or removed row in SharePoint is reflected."""
    emails = sorted({row.email for row in rows})
    duties = {_key(c.email, c.service, c.role): c
              for c in session.scalars(select(Contact).where(Contact.email.in_(emails)))}
    names = {c.email: c.name for c in duties.values()
             if _seen(c, started) and c.name != c.email}  # named by an earlier batch
    for row in rows:
        key = _key(row.email, row.service, row.role)
        contact = duties.get(key)
        if contact is None:
            contact = duties[key] = Contact(email=row.email)
            session.add(contact)
        _take(contact, row, started)
        if row.name and not names.get(row.email):
            names[row.email] = row.name
    for contact in duties.values():
        if _seen(contact, started):
            contact.name = names.get(contact.email) or contact.email


def _seen(contact: Contact, started: datetime) -> bool:
    return contact.synced_at is not None and contact.synced_at >= started


def _take(contact: Contact, row: ContactRow, started: datetime) -> None:
    if _seen(contact, started):
        contact.severities = _union(contact.severities, row.severities)
    else:
        contact.item_id, contact.service, contact.role = row.item_id, row.service, row.role
        contact.severities, contact.synced_at = list(row.severities), started


def _union(first: Iterable[str], more: Iterable[str]) -> list[str]:
    """Both lists' severities, each once whatever its case, in the order first seen."""
    seen: dict[str, str] = {}
    for severity in (*first, *more):
        seen.setdefault(severity.lower(), severity)
    return list(seen.values())


def last_sync(session: Session) -> ContactSync | None:
    return session.scalar(select(ContactSync).order_by(ContactSync.id.desc()).limit(1))


def count(session: Session) -> int:
    """People, not rows: contacts sharing an email address are one person."""
    return session.scalar(select(func.count(func.distinct(Contact.email)))) or 0


@dataclass(frozen=True)
class Person:
    """Everything the contacts list says about one email address: shown, counted and
    emailed once however many services or roles the person has."""

    contacts: tuple[Contact, ...]  # oldest first

    @property
    def id(self) -> int:  # the oldest contact's: stable while the person stays listed
        return self.contacts[0].id

    @property
    def name(self) -> str:
        return self.contacts[0].name

    @property
    def email(self) -> str:
        return self.contacts[0].email

    @property
    def summary(self) -> str:
        """'Service owner, Payments; DPO': each role, and the service it is for."""
        parts = (f"{c.role or 'no role'}{', ' + c.service if c.service else ''}"
                 for c in self.contacts)
        return "; ".join(dict.fromkeys(parts))


def people(contacts: Iterable[Contact]) -> list[Person]:
    """Contacts grouped by email address, in the order each person first appears."""
    grouped: dict[str, list[Contact]] = {}
    for contact in contacts:
        grouped.setdefault(contact.email, []).append(contact)
    return [Person(tuple(sorted(group, key=lambda c: c.id))) for group in grouped.values()]


@dataclass(frozen=True)
class Recipients:
    required: list[Person]  # always sent to: the policy says they must hear
    suggested: list[Person]  # for the impacted services
    others: list[Person]


def recipients_for(session: Session, org: OrgSettings, incident: Incident) -> Recipients:
    """Who must, who probably should, and who else could receive this incident's updates.

    Required: contacts whose severities include this one (for an impacted service, or
    for every service when they name none), and the roles the severity always informs
    (for a P1: programme delivery managers, deputy directors and service owners). A
    person is in the first group any of their contacts puts them in, and only there.
    """
    severity = org.severity(incident.severity)
    always_roles = {r.lower() for r in (severity.notify_roles if severity else ())}
    services = {s.name.lower() for s in incident.services}
    wanted = incident.severity.lower()

    def must_hear(contact: Contact) -> bool:
        for_service = not contact.service or contact.service.lower() in services
        wants_severity = wanted in {s.lower() for s in contact.severities}
        return contact.role.lower() in always_roles or (wants_severity and for_service)

    required, suggested, others = [], [], []
    for person in people(session.scalars(
            select(Contact).order_by(func.lower(Contact.name), Contact.id))):
        if any(must_hear(c) for c in person.contacts):
            required.append(person)
        elif any(c.service and c.service.lower() in services for c in person.contacts):
            suggested.append(person)
        else:
            others.append(person)
    return Recipients(required, suggested, others)
