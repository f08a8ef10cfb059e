"""Word reports kept in SharePoint: written at declare, refreshed after changes settle,
major-incident and public versions at close, the review, failures and templates."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from io import BytesIO
from itertools import pairwise

import pytest
from docx import Document
from sqlalchemy import select, update

from app.core import clock
from app.documents.models import ReportFile
from app.documents.service import DEBOUNCE, MAX_WAIT, WRITE_KIND, key_of
from app.jobs import sweep_outbox
from app.m365.report_handler import LOCK_MAX_BACKOFF, lock_backoff
from app.outbox import service as outbox
from app.outbox.models import Delivery
from app.web.documents.panel import ReportState
from graph.port import GraphError, InvalidRequest
from tests.conftest import drain

DRIVE = "reports-drive"
FOLDER = "Incident reports"


@pytest.fixture
def reports_graph(app, fake_graph):
    """The fake Graph with a reports library, and the app writing reports into it."""
    fake_graph.add_drive(DRIVE)
    set_targets(app, reports_drive_id=DRIVE, reports_folder=FOLDER)
    return fake_graph


def set_targets(app, **changes) -> None:
    app.extensions["installation"] = replace(app.extensions["installation"], **changes)


def text_of(content: bytes) -> str:
    doc = Document(BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    parts += [cell.text for table in doc.tables for row in table.rows for cell in row.cells]
    for section in doc.sections:
        parts += [p.text for p in section.header.paragraphs]
    return "\n".join(parts)


def reports(session) -> dict[str, ReportState]:
    """Each report file with its write (the outbox delivery), as the panel reads them."""
    session.expire_all()
    files = list(session.scalars(select(ReportFile)))
    writes = outbox.by_keys(session, [key_of(f.incident, f.kind) for f in files])
    return {f.kind: ReportState(f, writes.get(key_of(f.incident, f.kind))) for f in files}


def settle(app, frozen_clock, seconds: float = DEBOUNCE.total_seconds() + 1) -> None:
    """Let the debounce pass, as the minute's sweep would find it."""
    frozen_clock.advance(seconds=seconds)
    with app.app_context():
        sweep_outbox()
    drain(app)


