"""A hostile report template, uploaded or read from SharePoint, is refused with a reason
or cleaned before use (reports/template_safety.py): never a 500, never a slow build."""

from __future__ import annotations

from io import BytesIO

import pytest

from app.documents.models import ReportTemplate
from app.documents.templates import UPLOADED
from tests.conftest import drain
from tests.reports import crafted
from tests.test_report_files import DRIVE, FOLDER, reports, reports_graph, set_targets, settle

__all__ = ["reports_graph"]  # the fixture, used by name
MB = 1 << 20


def upload(browser, content: bytes, name: str = "template.docx"):
    return browser.submit("/reports/template", data={"template": (BytesIO(content), name)},
                          content_type="multipart/form-data")


@pytest.mark.parametrize(("evil", "says"), [
    (lambda: crafted.bomb(64 * MB), "too large when unpacked"),
    (lambda: crafted.bomb(4 * MB), "compressed"),
    (crafted.xxe, "DOCTYPE"),
    (crafted.billion_laughs, "DOCTYPE"),
])
def test_a_hostile_upload_is_refused_on_the_form_with_why(app, browser, session, evil, says):
    browser.sign_in(admin=True)
    response = upload(browser, evil())
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert says in page and "govuk-error-summary" in page
    assert session.get(ReportTemplate, UPLOADED) is None


def test_an_upload_with_macros_and_a_remote_template_is_kept_without_them(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in(admin=True)
    response = upload(browser, crafted.loaded(), "loaded.docx")
    assert response.status_code == 302, response.get_data(as_text=True)
    stored = session.get(ReportTemplate, UPLOADED)
    parts = crafted.parts_of(stored.content)
    assert "word/vbaProject.bin" not in parts and "word/embeddings/oleObject1.bin" not in parts
    assert crafted.REMOTE_TEMPLATE.encode() not in b"".join(parts.values())
    assert stored.size == len(stored.content)
    browser.declare()
    drain(app)
    written = reports_graph.file_bytes(DRIVE, reports_graph.files(DRIVE)[0]["path"])
    assert crafted.REMOTE_TEMPLATE.encode() not in b"".join(
        crafted.parts_of(written).values())
    assert any(b"Contoso letterhead" in data for data in crafted.parts_of(written).values())


def test_a_hostile_template_in_sharepoint_fails_the_write_with_why(
        app, browser, session, reports_graph, frozen_clock):
    reports_graph.put_file(DRIVE, "Templates/Incident report.docx", crafted.bomb(64 * MB))
    set_targets(app, report_template_path="Templates/Incident report.docx")
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    settle(app, frozen_clock)
    report = reports(session)["running"]
    assert report.status == "failed"
    assert "too large when unpacked" in report.last_error
    assert not [f for f in reports_graph.files(DRIVE) if f["path"].startswith(FOLDER)]
    assert session.get(ReportTemplate, "sharepoint") is None
    page = browser.get(f"/incidents/{reference}")
    assert page.status_code == 200


def test_a_hostile_template_stored_earlier_is_not_used_for_a_download(
        app, browser, session):
    session.add(ReportTemplate(source=UPLOADED, file_name="old.docx",
                               content=crafted.xxe(), size=1))
    session.commit()
    browser.sign_in()
    reference = browser.declare()
    response = browser.get(f"/incidents/{reference}/reports/running.docx")
    assert response.status_code == 200
    assert response.data[:2] == b"PK"
