"""The public status page and feed survive a spike: rendered once per change, not per
request (app/web/status/cache.py), answering If-None-Match with a 304, and a signed-in
person's page is never shared."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from flask import template_rendered
from sqlalchemy import event, select

from app.incidents.models import Service
from app.web.status.cache import FLOOR


class Timer:
    """The cache's clock, moved by hand."""

    def __init__(self):
        self.value = 1000.0

    def __call__(self):
        return self.value

    def advance(self, seconds: float = FLOOR) -> None:
        self.value += seconds


@pytest.fixture
def timer(app):
    """The production floor (a test app looks at the version on every request), on a
    clock the test moves."""
    clock = Timer()
    pages = app.extensions["status_pages"]
    pages.floor, pages.timer = FLOOR, clock
    return clock


@pytest.fixture
def renders(app):
    """Names of the templates rendered, in order."""
    seen: list[str] = []

    def record(sender, template, context, **extra):
        seen.append(template.name)

    template_rendered.connect(record, app)
    yield seen
    template_rendered.disconnect(record, app)


@pytest.fixture
def statements(app):
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def publish(browser, reference, message, phase="investigating", title="Card payments failing"):
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": phase, "message": message, "to_channel": "", "contacts": [],
        "extra_recipients": "", "publish": "y", "public_title": title})
    assert response.status_code == 302, response.get_data(as_text=True)


def make_public(session, name: str) -> None:
    service = session.scalar(select(Service).where(Service.name == name))
    service.public = True
    session.commit()


def page_renders(renders) -> int:
    return renders.count("status/page.html")


def test_the_page_is_rendered_once_for_many_requests(app, timer, renders, statements):
    public = app.test_client()
    first = public.get("/status")
    assert first.status_code == 200
    statements.clear()
    for _ in range(50):
        again = public.get("/status")
        assert again.status_code == 200 and again.data == first.data
    assert page_renders(renders) == 1
    assert statements == []  # inside the floor: not even the version is looked up
    timer.advance()
    assert public.get("/status").data == first.data
    assert page_renders(renders) == 1  # the version looked up again, unchanged
    assert statements and app.extensions["status_pages"].renders == 1


def test_a_published_update_a_resolution_and_a_public_service_each_render_it_again(
        app, browser, session, timer, renders):
    public = app.test_client()
    browser.sign_in()
    reference = browser.declare(title="db-2 disk full", new_services="Payments")
    before = public.get("/status")
    assert "All services are working normally" in before.get_data(as_text=True)

    publish(browser, reference, "Card payments are failing.")
    assert public.get("/status").data == before.data  # within the floor: the kept page
    timer.advance()
    published = public.get("/status")
    assert "Card payments are failing." in published.get_data(as_text=True)
    assert published.headers["ETag"] != before.headers["ETag"]
    assert page_renders(renders) == 2

    make_public(session, "Payments")
    timer.advance()
    with_service = public.get("/status").get_data(as_text=True)
    assert "Payments" in with_service and "Partial outage" in with_service  # a P2
    assert page_renders(renders) == 3

    url = f"/incidents/{reference}"
    response = browser.submit(url, f"{url}/status",
                              {"status-status": "resolved", "status-note": "Disk grown"})
    assert response.status_code == 302
    timer.advance()
    resolved = public.get("/status").get_data(as_text=True)
    assert "All services are working normally" in resolved and "Past incidents" in resolved
    assert "Operational" in resolved
    assert page_renders(renders) == 4
    for _ in range(10):
        public.get("/status")
    assert page_renders(renders) == 4


def test_an_incident_leaves_the_page_when_its_90_days_are_up(app, browser, frozen_clock,
                                                             timer, renders):
    public = app.test_client()
    browser.sign_in()
    reference = browser.declare()
    publish(browser, reference, "Checkout is slow.", title="Slow checkout")
    url = f"/incidents/{reference}"
    browser.submit(url, f"{url}/status", {"status-status": "resolved", "status-note": "ok"})
    assert "Slow checkout" in public.get("/status").get_data(as_text=True)
    frozen_clock.advance(days=89)
    timer.advance()
    assert "Slow checkout" in public.get("/status").get_data(as_text=True)
    frozen_clock.advance(days=1, seconds=1)
    timer.advance()
    page = public.get("/status").get_data(as_text=True)
    assert "Slow checkout" not in page and "No incidents in the last 90 days." in page


