"""The organisation's report template: uploaded in the app, or kept in SharePoint.

Precedence: a template uploaded in the app, then the file at M365_REPORT_TEMPLATE in the
reports library, then the built-in look. The SharePoint copy is read at each write (so
an edit there shows in the next report) and kept in the database, so a report
downloaded from the app looks like the one in SharePoint.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core import clock
from app.documents.models import ReportTemplate
from graph.port import Graph, NotFound
from reports import TemplateError
from reports.template_safety import make_safe
from reports.word import open_document

UPLOADED, SHAREPOINT = "uploaded", "sharepoint"
MAX_TEMPLATE_BYTES = 10 * 1024 * 1024  # from SharePoint; an upload is capped at 2 MB


class TemplateMissing(Exception):
    """The configured SharePoint template is not there; the message says what to fix."""


def check(content: bytes) -> bytes:
    """The template as it will be kept and used: checked part by part and without what a
    template has no business carrying (reports/template_safety.py), and opened once.
    Raises TemplateError, saying why, unless it is a .docx the builders can safely use."""
    if len(content) > MAX_TEMPLATE_BYTES:
        raise TemplateError("The template is larger than 10 MB: remove large images from it.")
    safe = make_safe(content)
    open_document(safe)
    return safe


def for_writing(session: Session, graph: Graph, installation) -> bytes | None:
    uploaded = session.get(ReportTemplate, UPLOADED)
    if uploaded is not None:
        return uploaded.content
    path = installation.report_template_path
    if not (path and installation.reports_drive_id):
        return None
    session.commit()  # no transaction (on SQLite, the write lock) held while SharePoint answers
    try:
        content = graph.get_file(installation.reports_drive_id, path)
    except NotFound as error:
        raise TemplateMissing(
            f"The report template “{path}” is not in the reports library: upload it there "
            "or correct M365_REPORT_TEMPLATE.") from error
    content = check(content)
    _remember(session, SHAREPOINT, path.rsplit("/", 1)[-1], content, None)
    return content


def for_download(session: Session) -> bytes | None:
    for source in (UPLOADED, SHAREPOINT):
        template = session.get(ReportTemplate, source)
        if template is not None:
            return template.content
    return None


def upload(session: Session, file_name: str, content: bytes, user) -> None:
    _remember(session, UPLOADED, file_name, check(content), user)
    session.commit()


def remove_upload(session: Session) -> None:
    template = session.get(ReportTemplate, UPLOADED)
    if template is not None:
        session.delete(template)
        session.commit()


def _remember(session: Session, source: str, file_name: str, content: bytes, user) -> None:
    template = session.get(ReportTemplate, source)
    if template is not None and template.content == content:
        return
    if template is None:
        template = ReportTemplate(source=source)
        session.add(template)
    template.file_name = file_name[:250]
    template.content = content
    template.size = len(content)
    template.uploaded_by = user
    template.uploaded_at = clock.now()
