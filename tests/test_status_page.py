"""The public status page and feed: no sign-in, only what was published, never a
security incident; closing waits until the page says resolved."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from sqlalchemy import select

from app.incidents.models import Service

ATOM = "{http://www.w3.org/2005/Atom}"


def update(browser, reference, phase, message, publish=True, title=None, **extra):
    data = {"phase": phase, "message": message, "to_channel": "", "contacts": [],
            "extra_recipients": "", **extra}
    if publish:
        data["publish"] = "y"
        data["public_title"] = title or ""
    return browser.submit(f"/incidents/{reference}/updates/new", data=data)


def make_public(session, name: str) -> None:
    service = session.scalar(select(Service).where(Service.name == name))
    service.public = True
    session.commit()


def test_only_published_words_reach_the_public(app, browser, session):
    browser.sign_in(name="Ada Lovelace")
    reference = browser.declare(title="db-2 disk full on payments-prod <internal>",
                                description="Secret internal detail", severity="P1",
                                new_services="Payments")
    make_public(session, "Payments")
    public = app.test_client()  # nobody signed in
    page = public.get("/status").get_data(as_text=True)
    assert "All services are working normally" in page and "Operational" in page
    update(browser, reference, "investigating", "Internal only: Ada is on db-2",
           publish=False, extra_recipients="ops@example.org")
    assert "Internal only" not in public.get("/status").get_data(as_text=True)

    response = update(browser, reference, "identified",
                      "Card payments are failing. We have found the cause <and> are fixing it.",
                      title="Card payments failing")
    assert response.status_code == 302, response.get_data(as_text=True)
    response = public.get("/status")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Card payments failing" in page and "Major outage" in page
    assert "found the cause &lt;and&gt; are fixing it" in page
    for private in ("db-2 disk full", "Secret internal detail", "Internal only", "Ada",
                    reference):
        assert private not in page, private
    feed = public.get("/status/feed.atom")
    assert feed.mimetype == "application/atom+xml"
    root = ET.fromstring(feed.data)  # noqa: S314 - our own feed, parsed to check it
    titles = [e.findtext(f"{ATOM}title") for e in root.iter(f"{ATOM}entry")]
    assert titles == ["Identified: Card payments failing"]
    assert b"Internal only" not in feed.data and b"db-2" not in feed.data


def test_closing_waits_for_the_status_page_to_say_resolved(app, browser, session):
    browser.sign_in()
    reference = browser.declare(title="Search slow")
    update(browser, reference, "investigating", "Search is slow.", title="Slow search")
    url = f"/incidents/{reference}"
    browser.submit(url, f"{url}/status", {"status-status": "resolved", "status-note": "ok"})
    response = browser.submit(url, f"{url}/status", {"status-status": "closed",
                                                     "status-note": ""})
    assert response.status_code == 400
    assert "status page still shows this incident as investigating" in response.get_data(
        as_text=True)
    update(browser, reference, "resolved", "Search is back to normal.")
    response = browser.submit(url, f"{url}/status", {"status-status": "closed",
                                                     "status-note": ""})
    assert response.status_code == 302
    page = app.test_client().get("/status").get_data(as_text=True)
    assert "Past incidents" in page and "Slow search" in page
    assert "All services are working normally" in page


def test_security_incidents_never_appear(app, browser, session):
    browser.sign_in()
    reference = browser.declare(title="Customer data exposed", is_security="y")
    response = update(browser, reference, "investigating", "We are looking into a breach.",
                      title="Data incident")
    assert response.status_code == 400
    assert "Security incidents are never published" in response.get_data(as_text=True) or \
        "nothing about it goes on the public status page" in response.get_data(as_text=True)
    page = app.test_client().get("/status").get_data(as_text=True)
    assert "breach" not in page and "Data incident" not in page
    assert b"breach" not in app.test_client().get("/status/feed.atom").data


def test_publishing_needs_a_public_title(app, browser):
    browser.sign_in()
    reference = browser.declare()
    page = browser.get(f"/incidents/{reference}/updates/new").get_data(as_text=True)
    assert 'value="example.com returning errors"' in page  # offered, to be reworded
    response = update(browser, reference, "investigating", "Looking", title=" ")
    assert response.status_code == 400
    assert "Enter the title the status page shows." in response.get_data(as_text=True)
