"""The incident tab as a person in Teams sees it, in headless Chromium: the Graph sandbox's
Teams host page frames the tab and answers teams-js, so the tab signs in with Teams SSO
(no second sign-in), is pinned to the channel's own incident, and takes a note through its
form inside the frame. axe-core checks its pages at 375 px and at the 280 px of a Teams
meeting side panel's iframe; screenshots go to /tmp/tab-*.png."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app.db import Session
from app.m365.models import TeamsChannel
from tests.conftest import Browser, drain
from tests.e2e.test_browser import AXE, CHROMIUM, FLAGS

pytestmark = pytest.mark.slow  # a real Chromium

SIDE_PANEL = 280  # px: a meeting side panel's iframe (Teams' design guidelines)
PHONE = 375
SHOTS = Path(tempfile.gettempdir())  # tab-config-375.png, tab-incident-280.png…


@pytest.fixture
def live(sandbox_app):
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sandbox_app.config["SERVER_NAME"] = None
    server = make_server("127.0.0.1", 0, sandbox_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def live_https(sandbox_app):
    """The app over https, as Teams needs it: teams-js opens only https pop-ups."""
    from graph.sandbox.tls import make_certificate, server_context

    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sandbox_app.config["SERVER_NAME"] = None
    certificate, key = make_certificate()
    server = make_server("127.0.0.1", 0, sandbox_app, threaded=True,
                         ssl_context=server_context(certificate, key))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_port}"
    server.shutdown()


def serious(frame) -> list:
    frame.add_script_tag(path=str(AXE))
    found = frame.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a',
                                                     'wcag21aa', 'best-practice']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target)}));
    }""")
    return [v for v in found if v["impact"] in ("serious", "critical")]


def declared(sandbox_app, live):
    """(person, reference, the sandbox Teams host page's address for a width)."""
    from app.m365.sandbox_host import sandbox_for
    from app.web.tab.hosts import tab_app

    person = Browser(sandbox_app.test_client())
    person.sign_in(name="Ada Lovelace", email="ada@example.org")
    reference = person.declare(title="Card payments failing")
    drain(sandbox_app)
    with sandbox_app.app_context():
        channel = Session.scalar(select(TeamsChannel))
        channel_id, team_id = channel.channel_id, channel.team_id
    with sandbox_app.test_request_context():
        resource = tab_app().resource
    host = sandbox_for(sandbox_app).url

    def host_url(width: int) -> str:
        return f"{host}/_sandbox/teams-host?" + urlencode({
            "tab": f"{live}/tab/config?channel={channel_id}&team={team_id}", "config": "1",
            "resource": resource, "upn": "ada@example.org", "name": "Ada Lovelace",
            "channel": channel_id, "team": team_id, "width": width})

    return person, reference, host_url


def test_the_tab_opens_signed_in_and_takes_a_note(sandbox_app, live):
    from playwright.sync_api import sync_playwright

    person, reference, host_url = declared(sandbox_app, live)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        for width in (PHONE, SIDE_PANEL):
            context = browser.new_context(viewport={"width": width + 40, "height": 900},
                                          bypass_csp=True)  # only so axe can be injected
            page = context.new_page()
            page.goto(host_url(width))
            tab = page.frame_locator("#tab")
            tab.get_by_role("heading", name="Pin an incident to this channel").wait_for()
            frame = next(f for f in page.frames if "/tab/config" in f.url)
            assert tab.get_by_label("Incident").input_value() == reference
            assert serious(frame) == [], f"config at {width}px"
            page.screenshot(path=str(SHOTS / f"tab-config-{width}.png"), full_page=True)
            page.get_by_role("button", name="Save").click()
            tab.get_by_role("heading", name="Card payments failing").wait_for()
            frame = next(f for f in page.frames if "/tab/incident?" in f.url)
            assert frame.evaluate("document.documentElement.scrollWidth") <= width
            assert serious(frame) == [], f"incident at {width}px"
            tab.get_by_label("Add to the log").fill(f"Rolled back the deploy ({width}px).")
            tab.get_by_role("button", name="Add to the log").click()
            tab.get_by_text("Added to the log.").wait_for()
            tab.get_by_text(f"Rolled back the deploy ({width}px).").first.wait_for()
            page.screenshot(path=str(SHOTS / f"tab-incident-{width}.png"), full_page=True)
            frame.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            page.screenshot(path=str(SHOTS / f"tab-incident-{width}-end.png"), full_page=True)
            log = page.evaluate("window.sandboxTeams.log")
            assert "authentication.getAuthToken" in log and "settings.setSettings" in log
            context.close()
        browser.close()
    # The note is the person's, on the incident's timeline, as the website shows it.
    page = person.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Rolled back the deploy (280px)." in page


def test_consent_asked_for_in_teams_pop_up_then_signed_in(sandbox_app, live_https):
    from playwright.sync_api import sync_playwright

    from app.m365.sandbox_host import sandbox_for
    from graph.sandbox.seed import CLIENT_ID

    _person, reference, host_url = declared(sandbox_app, live_https)
    state = sandbox_for(sandbox_app).state
    with state.tx() as tx:  # an administrator never consented to sending mail for people
        app = tx.get("app", CLIENT_ID)
        tx.put("app", CLIENT_ID, {**app, "delegated": [s for s in app["delegated"]
                                                       if s != "Mail.Send"]})
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_context(viewport={"width": PHONE + 40, "height": 900},
                                   bypass_csp=True,  # only so axe can be injected
                                   ignore_https_errors=True).new_page()  # its own certificate
        page.goto(host_url(PHONE))
        tab = page.frame_locator("#tab")
        tab.get_by_text("needs your permission").wait_for()
        frame = next(f for f in page.frames if "/tab/config" in f.url)
        assert serious(frame) == [], "consent needed"
        page.screenshot(path=str(SHOTS / "tab-consent-375.png"), full_page=True)
        with page.expect_popup() as opened:
            tab.get_by_role("button", name="Give permission").click()
        opened.value.wait_for_event("close")
        tab.get_by_role("heading", name="Pin an incident to this channel").wait_for()
        assert tab.get_by_label("Incident").input_value() == reference
        browser.close()
    assert "Mail.Send" in state.app(CLIENT_ID)["delegated"]
