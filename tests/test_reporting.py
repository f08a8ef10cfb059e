"""Reporting: figures for a month over what the viewer may see, charts with tables, and
the monthly summary as a Word document that LibreOffice can open."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO

from docx import Document


def declare_at(browser, frozen_clock, when, **fields) -> str:
    frozen_clock.value = when
    return browser.declare(**fields)


def resolve(browser, frozen_clock, reference, when):
    frozen_clock.value = when
    browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/status",
                   {"status-status": "resolved", "status-note": "Fixed"})


def test_a_month_of_incidents(app, browser, other_browser, session, frozen_clock):
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    a = declare_at(browser, frozen_clock, datetime(2026, 11, 3, 9, 0, tzinfo=UTC),
                   title="Payments down", severity="P1", new_services="Payments")
    resolve(browser, frozen_clock, a, datetime(2026, 11, 3, 11, 0, tzinfo=UTC))
    b = declare_at(browser, frozen_clock, datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
                   title="Search slow <again>", severity="P2", new_services="Search")
    resolve(browser, frozen_clock, b, datetime(2026, 11, 10, 9, 30, tzinfo=UTC))
    declare_at(browser, frozen_clock, datetime(2026, 11, 12, 9, 0, tzinfo=UTC),
               title="Laptop stolen", severity="P1", is_security="y")
    declare_at(browser, frozen_clock, datetime(2026, 10, 30, 9, 0, tzinfo=UTC),
               title="October thing", severity="P3")
    frozen_clock.value = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    page = browser.get("/reporting?month=2026-11").get_data(as_text=True)
    assert "November 2026" in page and "October thing" not in page
    assert "Search slow &lt;again&gt;" in page and "<again>" not in page
    assert "2 hours" in page and "30 minutes" in page  # time to resolve, P1 and P2
    assert "1 security incident counted, not listed." in page
    assert "Laptop stolen" not in page
    assert '<svg role="img"' in page and "Incidents by severity: P1 2, P2 1, P3 0" in page

    other_browser.sign_in(name="Bob", email="bob@example.com")
    theirs = other_browser.get("/reporting?month=2026-11").get_data(as_text=True)
    assert "security incident" not in theirs  # not even counted for someone who cannot see it

    response = browser.get("/reporting/monthly.docx?month=2026-11")
    assert response.status_code == 200
    doc = Document(BytesIO(response.data))
    text = "\n".join([p.text for p in doc.paragraphs] + [
        c.text for t in doc.tables for r in t.rows for c in r.cells])
    assert "Monthly incident summary: November 2026" in text
    assert "3 incidents were declared in November 2026" in text
    assert "Search slow <again>" in text and "Laptop stolen" not in text
    assert doc.core_properties.title == "Monthly incident summary: November 2026"


def test_a_bad_month_shows_this_month(app, browser, frozen_clock):
    browser.sign_in()
    page = browser.get("/reporting?month=nonsense").get_data(as_text=True)
    assert "November 2026" in page
