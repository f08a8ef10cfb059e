"""Syncing contacts from SharePoint and choosing who must hear about an incident.

The sync streams the list page by page and writes in batches, so a 10,000-row list
needs memory for a batch and a page, not the list; the next page is read while a batch
is written. Rows that vanished from SharePoint are removed only after a complete read;
a failed sync changes nothing it had not finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.contacts.mapping import ContactRow, to_contact
from app.contacts.models import Contact, ContactSync
from app.core import clock
from app.core.org import OrgSettings
from app.core.read_ahead import read_ahead
from app.incidents.models import Incident
from graph.port import Graph, GraphError

BATCH = 500
PAGE_AHEAD = 200  # items read ahead while a batch is written: one page of list_items


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def sync(session: Session, graph: Graph, site_id: str, list_id: str,
         mapping: dict[str, str]) -> ContactSync:
    started = clock.now()
    run = ContactSync(started_at=started, status="running")
    session.add(run)
    session.commit()
    try:
        # The next page is read while this batch is written: waiting on SharePoint and
        # writing overlap, and memory stays a page ahead.
        items = read_ahead(graph.list_items(site_id, list_id), buffer=PAGE_AHEAD)
        for batch in _batches(items, BATCH):
            rows = [to_contact(item.id, item.fields, mapping) for item in batch]
            good = [row for row in rows if row is not None]
            run.skipped += len(rows) - len(good)
            run.items += len(good)
            _upsert(session, good, started)
            session.commit()
        session.execute(delete(Contact).where(Contact.synced_at < started))
        run.status = "done"
    except GraphError as error:
        session.rollback()
        run.status, run.error = "failed", f"Microsoft 365 answered: {error.message}"
    run.finished_at = clock.now()
    session.commit()
    return run


def _upsert(session: Session, rows: list[ContactRow], seen_at) -> None:
    existing = {
        c.item_id: c
        for c in session.scalars(
            select(Contact).where(Contact.item_id.in_([r.item_id for r in rows])))
    }
    for row in rows:
        contact = existing.get(row.item_id) or Contact(item_id=row.item_id)
        contact.name, contact.email, contact.service = row.name, row.email, row.service
        contact.role, contact.severities = row.role, list(row.severities)
        contact.synced_at = seen_at
        session.add(contact)


def last_sync(session: Session) -> ContactSync | None:
    return session.scalar(select(ContactSync).order_by(ContactSync.id.desc()).limit(1))


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Contact)) or 0


@dataclass(frozen=True)
class Recipients:
    required: list[Contact]  # always sent to: the policy says they must hear
    suggested: list[Contact]  # for the impacted services
    others: list[Contact]


def recipients_for(session: Session, org: OrgSettings, incident: Incident) -> Recipients:
    """Who must, who probably should, and who else could receive this incident's updates.

    Required: contacts whose severities include this one (for an impacted service, or
    for every service when they name none), and the roles the severity always informs
    (for a P1: programme delivery managers, deputy directors and service owners).
    """
    severity = org.severity(incident.severity)
    always_roles = {r.lower() for r in (severity.notify_roles if severity else ())}
    services = {s.name.lower() for s in incident.services}
    required, suggested, others = [], [], []
    for contact in session.scalars(select(Contact).order_by(func.lower(Contact.name))):
        for_service = not contact.service or contact.service.lower() in services
        wants_severity = incident.severity.lower() in {s.lower() for s in contact.severities}
        if contact.role.lower() in always_roles or (wants_severity and for_service):
            required.append(contact)
        elif contact.service and contact.service.lower() in services:
            suggested.append(contact)
        else:
            others.append(contact)
    return Recipients(required, suggested, others)
