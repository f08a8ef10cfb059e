"""What the incident page shows about its reports: each file, and its write's state
read from the outbox delivery that writes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.core.org import OrgSettings
from app.documents import review as reviews
from app.documents import service
from app.documents.kinds import KINDS, MAJOR, PUBLIC, REVIEW_DRAFT, REVIEW_FINAL, RUNNING, Kind
from app.documents.models import ReportFile
from app.incidents.models import Incident
from app.outbox import service as outbox
from app.outbox.models import FAILED, PENDING, SENDING, Delivery


@dataclass(frozen=True)
class ReportState:
    """A report file and where its write is: `status` pending, writing, written, failed
    or locked (waiting for Word to close it), with the write's last error and next try."""

    report: ReportFile
    delivery: Delivery | None

    def __getattr__(self, name: str):  # the file's facts: name, folder, link, written_at
        return getattr(self.report, name)

    @property
    def status(self) -> str:
        delivery = self.delivery
        if delivery is None or delivery.status not in (PENDING, SENDING, FAILED):
            return service.WRITTEN if self.report.written_at else service.PENDING
        if delivery.status == SENDING:
            return service.WRITING
        if delivery.status == FAILED:
            return service.FAILED
        if delivery.progress.get(outbox.LATER) == service.LOCKED:
            return service.LOCKED
        return service.PENDING

    @property
    def last_error(self) -> str | None:
        return self.delivery.last_error if self.delivery is not None else None

    @property
    def next_attempt_at(self) -> datetime | None:
        return self.delivery.next_attempt_at if self.delivery is not None else None


@dataclass(frozen=True)
class ReportsPanel:
    folder: str | None  # where they go in SharePoint; None: not kept there
    files: list[ReportState]
    downloads: list[Kind]
    can_review: bool
    has_review: bool
    security_withheld: bool  # a security incident whose reports stay out of SharePoint

    def file(self, kind: str) -> ReportState | None:
        return next((f for f in self.files if f.kind == kind), None)


def downloadable(org: OrgSettings, incident: Incident, has_review: bool) -> list[Kind]:
    severity = org.severity(incident.severity)
    kinds = [RUNNING]
    if severity is not None and severity.major:
        kinds.append(MAJOR)
    if reviews.can_review(incident):
        kinds.append(REVIEW_DRAFT)
        if has_review:
            kinds.append(REVIEW_FINAL)
    if not incident.is_security:
        kinds.append(PUBLIC)
    return [KINDS[k] for k in kinds]


def panel(session: Session, org: OrgSettings, installation, incident: Incident) -> ReportsPanel:
    folder = installation.reports_folder_for(incident.is_security)
    has_review = reviews.get(session, incident) is not None
    files = service.for_incident(session, incident.id)
    writes = outbox.by_keys(session, [service.key_of(incident, f.kind) for f in files])
    return ReportsPanel(
        folder=folder,
        files=[ReportState(f, writes.get(service.key_of(incident, f.kind))) for f in files],
        downloads=downloadable(org, incident, has_review),
        can_review=reviews.can_review(incident),
        has_review=has_review,
        security_withheld=incident.is_security and bool(installation.reports_drive_id)
        and folder is None,
    )
