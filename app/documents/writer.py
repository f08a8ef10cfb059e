"""Building one report file (.docx bytes) from the incident as it is now.

Sending it is outbox work like any other (app/m365/report_handler.py: claimed, leased,
retried and swept by app/outbox/runner.py); this is only what goes into the file.
Building is naturally repeatable, so there is nothing to reconcile after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.db import read_only
from app.documents import snapshot, templates
from app.documents.kinds import KINDS, REVIEW_DRAFT
from app.documents.models import ReportFile, Review


@dataclass(frozen=True)
class Built:
    """A report's content, and where it goes (its row: folder and file name)."""

    report: ReportFile
    content: bytes


def build(session: Session, report_id: int, *, graph, installation, org, settings
          ) -> Built | None:
    """The report's file as it stands (None: the report is no longer kept). Raises
    TemplateError, templates.TemplateMissing or NotPublishable when it cannot be built,
    and what Graph raises reading the template from SharePoint."""
    # Read in a read-only transaction: on SQLite it neither takes nor waits for the write
    # lock, so the declaration's other jobs and every page go on while a long incident is
    # read. Nothing is held while the template is fetched, the document is built (tens of
    # ms) or SharePoint answers.
    with read_only():
        report = session.get(ReportFile, report_id)
        if report is None:
            session.commit()
            return None
        incident = snapshot.load_incident(session, report.incident_id)
        review = session.get(Review, incident.id)
        snap = snapshot.take(session, org, incident, timezone=settings.timezone,
                             organisation=settings.organisation_name)
        session.commit()
    names = bool(review and review.name_people_in_draft) if report.kind == REVIEW_DRAFT \
        else True
    template = templates.for_writing(session, graph, installation)
    session.commit()  # the template's cached copy, if it changed
    return Built(report, KINDS[report.kind].build(snap, template, names))
