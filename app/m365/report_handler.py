"""Writing a report file into SharePoint: one more kind of outbox delivery.

documents.service asks for a report (one delivery per incident and kind, its due time
the debounce: outbox.service.request); the outbox runner claims, leases, retries and
sweeps it like any other delivery, and this handler builds the file
(app/documents/writer.py) and uploads it. Writing is naturally repeatable (the same name
is replaced), so an attempt after a crash simply writes the file again.

A file open in Word cannot be replaced: the delivery waits (runner.Later), tried again
after half the time waited so far (soon when someone is only saving, every 15 minutes
through an afternoon's editing), never giving up while it stays open unless it has been
a week: by then the report needs a person.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy.orm import Session, object_session

from app.core import clock
from app.documents import templates, writer
from app.documents.models import ReportFile
from app.documents.service import DEBOUNCE, LOCKED, MAX_WAIT
from app.outbox.models import Delivery
from app.outbox.runner import Attempt, GiveUp, Later, NothingToDo
from graph.port import Graph, Locked
from reports import NotPublishable, TemplateError

LOCK_FIRST_RETRY = timedelta(minutes=1)
LOCK_MAX_BACKOFF = timedelta(minutes=15)
LOCK_PATIENCE = timedelta(days=7)
OPEN_IN_WORD = ("Waiting: the file is open for editing in SharePoint (someone has it open "
                "in Word), so it cannot be replaced yet. It is written as soon as they "
                "close it.")


def lock_backoff(waited: timedelta, retry_after: float | None = None) -> timedelta:
    """How long to leave a file open in Word before trying again: half the time waited
    so far, between LOCK_FIRST_RETRY and LOCK_MAX_BACKOFF, never sooner than Graph asked."""
    delay = min(LOCK_MAX_BACKOFF, max(LOCK_FIRST_RETRY, waited / 2))
    return max(delay, timedelta(seconds=retry_after or 0))


class WriteReport:
    """One report of one incident (payload: `report_id`), from the incident as it is
    when the attempt runs, so a write covers every change requested before its claim."""

    service = "SharePoint"  # in messages: "SharePoint answered 400 ..."
    debounce = DEBOUNCE  # asked for again while written: once more, when it settles
    longest_wait = MAX_WAIT

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        delivery = attempt.delivery
        extensions = current_app.extensions
        installation = extensions["installation"]
        try:
            built = writer.build(object_session(delivery), delivery.payload["report_id"],
                                 graph=graph, installation=installation, org=extensions["org"],
                                 settings=extensions["settings"])
            if built is None:
                raise NothingToDo
            report = built.report
            written = graph.upload_file(installation.reports_drive_id, report.folder,
                                        report.file_name, built.content, replace=True)
        except Locked as error:
            raise _wait_for_word(delivery, error) from error
        except (TemplateError, templates.TemplateMissing, NotPublishable) as error:
            raise GiveUp(str(error)) from error
        return {"drive_id": installation.reports_drive_id, "item_id": written.id,
                "web_url": written.web_url, "size": written.size}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        """The file as the library now has it, for the reports panel."""
        report = session.get(ReportFile, delivery.payload["report_id"])
        if report is None:
            return
        report.drive_id = result["drive_id"]
        report.item_id = result["item_id"]
        report.web_url = result["web_url"]
        report.size = result["size"]
        report.written_at = clock.now()


def _wait_for_word(delivery: Delivery, error: Locked) -> Exception:
    """Someone has the file open: try again until they close it. Waiting is not a
    failed attempt, so an afternoon in Word never uses up the attempts; only
    LOCK_PATIENCE of being out of date ends it."""
    waited = clock.now() - (delivery.pending_since or delivery.requested_at
                            or delivery.created_at)
    if waited >= LOCK_PATIENCE:
        return GiveUp(
            f"Not written: the file has been open for editing in SharePoint (in Word) for "
            f"{waited.days} days, so it could not be replaced. Ask whoever has it open to "
            "close it, then press Try again.")
    return Later(OPEN_IN_WORD, lock_backoff(waited, error.retry_after), LOCKED)
