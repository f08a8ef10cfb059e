"""What the incident page shows about its reports."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.core.org import OrgSettings
from app.documents import review as reviews
from app.documents import service
from app.documents.kinds import KINDS, MAJOR, PUBLIC, REVIEW_DRAFT, REVIEW_FINAL, RUNNING, Kind
from app.documents.models import ReportFile
from app.incidents.models import Incident


@dataclass(frozen=True)
class ReportsPanel:
    folder: str | None  # where they go in SharePoint; None: not kept there
    files: list[ReportFile]
    downloads: list[Kind]
    can_review: bool
    has_review: bool
    security_withheld: bool  # a security incident whose reports stay out of SharePoint

    def file(self, kind: str) -> ReportFile | None:
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


def panel(session: Session, org: OrgSettings, targets, incident: Incident) -> ReportsPanel:
    folder = targets.reports_folder_for(incident.is_security)
    has_review = reviews.get(session, incident) is not None
    return ReportsPanel(
        folder=folder,
        files=service.for_incident(session, incident.id),
        downloads=downloadable(org, incident, has_review),
        can_review=reviews.can_review(incident),
        has_review=has_review,
        security_withheld=incident.is_security and bool(targets.reports_drive_id)
        and folder is None,
    )