def test_a_matching_etag_gets_a_304_with_no_body(app, timer):
    public = app.test_client()
    first = public.get("/status")
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong
    assert first.headers["Cache-Control"] == "public, max-age=5, stale-while-revalidate=10"
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Cookie" in first.headers["Vary"] and "Set-Cookie" not in first.headers
    again = public.get("/status", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    assert public.get("/status", headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    other = public.get("/status", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.data == first.data
    assert public.head("/status", headers={"If-None-Match": etag}).status_code == 304


def test_the_same_content_keeps_its_etag_in_another_process_and_over_time(
        app, settings, browser, session, timer):
    """Every gunicorn worker renders the same bytes for the same content, so a browser's
    ETag matches whichever worker it reaches; a change that shows nothing keeps it too."""
    from tests.conftest import finish_jobs, start_app

    etag = app.test_client().get("/status").headers["ETag"]
    browser.sign_in()
    browser.declare(title="Not published")  # changes nothing the public sees
    timer.advance(3600)
    assert app.test_client().get("/status").headers["ETag"] == etag
    other = start_app(settings)  # another worker: its own kept pages
    try:
        assert other.test_client().get("/status").headers["ETag"] == etag
    finally:  # the `app` fixture empties the tables
        finish_jobs(other)
        other.extensions["db_engine"].dispose()


def test_the_shared_page_names_its_inline_script_by_hash_not_a_nonce(app, timer):
    response = app.test_client().get("/status")
    policy = response.headers["Content-Security-Policy"]
    scripts = re.findall(rb"<script>(.*?)</script>", response.data, re.DOTALL)
    assert scripts and b"nonce" not in response.data
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "nonce" not in policy and "'unsafe-inline'" not in policy


def test_a_signed_in_persons_page_is_private_and_never_shared(app, browser, timer, renders):
    public = app.test_client()
    shared = public.get("/status")
    browser.sign_in()
    mine = browser.get("/status")
    assert mine.status_code == 200
    text = mine.get_data(as_text=True)
    assert "Ada Lovelace" in text and "Sign out" in text
    assert mine.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in mine.headers
    assert "'nonce-" in mine.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", mine.headers["Content-Security-Policy"])[1]
    assert f'nonce="{nonce}"' in text
    again = public.get("/status")
    assert again.data == shared.data and b"Ada Lovelace" not in again.data
    assert b"csrf_token" not in again.data and b"Sign out" not in again.data
    assert page_renders(renders) == 2  # the shared one once, the person's own once
    # Their browser sending the shared page's ETag still gets their own page.
    mine_again = browser.get("/status", headers={"If-None-Match": shared.headers["ETag"]})
    assert mine_again.status_code == 200 and "Ada Lovelace" in mine_again.get_data(as_text=True)


def test_a_flashed_message_is_neither_shown_to_others_nor_used_up(app, browser, timer):
    browser.sign_in()
    page = browser.get("/incidents").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    browser.client.post("/sign-out", data={"csrf_token": token, "everywhere": "1"})
    signed_out = browser.get("/status")  # anonymous now, a flash waiting in the session
    assert b"signed out everywhere" not in signed_out.data
    assert b"signed out everywhere" not in app.test_client().get("/status").data
    assert "signed out everywhere" in browser.get("/sign-in").get_data(as_text=True)


def test_the_feed_is_rendered_once_answers_304_and_follows_changes(app, browser, timer,
                                                                  statements):
    public = app.test_client()
    first = public.get("/status/feed.atom")
    assert first.mimetype == "application/atom+xml"
    assert first.headers["Cache-Control"] == "public, max-age=5, stale-while-revalidate=10"
    statements.clear()
    for _ in range(20):
        assert public.get("/status/feed.atom").data == first.data
    assert statements == []
    assert public.get("/status/feed.atom", headers={
        "If-None-Match": first.headers["ETag"]}).status_code == 304
    browser.sign_in()
    publish(browser, browser.declare(), "Logins are failing.", title="Sign-in trouble")
    timer.advance()
    changed = public.get("/status/feed.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and b"Sign-in trouble" in changed.data
    assert changed.headers["ETag"] != first.headers["ETag"]
    mine = browser.get("/status/feed.atom")
    assert mine.headers["Cache-Control"] == "private, no-store"


def test_nothing_of_a_security_incident_in_the_page_or_feed_nor_their_etags(
        app, browser, timer):
    public = app.test_client()
    page, feed = public.get("/status"), public.get("/status/feed.atom")
    browser.sign_in()
    reference = browser.declare(title="Customer data exposed", is_security="y",
                                new_services="Accounts")
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "investigating", "message": "We are looking into a breach.",
        "to_channel": "", "contacts": [], "extra_recipients": "", "publish": "y",
        "public_title": "Data incident"})
    assert response.status_code == 400  # never published
    timer.advance(60)
    for url, before in (("/status", page), ("/status/feed.atom", feed)):
        after = public.get(url)
        assert after.headers["ETag"] == before.headers["ETag"]
        for word in (b"breach", b"Data incident", b"Customer data", reference.encode()):
            assert word not in after.data
