"""Follow-up actions: agreed at the review, in the reports, listed across incidents, and
chased by email when overdue."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.actions.models import FollowUpAction
from app.auth.models import User
from app.jobs import send_reminders
from tests.conftest import drain


def resolved_incident(browser, title="Checkout down") -> str:
    reference = browser.declare(title=title)
    browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/status",
                   {"status-status": "resolved", "status-note": "Rolled back"})
    return reference


def add_action(browser, reference, **fields):
    data = {"description": "Add a canary stage", "owner": "0", "due": ["", "", ""],
            "link": "", "status": "open"}
    data.update(fields)
    return browser.submit(f"/incidents/{reference}/actions/new", data=data)


def test_the_review_nudges_towards_about_three_actions(app, browser, session):
    browser.sign_in(name="Ada Lovelace")
    reference = resolved_incident(browser)
    page = browser.get(f"/incidents/{reference}/review").get_data(as_text=True)
    assert "aim for about three" in page
    ada = session.scalar(select(User))
    session.commit()
    for n in range(6):
        response = add_action(browser, reference, description=f"Action <{n}>",
                              owner=str(ada.id), due=["27", "3", "2027"])
        assert response.status_code == 302, response.get_data(as_text=True)
    page = browser.get(f"/incidents/{reference}/review").get_data(as_text=True)
    assert "There are 6 actions. Aim for about three" in page
    assert "Action &lt;0&gt;" in page and "27 Mar 2027" in page
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Follow-up action agreed: Action &lt;0&gt;" in page


def test_bad_action_input_is_explained_and_kept(app, browser):
    browser.sign_in()
    reference = resolved_incident(browser)
    response = add_action(browser, reference, description="Kept", due=["31", "2", "2027"])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Enter the due date as a real date" in page and "Kept" in page
    response = add_action(browser, reference, link="javascript:alert(1)")
    assert "Enter a full web address" in response.get_data(as_text=True)


def test_actions_across_incidents_and_overdue_ones_chased(app, browser, session, fake_graph,
                                                          frozen_clock):
    frozen_clock.value = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = resolved_incident(browser)
    ada = session.scalar(select(User))
    session.commit()
    add_action(browser, reference, description="Rotate the TLS certificate",
               owner=str(ada.id), due=["24", "11", "2026"])
    add_action(browser, reference, description="Write the runbook", due=["1", "12", "2026"])
    assert "Rotate the TLS certificate" in browser.get("/actions?state=mine").get_data(
        as_text=True)
    frozen_clock.value = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a day late
    browser.sign_in_again()
    page = browser.get("/actions?state=overdue").get_data(as_text=True)
    assert "Rotate the TLS certificate" in page and "Write the runbook" not in page
    with app.app_context():
        send_reminders()
        send_reminders()  # chased once, not every minute
    drain(app)
    chased = [m for m in fake_graph.mails() if "overdue" in m["subject"]]
    assert len(chased) == 1 and chased[0]["to"] == ["ada@example.com"]
    assert "was due 1 day ago" in chased[0]["html"]
    frozen_clock.value = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)  # a week on: again
    with app.app_context():
        send_reminders()
    drain(app)
    chased = [m for m in fake_graph.mails() if "overdue" in m["subject"]]
    assert len(chased) == 3  # the certificate again, and the unowned runbook to the lead
    assert "has no owner" in chased[-1]["html"] or "has no owner" in chased[-2]["html"]
    action = session.scalar(select(FollowUpAction).where(
        FollowUpAction.description == "Rotate the TLS certificate"))
    session.commit()
    browser.sign_in_again()
    response = browser.submit(f"/incidents/{reference}/actions/{action.id}/edit", data={
        "description": action.description, "owner": str(ada.id), "due": ["24", "11", "2026"],
        "link": "", "status": "done"})
    assert response.status_code == 302
    assert "Rotate the TLS" not in browser.get("/actions?state=overdue").get_data(
        as_text=True)


def test_actions_appear_in_the_reports(app, browser, session):
    from io import BytesIO

    from docx import Document

    browser.sign_in(name="Ada Lovelace")
    reference = resolved_incident(browser)
    add_action(browser, reference, description="Add a canary stage", due=["27", "3", "2027"])
    content = browser.get(f"/incidents/{reference}/reports/review_draft.docx").data
    cells = [c.text for t in Document(BytesIO(content)).tables for r in t.rows
             for c in r.cells]
    assert "Add a canary stage" in cells


def test_another_incidents_action_is_not_reachable(app, browser, other_browser, session):
    browser.sign_in()
    secret = browser.declare(title="Breach", is_security="y")
    add_action(browser, secret, description="Tell the ICO")
    action = session.scalar(select(FollowUpAction))
    session.commit()
    other_browser.sign_in(name="Bob", email="bob@example.com")
    assert other_browser.get(f"/incidents/{secret}/actions/{action.id}/edit").status_code \
        == 404
    assert "Tell the ICO" not in other_browser.get("/actions?state=all").get_data(
        as_text=True)


def test_a_hand_made_post_without_the_date_boxes_is_not_a_500(app, browser):
    browser.sign_in()
    reference = resolved_incident(browser)
    response = browser.submit(f"/incidents/{reference}/actions/new", data={})
    assert response.status_code == 400
    assert "Describe the action." in response.get_data(as_text=True)
