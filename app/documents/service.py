"""Asking for a report to be (re)written, in the same transaction as the change.

Every change to an incident writes a timeline entry, so a new entry is what marks the
incident's reports out of date: whatever feature made the change, its reports follow.
The request is an upsert on (incident, kind) that only moves `requested_at`; the job
that writes the file waits for changes to settle (debounce) and queues itself again if
more arrive while it writes. Jobs are queued after commit; the sweep finds any that a
Redis outage or restart lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import and_, case, delete, event, or_, select, update
from sqlalchemy.orm import Session

from app.core import clock
from app.db import Session as ScopedSession
from app.db import insert_for
from app.documents.kinds import KINDS, MAJOR, PUBLIC, REVIEW_DRAFT, RUNNING
from app.documents.models import FAILED, LOCKED, PENDING, WRITING, WRITTEN, ReportFile, Review
from app.incidents.models import Incident, TimelineEntry
from app.incidents.rules import CLOSED

WRITE_JOB = "app.jobs.write_report"
DEBOUNCE = timedelta(seconds=15)  # a burst of edits becomes one write
MAX_WAIT = timedelta(minutes=2)  # ...but a busy incident's report is never staler than this
_TOUCHED = "reports_touched_incidents"
_QUEUE = "reports_to_queue"


def request(session: Session, incident: Incident, kinds: Iterable[str], *, create: bool = True
            ) -> list[int]:
    """Mark these reports of `incident` out of date (creating them if `create`); returns
    the ids written. Nothing happens where reports are not kept (no SharePoint drive, or
    a security incident without a restricted folder)."""
    if not has_app_context():
        return []
    targets = current_app.extensions["targets"]
    folder = targets.reports_folder_for(incident.is_security)
    if folder is None:
        return []
    now = clock.now()
    kinds = [kind for kind in kinds
             if not (kind == PUBLIC and incident.is_security)]  # never published (playbook 001)
    if not kinds:
        return []
    if create:
        day = now.astimezone(targets.timezone).date()
        written = [_upsert(session, incident, kind, folder,
                           KINDS[kind].file_name(day, incident.reference), now)
                   for kind in kinds]
    else:
        written = _refresh_existing(session, incident, kinds, now)
    due_in = session.info.setdefault(_QUEUE, {})
    for row_id, due in written:
        due_in[row_id] = max(0.0, (due - now).total_seconds())
    return [row_id for row_id, _due in written]


def _requested_again(now) -> dict:
    """What a new request does to an existing row: a written or failed report is due
    again after the debounce; one already pending, being written or waiting for its file
    to be closed in Word keeps its time."""
    settled = ReportFile.status.in_((WRITTEN, FAILED))
    return {
        "requested_at": now,
        "next_attempt_at": case((settled, now + DEBOUNCE), else_=ReportFile.next_attempt_at),
        "pending_since": case((settled, now), else_=ReportFile.pending_since),
        "attempts": case((ReportFile.status == FAILED, 0), else_=ReportFile.attempts),
        "status": case((settled, PENDING), else_=ReportFile.status),
    }


def _upsert(session, incident, kind, folder, file_name, now) -> tuple[int, datetime]:
    insert = insert_for(session)
    stmt = insert(ReportFile).values(
        incident_id=incident.id, kind=kind, file_name=file_name, folder=folder,
        status=PENDING, requested_at=now, pending_since=now, next_attempt_at=now,
        attempts=0, created_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ReportFile.incident_id, ReportFile.kind], set_=_requested_again(now),
    ).returning(ReportFile.id, ReportFile.next_attempt_at)
    row = session.execute(stmt).one()
    return row.id, row.next_attempt_at


def _refresh_existing(session, incident, kinds, now) -> list[tuple[int, datetime]]:
    """The same as the upsert's update, for whichever of `kinds` exist: one statement."""
    rows = session.execute(
        update(ReportFile)
        .where(ReportFile.incident_id == incident.id, ReportFile.kind.in_(kinds))
        .values(**_requested_again(now))
        .returning(ReportFile.id, ReportFile.next_attempt_at)
        .execution_options(synchronize_session=False))
    return [(row.id, row.next_attempt_at) for row in rows]


def supersede(session: Session, incident: Incident, kind: str) -> None:
    """`kind` is replaced by another report (the draft, once the review is final) and is
    not written again: a write still waiting (for its time, or for Word to close the
    file) is dropped, so it cannot land in the library after its replacement. A file
    already there stays as it was; a row that never had one goes."""
    waiting = (ReportFile.incident_id == incident.id, ReportFile.kind == kind,
               ReportFile.status.in_((PENDING, LOCKED, FAILED)))
    session.execute(delete(ReportFile).where(*waiting, ReportFile.written_at.is_(None))
                    .execution_options(synchronize_session=False))
    session.execute(update(ReportFile).where(*waiting)
                    .values(status=WRITTEN, last_error=None, attempts=0, lease_until=None)
                    .execution_options(synchronize_session=False))


