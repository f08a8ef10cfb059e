"""Saved update templates: seeded by migration 0029, kept by administrators, offered by
the web form and the Teams card alike, and filled in with wording that reads right."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, insert, select

from app import db
from app.bot import update_form
from app.incidents.models import Incident
from app.updates import templates as saved
from app.updates.models import UpdateTemplate
from app.updates.phrasing import TEMPLATES

LONDON = ZoneInfo("Europe/London")
SEEDED = [("Possible issue being investigated", "investigating"),
          ("Investigating", "investigating"), ("Identified", "identified"),
          ("Monitoring", "monitoring"), ("Resolved", "resolved")]
OPTION = re.compile(r'<option value="([^"]*)"[^>]*>([^<]*)</option>')


@pytest.fixture(autouse=True)
def templates_kept(app):
    """The seeded rows back as the migration left them after each test (the tests' table
    cleaning leaves settings tables alone)."""
    table = UpdateTemplate.__table__
    engine = app.extensions["db_engine"]
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table)).mappings()]
    yield
    db.Session.remove()
    with engine.begin() as conn:
        conn.execute(delete(table))
        conn.execute(insert(table), rows)


def _form_page(browser, reference, **query) -> str:
    response = browser.get(f"/incidents/{reference}/updates/new", query_string=query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _message(page: str) -> str:
    match = re.search(r'<textarea[^>]*name="message"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "no message box"
    return html.unescape(match.group(1)).strip()


def _checked_phase(page: str) -> str:
    [phase] = re.findall(r'<input[^>]*name="phase"[^>]*value="([a-z]+)"[^>]*checked', page)
    return phase


def _card(app, reference, data=None) -> dict:
    with app.app_context():
        incident = db.Session.scalar(select(Incident).where(Incident.reference == reference))
        card = update_form.opened(db.Session, app.extensions["org"],
                                  app.extensions["installation"], incident,
                                  {"incident_id": incident.id, **(data or {})})
        db.Session.remove()
    return card


def _card_templates(card: dict) -> list[tuple[str, str]]:
    [buttons] = [e for e in card["body"] if e.get("type") == "ActionSet"]
    return [(a["data"]["template"], a["title"]) for a in buttons["actions"]]


def _card_message(card: dict) -> str:
    return next(e for e in card["body"] if e.get("id") == "message")["value"]


def _edit(browser, template_id=None, **fields):
    url = ("/admin/update-templates/new" if template_id is None
           else f"/admin/update-templates/{template_id}/edit")
    data = {"name": "Card payments", "phase": "identified", "position": "5",
            "public_text": "Card payments through {services} are failing. {impact}",
            "internal_text": ""}
    data.update(fields)
    return browser.submit(url, data=data)


def test_the_migration_seeds_a_possible_issue_and_one_per_phase(app, session):
    rows = session.scalars(select(UpdateTemplate).order_by(UpdateTemplate.position)).all()
    assert [(t.name, t.phase) for t in rows] == SEEDED
    assert all(t.active for t in rows)
    assert rows[0].internal_text  # the possible issue has a wording for the team
    # The first of each phase is the code's fallback wording for it, word for word.
    first = {}
    for t in rows:
        first.setdefault(t.phase, t.public_text)
    assert first == TEMPLATES
    for t in rows:
        saved.check_wording(t.public_text, "public_text")
        saved.check_wording(t.internal_text, "internal_text")


def test_a_p1_says_all_users_and_the_next_update_is_a_clock_time(app, browser, frozen_clock):
    browser.sign_in()
    p1 = browser.declare(new_services="Payments, Checkout", severity="P1")
    message = _message(_form_page(browser, p1))
    assert message == ("We are investigating reports that Checkout and Payments are not "
                       "working as expected. All users are affected. We will update you "
                       "by 10:00 GMT.")
    p2 = browser.declare(new_services="Payments", severity="P2")
    message = _message(_form_page(browser, p2))
    assert "Some users may be affected. We will update you by 11:00 GMT." in message
    p3 = browser.declare(new_services="Payments", severity="P3")
    message = _message(_form_page(browser, p3, phase="identified"))
    assert message.endswith("Some users may be affected. We will update you by 13:00 GMT.")
    for reference in (p1, p2, p3):
        page = _form_page(browser, reference)
        assert "minutes from now" not in page and "by 2 hours" not in page
        assert "by 4 hours" not in page


def test_the_next_update_across_midnight_says_tomorrow(app, browser, frozen_clock):
    frozen_clock.value = datetime(2026, 11, 22, 23, 30, 40, tzinfo=UTC)
    browser.sign_in()
    reference = browser.declare(new_services="Payments", severity="P1")
    assert _message(_form_page(browser, reference)).endswith(
        "We will update you by 00:30 GMT tomorrow.")
    now = datetime(2026, 7, 1, 22, 10, tzinfo=UTC)  # 23:10 BST
    assert saved.next_update_at(datetime(2026, 7, 1, 22, 50, tzinfo=UTC), now,
                                LONDON) == "by 23:50 BST"
    assert saved.next_update_at(datetime(2026, 7, 1, 23, 10, tzinfo=UTC), now,
                                LONDON) == "by 00:10 BST tomorrow"
    assert saved.next_update_at(datetime(2026, 7, 3, 8, 0, tzinfo=UTC), now,
                                LONDON) == "by 09:00 BST on Friday 3 July"
    assert saved.next_update_at(None, now, LONDON) == "when we know more"
    assert saved.next_update_at(now, now, ZoneInfo("Asia/Dubai")) == "by 02:10 UTC+04:00"


def test_rendering_replaces_only_the_known_names_and_never_raises():
    values = {"services": "{impact} Pay", "impact": "All users are affected.",
              "problem": "is down", "next_update": "by 10:00 GMT"}
    text = ("{services.__class__} {0} {} {services[0]} {impact {services} {problem} "
            "{next_update} {{services}} %s")
    assert saved.render(text, values) == (
        "{services.__class__} {0} {} {services[0]} {impact {impact} Pay is down "
        "by 10:00 GMT {{impact} Pay} %s")
    assert saved.render("", values) == ""


def test_an_administrator_adds_changes_and_retires_a_template(app, browser, session,
                                                              frozen_clock):
    browser.sign_in(name="Grace Hopper", admin=True)
    assert "Update templates" in browser.get("/admin/update-templates").get_data(as_text=True)
    response = _edit(browser)
    assert response.status_code == 302, response.get_data(as_text=True)
    added = session.scalar(select(UpdateTemplate).where(UpdateTemplate.name == "Card payments"))
    assert (added.phase, added.position, added.updated_by, added.active) == (
        "identified", 5, "Grace Hopper", True)
    session.remove()
    reference = browser.declare(new_services="Payments", severity="P1")
    page = _form_page(browser, reference, template=str(added.id))
    assert _message(page) == "Card payments through Payments are failing. All users are affected."
    assert _checked_phase(page) == "identified"  # the template's stage, chosen with it
    # Changed: the lowest position of its phase, so the form starts from it.
    response = _edit(browser, added.id, phase="investigating", position="0")
    assert response.status_code == 302
    assert _message(_form_page(browser, reference)).startswith("Card payments through")
    response = browser.submit("/admin/update-templates",
                              f"/admin/update-templates/{added.id}/retire")
    assert response.status_code == 302
    assert f'value="{added.id}"' not in _form_page(browser, reference)
    assert _message(_form_page(browser, reference, template=str(added.id))).startswith(
        "We are investigating reports that Payments")  # a retired one is not used
    response = browser.submit("/admin/update-templates",
                              f"/admin/update-templates/{added.id}/restore")
    assert response.status_code == 302
    assert f'value="{added.id}"' in _form_page(browser, reference)


@pytest.mark.parametrize(("text", "said"), [
    ("We will update you {next_update_time}.",
     "{next_update_time} is not a placeholder. Use only {services}, {problem}, {impact}, "
     "{next_update}."),
    ("{services.__class__} and {0}",
     "{services.__class__}, {0} are not placeholders. Use only {services}, {problem}, "
     "{impact}, {next_update}."),
    ("Broken {services", "Curly brackets are only for placeholders, each closed"),
    ("We will update you by {next_update}.", "Write {next_update} without “by” before it"),
])
def test_a_bad_placeholder_is_refused_with_what_is_allowed(app, browser, session, text, said):
    browser.sign_in(admin=True)
    [identified] = session.scalars(select(UpdateTemplate).where(
        UpdateTemplate.name == "Identified")).all()
    before = identified.public_text
    session.remove()
    response = _edit(browser, identified.id, name="Identified", public_text=text)
    assert response.status_code == 400
    assert said in html.unescape(response.get_data(as_text=True))
    response = _edit(browser, identified.id, name="Identified", public_text="Fine.",
                     internal_text=text)
    assert response.status_code == 400
    assert said in html.unescape(response.get_data(as_text=True))
    assert session.get(UpdateTemplate, identified.id).public_text == before


def test_names_lengths_and_positions_are_bounded(app, browser, session):
    browser.sign_in(admin=True)
    for fields, said in [({"name": "Monitoring"}, "Another template has this name"),
                         ({"name": "x" * 81}, "The name must be 80 characters or fewer."),
                         ({"public_text": "y" * 2001},
                          "The wording must be 2,000 characters or fewer."),
                         ({"position": "1000"}, "Enter a position from 0 to 999"),
                         ({"position": "first"}, "Enter a position from 0 to 999"),
                         ({"phase": "closed"}, "Not a valid choice")]:
        response = _edit(browser, **fields)
        assert response.status_code == 400, fields
        assert said in html.unescape(response.get_data(as_text=True)), fields
    assert len(session.scalars(select(UpdateTemplate)).all()) == len(SEEDED)


def test_only_administrators_see_or_change_templates(app, browser, other_browser, session):
    browser.sign_in(admin=True)  # for a CSRF token a person could have
    other_browser.sign_in(name="Bob", email="bob@example.com")
    template_id = session.scalar(select(UpdateTemplate.id).limit(1))
    session.remove()
    for url in ("/admin/update-templates", "/admin/update-templates/new",
                f"/admin/update-templates/{template_id}/edit"):
        assert other_browser.get(url).status_code == 403, url
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', other_browser.get(
        f"/incidents/{other_browser.declare()}/updates/new").get_data(as_text=True)).group(1)
    for url in ("/admin/update-templates/new", f"/admin/update-templates/{template_id}/edit",
                f"/admin/update-templates/{template_id}/retire",
                f"/admin/update-templates/{template_id}/restore"):
        response = other_browser.client.post(url, data={
            "csrf_token": token, "name": "Mine", "phase": "identified", "position": "0",
            "public_text": "Hello"})
        assert response.status_code == 403, url
    assert session.get(UpdateTemplate, template_id).active
    assert session.scalar(select(UpdateTemplate).where(UpdateTemplate.name == "Mine")) is None
    page = other_browser.get("/incidents").get_data(as_text=True)
    assert "Update templates" not in page
    assert "Update templates" in browser.get("/incidents").get_data(as_text=True)
    # No CSRF token, even for an administrator: refused.
    response = browser.client.post(f"/admin/update-templates/{template_id}/retire")
    assert response.status_code == 400
    assert session.get(UpdateTemplate, template_id).active


def test_the_web_form_and_the_teams_card_offer_the_same_templates(app, browser, session,
                                                                  frozen_clock):
    browser.sign_in(admin=True)
    assert _edit(browser, name="Third party", phase="identified", position="35",
                 public_text="A supplier of {services} has a problem. {impact}",
                 internal_text="Supplier ticket raised; chase {next_update}.").status_code == 302
    reference = browser.declare(new_services="Payments", severity="P2")
    page = _form_page(browser, reference)
    web = [(key, html.unescape(label).split(": ", 1)[1]) for key, label in OPTION.findall(page)]
    card = _card(app, reference)
    assert _card_templates(card) == web
    labels = [label for _key, label in web]
    assert labels[:2] == ["Possible issue being investigated",
                          "Possible issue being investigated (internal: not for the status "
                          "page)"]
    assert "Third party" in labels and "Third party (internal: not for the status page)" in labels
    assert len(web) == len(SEEDED) + 3
    # Both start from the same wording, and choosing one gives the same message on both.
    assert _card_message(card) == _message(page)
    for key, _label in web:
        chosen = _card(app, reference, {"template": key, "phase": "resolved",
                                        "message": "typed"})
        assert _card_message(chosen) == _message(_form_page(browser, reference, template=key))
    internal = dict((label, key) for key, label in web)[
        "Third party (internal: not for the status page)"]
    assert _message(_form_page(browser, reference, template=internal)) == (
        "Supplier ticket raised; chase by 11:00 GMT.")
    # A card from before saved templates carried a phase: still that phase's first one.
    old = _card(app, reference, {"template": "monitoring"})
    assert _card_message(old).startswith("A fix has been put in place for the problem with")
    # Everything retired: the phases' own wordings, on both.
    session.execute(UpdateTemplate.__table__.update().values(active=False))
    session.commit()
    assert OPTION.findall(_form_page(browser, reference)) == []
    assert [t for t, _ in _card_templates(_card(app, reference))] == [
        "investigating", "identified", "monitoring", "resolved"]
    assert _message(_form_page(browser, reference, phase="identified")).startswith(
        "We have identified the cause of the problem with Payments")


def test_administrators_words_are_escaped_in_pages_and_cards(app, browser, session):
    browser.sign_in(admin=True)
    name = '<script>alert("n")</script>'
    wording = "<b>Down</b> [link](https://evil.example) {services} <img src=x onerror=1>"
    assert _edit(browser, name=name, phase="investigating", position="0",
                 public_text=wording).status_code == 302
    listing = browser.get("/admin/update-templates").get_data(as_text=True)
    assert "<script>alert" not in listing and "&lt;script&gt;alert" in listing
    assert "<b>Down</b>" not in listing and "<img src=x" not in listing
    reference = browser.declare(new_services="<i>Pay</i>")
    page = _form_page(browser, reference)
    assert "<script>alert" not in page and "<b>Down</b>" not in page and "<i>Pay</i>" not in page
    assert _message(page) == ("<b>Down</b> [link](https://evil.example) <i>Pay</i> "
                              "<img src=x onerror=1>")
    card = _card(app, reference)
    dumped = json.dumps(card)
    assert '"type": "TextBlock"' not in dumped  # text only in inputs, TextRuns and titles
    assert _card_message(card) == _message(page)  # an input's value: plain text, as typed
    assert (_card_templates(card)[0][1]) == name  # a button's title: plain text too
    for element in card["body"]:
        for run in element.get("inlines", []):
            assert "Down" not in run.get("text", "")  # never drawn as markdown
