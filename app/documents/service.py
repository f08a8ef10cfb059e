"""Asking for a report to be (re)written, in the same transaction as the change.

Every change to an incident writes a timeline entry, so new entries are what mark the
incident's reports out of date (`follow`): whatever feature made the change, its reports
follow. A report is a ReportFile (what the library has: its name, folder and link) and
one outbox delivery of kind WRITE_KIND (app/m365/report_handler.py writes the file),
whose due time is the debounce: each request puts it off DEBOUNCE, never more than
MAX_WAIT, and one made while the file is being written has it written once more
(outbox.service.request). The outbox claims, retries and sweeps it like any delivery.
The outbox sits above the features, so it is passed in (`outbox`: app.outbox.service).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import clock
from app.db import insert_for
from app.documents.kinds import KINDS, MAJOR, PUBLIC, REVIEW_DRAFT, RUNNING
from app.documents.models import ReportFile, Review
from app.incidents import delivery_keys
from app.incidents.models import Incident

WRITE_KIND = "sharepoint.report"
DEBOUNCE = timedelta(seconds=15)  # a burst of edits becomes one write
MAX_WAIT = timedelta(minutes=2)  # ...but a busy incident's report is never staler than this
# What the reports panel says of each report, read from its delivery (web/documents).
PENDING, WRITING, WRITTEN, FAILED = "pending", "writing", "written", "failed"
LOCKED = "locked"  # due again, but the last try found the file open in Word


class Outbox(Protocol):
    """What asking for reports needs of the outbox (app/outbox/service.py is one)."""

    def request(self, session: Session, *, key: str, kind: str, payload: dict, incident,
                debounce: timedelta, longest: timedelta, settle: bool = True) -> int: ...

    def withdraw(self, session: Session, key: str) -> bool: ...


def key_of(incident: Incident, kind: str) -> str:
    return delivery_keys.report(incident.reference, kind)


def request(session: Session, incident: Incident, kinds: Iterable[str], *, installation,
            outbox: Outbox, create: bool | Iterable[str] = True) -> list[int]:
    """Mark these reports of `incident` out of date (creating the missing ones if
    `create`, or those of them `create` names); returns the ids of the reports asked
    for. Nothing happens where reports are not kept (no SharePoint drive, or a security
    incident without a restricted folder)."""
    folder = installation.reports_folder_for(incident.is_security)
    if folder is None:
        return []
    kinds = [kind for kind in kinds
             if not (kind == PUBLIC and incident.is_security)]  # never published (playbook 001)
    if not kinds:
        return []
    def existing() -> list[ReportFile]:
        return list(session.scalars(select(ReportFile).where(
            ReportFile.incident_id == incident.id, ReportFile.kind.in_(kinds))
            .order_by(ReportFile.id)))

    reports = existing()  # after every change: usually they all exist already
    creatable = set(kinds) if create is True else set(create or ())
    missing = [kind for kind in kinds
               if kind not in {r.kind for r in reports} and kind in creatable]
    if missing:
        now = clock.now()
        day = now.astimezone(installation.timezone).date()
        for kind in missing:
            session.execute(
                insert_for(session)(ReportFile).values(
                    incident_id=incident.id, kind=kind, folder=folder, created_at=now,
                    file_name=KINDS[kind].file_name(day, incident.reference))
                .on_conflict_do_nothing(index_elements=[ReportFile.incident_id,
                                                        ReportFile.kind]))
        reports = existing()
    for report in reports:
        # A report not written yet is written at once; a written one waits for the
        # changes to settle.
        outbox.request(session, key=key_of(incident, report.kind), kind=WRITE_KIND,
                       payload={"report_id": report.id, "as_app": True,
                                "label": KINDS[report.kind].label},
                       incident=incident, debounce=DEBOUNCE, longest=MAX_WAIT,
                       settle=report.written_at is not None)
    return [report.id for report in reports]


def supersede(session: Session, incident: Incident, kind: str, *, outbox: Outbox) -> None:
    """`kind` is replaced by another report (the draft, once the review is final) and is
    not written again: a write still waiting (for its time, or for Word to close the
    file) is dropped, so it cannot land in the library after its replacement. A file
    already there stays as it was; a report that never had one goes."""
    report = session.scalars(select(ReportFile).where(
        ReportFile.incident_id == incident.id, ReportFile.kind == kind)).one_or_none()
    if report is None:
        return
    if outbox.withdraw(session, key_of(incident, kind)) and report.written_at is None:
        session.delete(report)


def for_incident(session: Session, incident_id: int) -> list[ReportFile]:
    rows = session.scalars(select(ReportFile).where(ReportFile.incident_id == incident_id))
    order = list(KINDS)
    return sorted(rows, key=lambda r: order.index(r.kind) if r.kind in order else 99)


# ---- the timeline drives refreshes ----------------------------------------------------


def _kinds(incident: Incident, org, *, closing: bool, review_final: bool
           ) -> tuple[list[str], list[str]]:
    """(reports to create, reports to refresh if they exist) after a change. Once the
    review is final, its final report follows the incident (closing it, say) and the
    draft it replaced is no longer rewritten: the library never ends with a draft newer
    than its final."""
    create = [RUNNING]
    refresh = [kind for kind in KINDS
               if kind != RUNNING and not (review_final and kind == REVIEW_DRAFT)]
    if closing:
        severity = org.severity(incident.severity)
        if severity is not None and severity.major:
            create.append(MAJOR)
        create.append(PUBLIC)
    return create, refresh


def follow_change(session: Session, installation, org, incident: Incident, *, outbox: Outbox,
                  declared: bool = False, closing: bool = False) -> None:
    """Ask for the reports a change on this incident's timeline makes out of date: the
    running report always (a new incident's first); the others if they exist, or
    (closing a major incident) are due."""
    create, refresh = _kinds(incident, org, closing=closing,
                             review_final=not declared and _review_is_final(session, incident))
    # A new incident has nothing else to refresh. One look for them all: every change
    # (each card press, each log entry) comes through here.
    others = [] if declared else [k for k in refresh if k not in create]
    request(session, incident, [*create, *others], installation=installation,
            outbox=outbox, create=create)


def _review_is_final(session, incident: Incident) -> bool:
    review = session.get(Review, incident.id)
    return review is not None and review.finalised_at is not None
