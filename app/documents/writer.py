"""Writing one report file into SharePoint, from the incident as it is now.

Claimed with a lease like outbox deliveries (app/outbox/lease.py: 30 s, renewed while
the file is built and uploaded), so two workers never write the same file at once and a
dead worker's report is written again within a minute. Writing is naturally repeatable
(the same name is replaced), so there is nothing to reconcile after a crash: the next
attempt simply writes the file again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from app.core import clock
from app.db import read_only
from app.documents import snapshot, templates
from app.documents.kinds import KINDS, REVIEW_DRAFT
from app.documents.models import (
    FAILED,
    LOCKED,
    PENDING,
    WRITING,
    WRITTEN,
    ReportFile,
    Review,
)
from app.documents.service import DEBOUNCE, MAX_WAIT, queue
from app.outbox.lease import LEASE, Heartbeat
from app.outbox.runner import backoff, describe
from graph.port import GraphError, Locked, TokenUnavailable
from reports import NotPublishable, TemplateError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
# A file open in Word: tried again after half the time waited so far (soon when someone
# is only saving, every 15 minutes through an afternoon's editing), never giving up while
# it stays open unless it has been a week: by then the report needs a person.
LOCK_FIRST_RETRY = timedelta(minutes=1)
LOCK_MAX_BACKOFF = timedelta(minutes=15)
LOCK_PATIENCE = timedelta(days=7)
OPEN_IN_WORD = ("Waiting: the file is open for editing in SharePoint (someone has it open "
                "in Word), so it cannot be replaced yet. It is written as soon as they "
                "close it.")


def write(session: Session, report_id: int, *, graph_for_app, targets, org, settings) -> str:
    """Write the report if it is due; returns what happened (for logs and tests)."""
    report = _claim(session, report_id)
    if report is None:
        return "skipped"
    now = clock.now()
    if report.written_at is not None and _still_settling(report, now):
        return _wait(session, report, now)
    session.commit()
    covered = report.requested_at
    with Heartbeat(lambda: _renew(session.get_bind(), report_id), f"report {report_id}"):
        return _write(session, report, covered, graph_for_app=graph_for_app,
                      targets=targets, org=org, settings=settings)


def _renew(engine, report_id: int) -> bool:
    """Extend the claim by LEASE; False once the report is no longer being written."""
    with engine.begin() as connection:
        return connection.execute(
            update(ReportFile.__table__)
            .where(ReportFile.__table__.c.id == report_id,
                   ReportFile.__table__.c.status == WRITING)
            .values(lease_until=clock.now() + LEASE)).rowcount == 1


def _write(session: Session, report: ReportFile, covered, *, graph_for_app, targets, org,
           settings) -> str:
    report_id = report.id
    try:
        # Read the incident in a read-only transaction: on SQLite it neither takes nor
        # waits for the write lock, so the declaration's other jobs and every page go on
        # while a long incident is read. Nothing is held while the template is fetched,
        # the document is built (tens of ms) or SharePoint answers.
        with read_only():
            incident = snapshot.load_incident(session, report.incident_id)
            review = session.get(Review, incident.id)
            snap = snapshot.take(session, org, incident, timezone=settings.timezone,
                                 organisation=settings.organisation_name)
            session.commit()
        names = bool(review and review.name_people_in_draft) if report.kind == REVIEW_DRAFT \
            else True
        graph = graph_for_app()
        template = templates.for_writing(session, graph, targets)
        session.commit()  # the template's cached copy, if it changed
        content = KINDS[report.kind].build(snap, template, names)
        written = graph.upload_file(targets.reports_drive_id, report.folder, report.file_name,
                                    content, replace=True)
    except Locked as error:
        return _wait_for_lock(session, report, error)
    except GraphError as error:
        return _failed_attempt(session, report, error)
    except (TemplateError, templates.TemplateMissing, NotPublishable, TokenUnavailable) as error:
        return _give_up(session, report, str(error))
    except Exception as error:
        _give_up(session, report, f"Unexpected error ({type(error).__name__}); the details "
                                  "are in the server log.")
        raise
    done = clock.now()
    file_facts = dict(drive_id=targets.reports_drive_id, item_id=written.id,
                      web_url=written.web_url, size=written.size, written_at=done,
                      lease_until=None, attempts=0, last_error=None)
    up_to_date = session.execute(
        update(ReportFile).where(ReportFile.id == report_id, ReportFile.requested_at <= covered)
        .values(status=WRITTEN, pending_since=None, **file_facts)
        .execution_options(synchronize_session=False)).rowcount
    if not up_to_date:  # changed while we wrote: write again once it settles
        session.execute(
            update(ReportFile).where(ReportFile.id == report_id)
            .values(status=PENDING, next_attempt_at=done, **file_facts)
            .execution_options(synchronize_session=False))
    session.commit()
    if not up_to_date:
        queue(report_id, delay=DEBOUNCE.total_seconds())
    return "written"


def _claim(session: Session, report_id: int) -> ReportFile | None:
    """Take the row if it is due and nobody holds it; returns it loaded, with the
    claim's transaction still open for the caller to end."""
    now = clock.now()
    taken = session.execute(
        update(ReportFile).where(
            ReportFile.id == report_id,
            or_(and_(ReportFile.status.in_((PENDING, LOCKED)),
                     ReportFile.next_attempt_at <= now),
                and_(ReportFile.status == WRITING, ReportFile.lease_until < now)),
        ).values(status=WRITING, lease_until=now + LEASE, attempts=ReportFile.attempts + 1)
        .returning(ReportFile.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if taken is None:
        session.rollback()
        return None
    return session.get(ReportFile, report_id, populate_existing=True)


def _still_settling(report: ReportFile, now) -> bool:
    """More edits may be on the way: the last came less than DEBOUNCE ago, and the
    report has not been waiting for MAX_WAIT already."""
    waiting_since = report.pending_since or report.requested_at
    return now < report.requested_at + DEBOUNCE and now < waiting_since + MAX_WAIT


def _wait(session: Session, report: ReportFile, now) -> str:
    waiting_since = report.pending_since or report.requested_at
    due = min(report.requested_at + DEBOUNCE, waiting_since + MAX_WAIT)
    report.status = LOCKED if report.last_error == OPEN_IN_WORD else PENDING  # as it was
    report.attempts -= 1  # waiting is not a failed attempt
    report.lease_until = None
    report.next_attempt_at = due
    session.commit()
    queue(report.id, delay=(due - now).total_seconds())
    return "waiting"


def _failed_attempt(session: Session, report: ReportFile, error: GraphError) -> str:
    session.rollback()
    report = session.get(ReportFile, report.id)
    if not error.retryable or report.attempts >= MAX_ATTEMPTS:
        prefix = "" if not error.retryable else f"Still failing after {report.attempts} attempts: "
        return _give_up(session, report, prefix + describe(error, "SharePoint"))
    delay = backoff(report.attempts, error.retry_after)
    report.status = PENDING
    report.lease_until = None
    report.next_attempt_at = clock.now() + timedelta(seconds=delay)
    report.last_error = describe(error, "SharePoint")
    session.commit()
    queue(report.id, delay=delay)
    return "retrying"


def lock_backoff(waited: timedelta, retry_after: float | None = None) -> timedelta:
    """How long to leave a file open in Word before trying again: half the time waited
    so far, between LOCK_FIRST_RETRY and LOCK_MAX_BACKOFF, never sooner than Graph asked."""
    delay = min(LOCK_MAX_BACKOFF, max(LOCK_FIRST_RETRY, waited / 2))
    return max(delay, timedelta(seconds=retry_after or 0))


def _wait_for_lock(session: Session, report: ReportFile, error: Locked) -> str:
    """Someone has the file open: try again until they close it. Waiting is not a failed
    attempt, so an afternoon in Word never uses up MAX_ATTEMPTS; only LOCK_PATIENCE of
    being out of date ends it."""
    session.rollback()
    report = session.get(ReportFile, report.id)
    now = clock.now()
    waited = now - (report.pending_since or report.requested_at)
    if waited >= LOCK_PATIENCE:
        return _give_up(session, report, (
            f"Not written: the file has been open for editing in SharePoint (in Word) for "
            f"{waited.days} days, so it could not be replaced. Ask whoever has it open to "
            "close it, then press Try again."))
    delay = lock_backoff(waited, error.retry_after)
    report.status = LOCKED
    report.attempts -= 1
    report.lease_until = None
    report.next_attempt_at = now + delay
    report.last_error = OPEN_IN_WORD
    session.commit()
    queue(report.id, delay=delay.total_seconds())
    return "locked"


def _give_up(session: Session, report: ReportFile, message: str) -> str:
    session.rollback()
    report = session.get(ReportFile, report.id)
    report.status = FAILED
    report.lease_until = None
    report.last_error = message
    session.commit()
    log.warning("report %s (%s) failed: %s", report.id, report.file_name, message)
    return "failed"