def test_declaring_writes_the_running_report_into_the_reports_folder(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in(name="Ada Lovelace")
    reference = browser.declare(title="Payments <script>alert(1)</script> down",
                                severity="P1")
    drain(app)
    name = f"2026-11-22 {reference} Running incident report.docx"
    files = reports_graph.files(DRIVE)
    assert [f["path"] for f in files] == [f"{FOLDER}/{name}"]
    text = text_of(reports_graph.file_bytes(DRIVE, f"{FOLDER}/{name}"))
    assert "Payments <script>alert(1)</script> down" in text  # as written: Word is not HTML
    assert "Ada Lovelace" in text and "Incident lead" in text
    report = reports(session)["running"]
    assert report.written_at is not None and report.web_url == files[0]["webUrl"]
    web_url = report.web_url
    settle(app, frozen_clock)
    assert reports(session)["running"].status == "written"
    assert len(reports_graph.files(DRIVE)) == 1
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert f'href="{web_url}"' in page and "Up to date" in page
    assert name in page
    assert "<script>alert(1)</script>" not in page


def test_changes_refresh_the_same_file_once_they_settle(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare()
    settle(app, frozen_clock)
    first_written = reports(session)["running"].written_at
    for text in ("Rolled back the release", "Error rate falling"):
        browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/notes",
                       {"note-text": text})
    drain(app)
    report = reports(session)["running"]
    assert report.status == "pending"  # waiting for the edits to settle
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Refresh pending" in page

    settle(app, frozen_clock)
    report = reports(session)["running"]
    assert report.status == "written" and report.written_at > first_written
    files = reports_graph.files(DRIVE)
    assert len(files) == 1  # replaced, not a second file
    text = text_of(reports_graph.file_bytes(DRIVE, files[0]["path"]))
    assert "Rolled back the release" in text and "Error rate falling" in text


def test_a_busy_incident_is_refreshed_within_the_longest_wait(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    written = [reports(session)["running"].written_at]
    for minute in range(8):  # a note every 10 seconds for 80 seconds, then more
        for _ in range(6):
            frozen_clock.advance(seconds=10)
            browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/notes",
                           {"note-text": f"Still digging ({minute})"})
            with app.app_context():
                sweep_outbox()
            drain(app)
        written.append(reports(session)["running"].written_at)
    refreshes = sorted(set(written))
    assert len(refreshes) >= 3, refreshes
    gaps = [b - a for a, b in pairwise(refreshes)]
    assert max(gaps) <= MAX_WAIT + DEBOUNCE, gaps


def test_a_change_made_while_the_file_is_written_is_not_lost(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    engine = app.extensions["db_engine"]
    original = reports_graph.upload_file

    def upload_while_someone_edits(*args, **kwargs):
        with engine.begin() as conn:  # another request's change lands mid-write
            conn.execute(update(Delivery).where(Delivery.kind == WRITE_KIND)
                         .values(requested_at=clock.now()))
        return original(*args, **kwargs)

    browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/notes",
                   {"note-text": "First"})
    reports_graph.upload_file = upload_while_someone_edits
    frozen_clock.advance(seconds=DEBOUNCE.total_seconds() + 1)
    with app.app_context():
        sweep_outbox()
    drain(app)
    reports_graph.upload_file = original
    assert reports(session)["running"].status == "pending"  # written, but already stale
    settle(app, frozen_clock)
    assert reports(session)["running"].status == "written"


def test_closing_a_p1_writes_the_major_incident_report_and_the_public_version(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in(name="Ada Lovelace")
    reference = browser.declare(title="Payments down", severity="P1")
    drain(app)
    frozen_clock.advance(hours=2)
    for status, note in (("resolved", "Rolled back; card payments work again."),
                         ("closed", "Review held; actions recorded.")):
        response = browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/status",
                                  {"status-status": status, "status-note": note})
        assert response.status_code == 302, response.get_data(as_text=True)
    drain(app)
    paths = {f["path"] for f in reports_graph.files(DRIVE)}
    day = "2026-11-22"
    assert paths == {f"{FOLDER}/{day} {reference} Running incident report.docx",
                     f"{FOLDER}/{day} {reference} Major incident report.docx",
                     f"{FOLDER}/{day} {reference} Public version.docx"}
    major = text_of(reports_graph.file_bytes(
        DRIVE, f"{FOLDER}/{day} {reference} Major incident report.docx"))
    assert "Payments down" in major and "Rolled back; card payments work again." in major
    public = text_of(reports_graph.file_bytes(
        DRIVE, f"{FOLDER}/{day} {reference} Public version.docx"))
    assert "Ada Lovelace" not in public


def test_the_review_writes_a_blameless_draft_then_the_final_report(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in(name="Ada Lovelace")
    reference = browser.declare(title="Payments down", severity="P1")
    browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/status",
                   {"status-status": "resolved", "status-note": "Fixed"})
    drain(app)
    review_url = f"/incidents/{reference}/review"
    findings = {"summary": "Card payments failed for two hours after a release.",
                "users_affected": "2400",
                "contributing_factors": "- No canary release\n- Alert went to email only",
                "lessons_learnt": "Page the on-call engineer <b>directly</b>",
                "answer_0": "Error rate alert at 09:02"}
    response = browser.submit(review_url, data={**findings, "write_draft": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    drain(app)
    files = {r.kind: r for r in reports(session).values()}
    draft_path = f"{FOLDER}/{files['review_draft'].file_name}"
    assert files["review_draft"].file_name.endswith("Post-incident review (draft).docx")
    draft = text_of(reports_graph.file_bytes(DRIVE, draft_path))
    assert "DRAFT" in draft and "No canary release" in draft
    timeline_rows = draft.split("Timeline", 1)[1]
    assert "Ada Lovelace" not in timeline_rows.split("Contributing factors")[0]  # blameless

    response = browser.submit(review_url, data={**findings, "write_final": "y"})
    assert response.status_code == 302
    drain(app)
    files = reports(session)
    assert files["review_final"].status == "written"
    assert files["major"].status == "written"  # a P1's major-incident report, with lessons
    major = text_of(reports_graph.file_bytes(DRIVE, f"{FOLDER}/{files['major'].file_name}"))
    assert "Page the on-call engineer <b>directly</b>" in major
    page = browser.get(review_url).get_data(as_text=True)
    assert "Marked final" in page and "No canary release" in page
    assert "&lt;b&gt;directly&lt;/b&gt;" in page


def test_the_review_waits_until_the_incident_is_resolved(app, browser, reports_graph):
    browser.sign_in()
    reference = browser.declare()
    response = browser.get(f"/incidents/{reference}/review")
    assert response.status_code == 302
    page = browser.get(response.location).get_data(as_text=True)
    assert "The review starts once the incident is resolved." in page


def test_review_input_is_checked_and_kept(app, browser, reports_graph):
    browser.sign_in()
    reference = browser.declare()
    browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/status",
                   {"status-status": "resolved", "status-note": "Fixed"})
    response = browser.submit(f"/incidents/{reference}/review",
                              data={"summary": "Kept text", "users_affected": "lots",
                                    "save": "y"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Enter a number of users, like 2400." in page and "Kept text" in page


def test_security_incident_reports_stay_out_of_the_shared_folder(
        app, browser, other_browser, session, reports_graph, frozen_clock):
    browser.sign_in(name="Ada Lovelace")
    reference = browser.declare(title="Customer data exposed", severity="P1",
                                is_security="y")
    drain(app)
    assert reports_graph.files(DRIVE) == [] and reports(session) == {}
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "not put in the shared SharePoint folder" in page
    download = browser.get(f"/incidents/{reference}/reports/running.docx")
    assert download.status_code == 200
    assert "Customer data exposed" in text_of(download.data)
    assert browser.get(f"/incidents/{reference}/reports/public.docx").status_code == 404
    other_browser.sign_in(name="Bob", email="bob@example.com")
    assert other_browser.get(f"/incidents/{reference}/reports/running.docx").status_code == 404


def test_security_incident_reports_go_only_to_the_restricted_folder(
        app, browser, session, reports_graph, frozen_clock):
    set_targets(app, security_reports_folder="Restricted/Security incidents")
    browser.sign_in()
    reference = browser.declare(title="Laptop stolen", severity="P1", is_security="y")
    for status in ("resolved", "closed"):
        browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/status",
                       {"status-status": status, "status-note": "Done"})
    drain(app)
    paths = sorted(f["path"] for f in reports_graph.files(DRIVE))
    assert paths == [
        f"Restricted/Security incidents/2026-11-22 {reference} Major incident report.docx",
        f"Restricted/Security incidents/2026-11-22 {reference} Running incident report.docx",
    ]  # and never a public version


def test_a_failed_write_is_shown_with_a_way_to_try_again(
        app, browser, session, reports_graph, frozen_clock):
    original = reports_graph.upload_file

    def refuse(*args, **kwargs):
        raise InvalidRequest("The folder name is not allowed.", status=400, code="invalidRequest")

    reports_graph.upload_file = refuse
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    settle(app, frozen_clock)  # after the channel's timeline entries, maybe one more try
    assert reports(session)["running"].last_error == (
        "SharePoint answered 400 [invalidRequest]: The folder name is not allowed.")
    assert reports(session)["running"].status == "failed"
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Failed" in page and "The folder name is not allowed." in page

    reports_graph.upload_file = original
    report_id = reports(session)["running"].id
    response = browser.submit(f"/incidents/{reference}",
                              f"/incidents/{reference}/reports/{report_id}/write")
    assert response.status_code == 302
    drain(app)
    assert reports(session)["running"].status == "written"


def test_throttling_is_retried_after_the_time_sharepoint_asks(
        app, browser, session, reports_graph, frozen_clock):
    original = reports_graph.upload_file
    calls = []

    def throttled_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise GraphError("Too many requests", status=429, retry_after=30)
        return original(*args, **kwargs)

    reports_graph.upload_file = throttled_once
    browser.sign_in()
    browser.declare()
    drain(app)
    report = reports(session)["running"]
    assert report.status == "pending" and "throttling" in report.last_error
    assert (report.next_attempt_at - clock.now()).total_seconds() >= 30
    settle(app, frozen_clock, seconds=31)
    assert reports(session)["running"].status == "written" and len(calls) == 2


def due_again(app, frozen_clock, report: ReportState) -> None:
    """Time passes to the report's next try, and the minute's sweep finds it."""
    frozen_clock.value = max(frozen_clock.value, report.next_attempt_at + timedelta(seconds=1))
    with app.app_context():
        sweep_outbox()
    drain(app)


def test_a_report_open_in_word_waits_for_hours_and_is_written_once_closed(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    settle(app, frozen_clock)
    report = reports(session)["running"]
    path = f"{report.folder}/{report.file_name}"
    reports_graph.lock_file(DRIVE, path, by="Bob Ng")
    url = f"/incidents/{reference}"
    browser.submit(url, f"{url}/status", {"status-status": "resolved",
                                          "status-note": "Rolled back the release"})
    settle(app, frozen_clock)  # the review meeting booked on resolving: one more entry
    settle(app, frozen_clock)
    report = reports(session)["running"]
    assert report.status == "locked" and "open in Word" in report.last_error
    page = browser.get(url).get_data(as_text=True)
    assert "Waiting: open in Word" in page and "written as soon as they close it" in page

    waits = []
    for _ in range(40):  # an afternoon and evening with the file open
        due_again(app, frozen_clock, report)
        report = reports(session)["running"]
        assert report.status == "locked", report.last_error
        waits.append(report.next_attempt_at - clock.now())
    assert all(a <= b for a, b in pairwise(waits)) and waits[-1] == LOCK_MAX_BACKOFF
    assert report.delivery.attempts <= 1  # waiting for a lock uses up no attempts

    reports_graph.unlock_file(DRIVE, path)
    due_again(app, frozen_clock, report)
    report = reports(session)["running"]
    assert report.status == "written" and report.last_error is None
    assert "Rolled back the release" in text_of(reports_graph.file_bytes(DRIVE, path))


def test_a_file_open_for_a_week_is_given_up_with_a_way_to_try_again(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    settle(app, frozen_clock)
    report = reports(session)["running"]
    reports_graph.lock_file(DRIVE, f"{report.folder}/{report.file_name}")
    report_id = report.id
    response = browser.submit(f"/incidents/{reference}",
                              f"/incidents/{reference}/reports/{report_id}/write")
    assert response.status_code == 302
    settle(app, frozen_clock)
    assert reports(session)["running"].status == "locked"
    frozen_clock.advance(days=7)
    due_again(app, frozen_clock, reports(session)["running"])
    report = reports(session)["running"]
    assert report.status == "failed"
    assert "open for editing in SharePoint (in Word) for 7 days" in report.last_error
    browser.sign_in_again()
    assert "Try again" in browser.get(f"/incidents/{reference}").get_data(as_text=True)


def test_the_wait_for_a_closed_file_grows_to_fifteen_minutes():
    assert lock_backoff(timedelta(0)) == timedelta(minutes=1)
    assert lock_backoff(timedelta(minutes=10)) == timedelta(minutes=5)
    assert lock_backoff(timedelta(hours=3)) == LOCK_MAX_BACKOFF == timedelta(minutes=15)
    assert lock_backoff(timedelta(0), retry_after=120) == timedelta(minutes=2)


def test_write_again_needs_the_form_token(app, browser, session, reports_graph):
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    report_id = reports(session)["running"].id
    response = browser.client.post(f"/incidents/{reference}/reports/{report_id}/write")
    assert response.status_code == 400


def test_every_report_can_be_downloaded_as_it_stands(app, browser, reports_graph):
    browser.sign_in()
    reference = browser.declare(title="Search slow", severity="P1")
    for status in ("resolved", "closed"):
        browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/status",
                       {"status-status": status, "status-note": "Done"})
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    for kind in ("running", "major", "review_draft", "public"):
        assert f"/incidents/{reference}/reports/{kind}.docx" in page
        response = browser.get(f"/incidents/{reference}/reports/{kind}.docx")
        assert response.status_code == 200, kind
        assert "no-store" in response.headers["Cache-Control"]
        assert "Search slow" in text_of(response.data)
    assert browser.get(f"/incidents/{reference}/reports/review_final.docx").status_code == 404
    assert browser.get(f"/incidents/{reference}/reports/nonsense.docx").status_code == 404


# ---- the organisation's template ----------------------------------------------------------


def letterhead(text: str) -> bytes:
    doc = Document()
    doc.sections[0].header.paragraphs[0].text = "Contoso Ltd · {{reference}}"
    doc.add_paragraph(text)
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


def test_an_uploaded_template_is_used_for_the_next_report(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in(admin=True)
    response = browser.submit("/reports/template", data={
        "template": (BytesIO(letterhead("Contoso incident record")), "contoso.docx")},
        content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "contoso.docx" in browser.get("/reports/template").get_data(as_text=True)
    reference = browser.declare()
    drain(app)
    text = text_of(reports_graph.file_bytes(DRIVE, reports_graph.files(DRIVE)[0]["path"]))
    assert "Contoso incident record" in text and f"Contoso Ltd · {reference}" in text


def test_a_template_that_is_not_a_word_document_is_refused(app, browser, session):
    browser.sign_in(admin=True)
    response = browser.submit("/reports/template", data={
        "template": (BytesIO(b"PK\x03\x04 not really a zip"), "broken.docx")},
        content_type="multipart/form-data")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The report template could not be opened" in page
    assert "The built-in look" in page
    response = browser.submit("/reports/template", data={
        "template": (BytesIO(b"hello"), "notes.txt")}, content_type="multipart/form-data")
    assert "The template must be a Word .docx file." in response.get_data(as_text=True)


def test_only_administrators_manage_the_template(app, browser):
    browser.sign_in()
    assert browser.get("/reports/template").status_code == 403


def test_a_template_in_sharepoint_is_read_at_each_write(
        app, browser, session, reports_graph, frozen_clock):
    reports_graph.put_file(DRIVE, "Templates/Incident report.docx",
                           letterhead("From the SharePoint template"))
    set_targets(app, report_template_path="Templates/Incident report.docx")
    browser.sign_in()
    browser.declare()
    drain(app)
    report = reports(session)["running"]
    text = text_of(reports_graph.file_bytes(DRIVE, f"{FOLDER}/{report.file_name}"))
    assert "From the SharePoint template" in text


def test_a_missing_sharepoint_template_fails_with_what_to_fix(
        app, browser, session, reports_graph, frozen_clock):
    set_targets(app, report_template_path="Templates/Gone.docx")
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    settle(app, frozen_clock)
    report = reports(session)["running"]
    assert report.status == "failed"
    assert "“Templates/Gone.docx” is not in the reports library" in report.last_error
    assert "Templates/Gone.docx" in browser.get(f"/incidents/{reference}").get_data(
        as_text=True)


def test_nothing_is_written_without_a_reports_library(app, browser, session, fake_graph):
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    assert reports(session) == {}
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "No SharePoint library is set up for reports" in page


def test_a_lost_queue_is_recovered_by_the_sweep(app, browser, session, reports_graph,
                                                frozen_clock):
    jobs = app.extensions["jobs"]
    real_enqueue = jobs.enqueue
    jobs.enqueue = lambda *args, **kwargs: False  # Redis is down
    browser.sign_in()
    browser.declare()
    jobs.enqueue = real_enqueue
    assert reports(session)["running"].status == "pending"
    settle(app, frozen_clock, seconds=1)
    assert reports(session)["running"].written_at is not None




def test_a_report_whose_writer_died_is_written_again_within_a_minute(
        app, browser, session, reports_graph, frozen_clock):
    """SIGKILL leaves the report claimed (writing) with nobody renewing its 30 s claim:
    the sweep after it hands the report out again, well inside a minute."""
    from app.outbox.lease import LEASE

    browser.sign_in()
    browser.declare(title="Search down", severity="P2")
    drain(app)
    first = reports(session)["running"]
    written_at = first.written_at
    frozen_clock.advance(seconds=60)
    session.execute(update(Delivery).where(Delivery.id == first.delivery.id).values(
        status="sending", requested_at=clock.now(),
        lease_until=clock.now() + LEASE))  # a rewrite's writer dies here
    session.commit()
    frozen_clock.advance(seconds=LEASE.total_seconds() - 1)
    settle(app, frozen_clock, seconds=0)
    assert reports(session)["running"].written_at == written_at  # still held
    settle(app, frozen_clock, seconds=2)
    again = reports(session)["running"]
    assert again.status == "written" and again.written_at > written_at
    assert len(reports_graph.files(DRIVE)) == 1
    assert LEASE + timedelta(seconds=15) < timedelta(minutes=1)  # the lease, then a sweep


def test_a_long_upload_keeps_its_reports_claim(app, browser, session, reports_graph,
                                              monkeypatch):
    """The writer's claim is renewed while it works, so a SharePoint upload slower than
    the lease never lets a second worker start the same file."""
    import threading
    import time

    from app.outbox import lease, runner

    monkeypatch.setattr(runner, "LEASE", timedelta(seconds=0.3))
    monkeypatch.setattr(lease, "LEASE", timedelta(seconds=0.3))
    monkeypatch.setattr(lease, "RENEW_EVERY", 0.1)
    uploading, taken = threading.Event(), []
    real_upload = reports_graph.upload_file

    def slow_upload(*args, **kwargs):
        uploading.set()
        time.sleep(1.0)  # more than three leases
        return real_upload(*args, **kwargs)

    engine = app.extensions["db_engine"]

    def try_to_take_it() -> None:  # another worker, two leases into the upload
        from sqlalchemy.orm import Session as OrmSession

        if not uploading.wait(20):
            return
        time.sleep(0.6)
        with OrmSession(engine) as other:
            taken.append(runner._claim(other, other.scalar(
                select(Delivery.id).where(Delivery.kind == WRITE_KIND))))
            other.rollback()

    browser.sign_in()
    monkeypatch.setattr(reports_graph, "upload_file", slow_upload)
    other_worker = threading.Thread(target=try_to_take_it)
    other_worker.start()
    browser.declare(title="Slow SharePoint", severity="P2")
    drain(app)  # (RQ's worker runs here, in the main thread)
    other_worker.join(30)
    assert taken == [None]  # still held by the writer in progress
    assert reports(session)["running"].written_at is not None  # (due again: it changed)


def test_the_final_review_in_sharepoint_follows_the_close_and_the_draft_stops(
        app, browser, session, reports_graph, frozen_clock):
    """Resolve, draft, final, close: within a minute the final review in the library says
    closed, and once the review is final the draft is never written again."""
    uploads: list[str] = []
    original = reports_graph.upload_file

    def upload_and_remember(drive_id, folder, name, *args, **kwargs):
        uploads.append(name)
        return original(drive_id, folder, name, *args, **kwargs)

    reports_graph.upload_file = upload_and_remember
    browser.sign_in(name="Ada Lovelace")
    reference = browser.declare(title="Payments down", severity="P1")
    url = f"/incidents/{reference}"
    browser.submit(url, f"{url}/status", {"status-status": "resolved",
                                          "status-note": "Rolled back"})
    settle(app, frozen_clock)
    review_url = f"{url}/review"
    findings = {"summary": "Card payments failed after a release.", "users_affected": "2400"}
    for button in ("write_draft", "write_final"):
        response = browser.submit(review_url, data={**findings, button: "y"})
        assert response.status_code == 302, response.get_data(as_text=True)
        settle(app, frozen_clock)
    files = reports(session)
    final_path = f"{FOLDER}/{files['review_final'].file_name}"
    draft_name = files["review_draft"].file_name
    final_name = files["review_final"].file_name
    assert "Not yet" in text_of(reports_graph.file_bytes(DRIVE, final_path))

    response = browser.submit(url, f"{url}/status", {"status-status": "closed",
                                                     "status-note": "Review held"})
    assert response.status_code == 302
    drain(app)
    settle(app, frozen_clock)  # 16 s after closing: the debounce, then the sweep
    settle(app, frozen_clock)  # ...and whatever that write's own entries asked for
    files = reports(session)
    assert files["review_final"].status == "written"
    final = text_of(reports_graph.file_bytes(DRIVE, final_path))
    assert "Not yet" not in final
    assert "Status\nClosed" in final, final
    assert "Not yet" not in text_of(reports_graph.file_bytes(
        DRIVE, f"{FOLDER}/{files['major'].file_name}"))
    after_final = uploads[uploads.index(final_name):]
    assert draft_name not in after_final, uploads  # the library's draft is older
    assert files["review_draft"].written_at < files["review_final"].written_at

    # Writing the draft again once the review is final is refused, not done.
    response = browser.submit(review_url, data={**findings, "write_draft": "y"})
    assert response.status_code == 400
    assert "The review is final" in response.get_data(as_text=True)
    settle(app, frozen_clock)
    assert draft_name not in uploads[uploads.index(final_name):]


def test_a_draft_waiting_for_word_when_the_review_is_marked_final_is_not_written(
        app, browser, session, reports_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare(title="Search slow", severity="P2")
    url = f"/incidents/{reference}"
    browser.submit(url, f"{url}/status", {"status-status": "resolved", "status-note": "Fixed"})
    review_url = f"{url}/review"
    browser.submit(review_url, data={"summary": "Slow search", "write_draft": "y"})
    settle(app, frozen_clock)
    draft = reports(session)["review_draft"]
    draft_path, draft_written = f"{draft.folder}/{draft.file_name}", draft.written_at
    reports_graph.lock_file(DRIVE, draft_path, by="Bob Ng")  # circulated, open in Word
    browser.submit(url, f"{url}/notes", {"note-text": "Meeting on Friday"})
    settle(app, frozen_clock)
    assert reports(session)["review_draft"].status == "locked"

    browser.submit(review_url, data={"summary": "Slow search", "write_final": "y"})
    settle(app, frozen_clock)
    reports_graph.unlock_file(DRIVE, draft_path)
    frozen_clock.advance(minutes=20)
    settle(app, frozen_clock)
    files = reports(session)
    assert files["review_final"].status == "written"
    assert files["review_draft"].status == "written"
    assert files["review_draft"].written_at == draft_written  # the library keeps the old one
    assert "Meeting on Friday" not in text_of(reports_graph.file_bytes(DRIVE, draft_path))
