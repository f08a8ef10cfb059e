"""A person in headless Chromium: sign in, declare a P1, send an update, resolve, close.

Uses Debian's Chromium (/usr/bin/chromium) through Playwright; no browser is downloaded.
Screenshots of each step go to artifacts/screenshots/ (kept by CI), and axe-core checks
every page for serious accessibility problems.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import CI, drain

pytestmark = pytest.mark.slow  # a real Chromium

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def live_server(app):
    if not CHROMIUM.exists():
        if CI:
            pytest.fail(f"{CHROMIUM} is required under CI=true (apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    app.config["SERVER_NAME"] = None
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(base_url=live_server, viewport={"width": 1100,
                                                                      "height": 900},
                                      bypass_csp=True)  # only so axe-core can be injected
        yield context.new_page()
        context.close()
        browser.close()


def check_accessibility(page, name: str) -> None:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
                                       help: v.help}));
    }""")
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not serious, f"{name}: {serious}"


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_declare_update_resolve_close_as_a_person_would(app, page, fake_graph, frozen_clock):
    from dataclasses import replace

    fake_graph.add_drive("reports-drive")
    app.extensions["installation"] = replace(app.extensions["installation"],
                                        reports_drive_id="reports-drive")
    page.goto("/")
    assert page.title().startswith("Sign in")
    check_accessibility(page, "sign-in")
    shot(page, "01-sign-in")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_role("button", name="Sign in (development)").click()

    page.get_by_role("link", name="Declare an incident").first.click()
    check_accessibility(page, "declare")
    page.get_by_label("Title").fill("Checkout <b>failing</b> for card payments")
    page.get_by_label("What is happening?").fill("Card payments return 502 since 08:55.")
    page.get_by_label("P1", exact=False).first.check()
    shot(page, "02-declare")
    page.get_by_role("button", name="Declare incident").click()

    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == "Checkout <b>failing</b> for card payments"
    reference = page.locator(".govuk-caption-l").first.inner_text()
    drain(app)
    page.reload()
    number = reference.rsplit("-", 1)[1]
    page.get_by_text(f"Teams channel created: inc-{number}-2026-11-22-checkout-b-failing"
                     ).first.wait_for()
    check_accessibility(page, "incident")
    shot(page, "03-incident")

    page.get_by_role("link", name="Send an update").click()
    check_accessibility(page, "update")
    page.get_by_label("Update", exact=True).fill("We have found the cause: a bad deploy.")
    page.get_by_label("Also email").fill("stakeholders@example.com")
    shot(page, "04-update")
    page.get_by_role("button", name="Send update").click()
    page.get_by_text("Update sent (investigating) to the Teams channel").first.wait_for()

    page.get_by_label("Resolved").check()
    page.get_by_label("Note").fill("Rolled back the deploy; payments are flowing.")
    page.get_by_role("button", name="Change status").click()
    page.get_by_text("Status is now resolved.").wait_for()
    page.get_by_role("link", name="Write up the review").click()
    check_accessibility(page, "review")
    page.get_by_label("What happened, in plain English").fill(
        "Card payments failed for 40 minutes after a deploy.")
    page.get_by_label("Lessons learnt").fill("Canary releases for the payments service")
    shot(page, "05-review")
    page.get_by_role("button", name="Save and write the draft report").click()
    page.get_by_text("Review saved.").wait_for()
    page.get_by_label("Closed").check()
    page.get_by_role("button", name="Change status").click()
    page.get_by_text("Status is now closed.").wait_for()
    drain(app)
    page.reload()
    shot(page, "06-closed")
    check_accessibility(page, "closed incident")

    page.get_by_role("link", name="Incidents").first.click()
    page.get_by_label("Status").select_option("all")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_role("link", name=reference).first.wait_for()
    shot(page, "07-list")
    assert len(fake_graph.mails()) == 1
    names = sorted(f["name"] for f in fake_graph.files("reports-drive"))
    assert names == [f"2026-11-22 {reference} {kind}.docx" for kind in (
        "Major incident report", "Post-incident review (draft)", "Public version",
        "Running incident report")]


def test_the_public_status_page_is_accessible(app, page, browser, session):
    """Signed out, as the public sees it, with a published incident on it."""
    from sqlalchemy import select

    from app.incidents.models import Service

    browser.sign_in()
    reference = browser.declare(title="Internal: db-2 full", severity="P1",
                                new_services="Payments")
    service = session.scalar(select(Service))
    service.public = True
    session.commit()
    browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "identified", "message": "Card payments are failing; a fix is going out.",
        "publish": "y", "public_title": "Card payments failing"})
    page.goto("/status")
    page.get_by_role("heading", name="Card payments failing").wait_for()
    assert "db-2" not in page.content()
    check_accessibility(page, "status page")
    shot(page, "08-status-page")