def retry(session: Session, report: ReportFile) -> None:
    """A person asked for a failed (or any) report to be written again now."""
    if report.status == WRITING:
        return
    now = clock.now()
    report.status = PENDING
    report.attempts = 0
    report.last_error = None
    report.next_attempt_at = now
    report.pending_since = now
    report.requested_at = now
    session.commit()
    queue(report.id)


def queue(report_id: int, delay: float = 0.0) -> bool:
    if not has_app_context():
        return False
    return current_app.extensions["jobs"].enqueue(WRITE_JOB, report_id, delay=delay)


def sweep(session: Session) -> int:
    """Queue every report that is due and not held by a live writer."""
    now = clock.now()
    due = session.scalars(
        select(ReportFile.id).where(or_(
            and_(ReportFile.status.in_((PENDING, LOCKED)), ReportFile.next_attempt_at <= now),
            and_(ReportFile.status == WRITING, ReportFile.lease_until < now),
        )).order_by(ReportFile.id)
    ).all()
    session.rollback()
    return sum(1 for report_id in due if queue(report_id))


def for_incident(session: Session, incident_id: int) -> list[ReportFile]:
    rows = session.scalars(select(ReportFile).where(ReportFile.incident_id == incident_id))
    order = list(KINDS)
    return sorted(rows, key=lambda r: order.index(r.kind) if r.kind in order else 99)


# ---- the timeline drives refreshes ----------------------------------------------------


def kinds_after(entry: TimelineEntry, incident: Incident, org, *, review_final: bool = False
                ) -> tuple[list[str], list[str]]:
    """(reports to create, reports to refresh if they exist) after this timeline entry.
    Once the review is final, its final report follows the incident (closing it, say)
    and the draft it replaced is no longer rewritten: the library never ends with a
    draft newer than its final."""
    create = [RUNNING]
    refresh = [kind for kind in KINDS
               if kind != RUNNING and not (review_final and kind == REVIEW_DRAFT)]
    if entry.kind == "status_change" and (entry.data or {}).get("to") == CLOSED:
        severity = org.severity(incident.severity)
        if severity is not None and severity.major:
            create.append(MAJOR)
        create.append(PUBLIC)
    return create, refresh


@event.listens_for(ScopedSession, "after_flush")
def _remember_touched(session, _flush_context):
    entries = [obj for obj in session.new if isinstance(obj, TimelineEntry)]
    if entries:
        touched = session.info.setdefault(_TOUCHED, [])
        touched.extend(entries)


@event.listens_for(ScopedSession, "before_commit")
def _request_for_touched(session):
    if not has_app_context():
        return
    if any(isinstance(obj, TimelineEntry) for obj in session.new):
        session.flush()
    entries = session.info.pop(_TOUCHED, [])
    if not entries:
        return
    org = current_app.extensions["org"]
    wanted: dict[int, tuple[Incident, set[str], set[str]]] = {}
    final: dict[int, bool] = {}  # one look per incident, however many entries it has
    for entry in entries:
        incident = entry.incident or session.get(Incident, entry.incident_id)
        if incident.id not in final:
            final[incident.id] = _review_is_final(session, incident)
        create, refresh = kinds_after(entry, incident, org, review_final=final[incident.id])
        _, creating, refreshing = wanted.setdefault(incident.id, (incident, set(), set()))
        creating.update(create)
        refreshing.update(refresh)
    declared_now = {entry.incident_id for entry in entries if entry.kind == "declared"}
    for incident, creating, refreshing in wanted.values():
        request(session, incident, sorted(creating))
        if incident.id not in declared_now:  # a new incident has nothing else to refresh
            request(session, incident, sorted(refreshing - creating), create=False)


def _review_is_final(session, incident: Incident) -> bool:
    review = session.get(Review, incident.id)
    return review is not None and review.finalised_at is not None


@event.listens_for(ScopedSession, "after_commit")
def _queue_requested(session):
    for report_id, delay in session.info.pop(_QUEUE, {}).items():
        queue(report_id, delay=delay)


@event.listens_for(ScopedSession, "after_rollback")
def _forget(session):
    session.info.pop(_TOUCHED, None)
    session.info.pop(_QUEUE, None)
