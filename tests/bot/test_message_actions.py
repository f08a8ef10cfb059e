"""Message actions over real HTTP: a person posts in the incident's channel through the
sandbox's Graph, someone chooses "Add to incident timeline" or "Declare incident from
message" on it, and the sandbox's Bot Connector delivers the `composeExtension/fetchTask`
and `composeExtension/submitAction` invokes Teams would (the message as
`messagePayload`, graph/sandbox/connector_invokes.py). The bot's dialogs, the database,
the incident page and the Word report say what happened."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from io import BytesIO

import pytest
import requests
from docx import Document
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from sqlalchemy import select

from app import db
from app.bot import message_actions
from app.incidents import scribe
from app.incidents.models import Incident, TimelineEntry
from app.m365.models import ChannelMessageCopy, TeamsChannel
from app.teams_app import manifest as teams_manifest
from graph.sandbox import connector_invokes as invokes
from graph.sandbox.directory import object_id
from graph.sandbox.seed import BOT_APP_ID, CLIENT_ID, add_members
from tests.conftest import Browser, drain
from tests.test_teams_app import IDENTITY, SCHEMA, schema_errors

ADA = ("ada.lovelace@example.org", "Ada Lovelace")  # declares and leads
GRACE = ("grace.hopper@example.org", "Grace Hopper")  # writes in the channel
CY = ("cy.young@example.org", "Cy Young")  # signed in, not on the security incident
STRANGER = ("nobody@example.org", "No Body")  # never signed in
ADD, DECLARE = message_actions.ADD_TO_TIMELINE, message_actions.DECLARE
FETCH, SUBMIT = message_actions.FETCH, message_actions.SUBMIT
MESSAGE = "<p>db-2 CPU at 100% <b>since 08:50</b></p><p>Failing over to db-3</p>"


def signed_in(application, person) -> Browser:
    """A dev sign-in with the sandbox: their object id is the sandbox's for the email."""
    browser = Browser(application.test_client())
    browser.sign_in(name=person[1], email=person[0])
    return browser


@pytest.fixture
def desk(bot_app):
    """Ada's incident with its Teams channel, and Grace's message posted in it."""
    application, bot_url, sandbox = bot_app
    ada = signed_in(application, ADA)
    signed_in(application, CY)
    reference = ada.declare(title="Search is slow", severity="P2")
    drain(application)  # the channel is made by the outbox
    with application.app_context():
        channel = db.Session.scalar(select(TeamsChannel))
        team_id, channel_id = channel.team_id, channel.channel_id
        db.Session.remove()
    message = post_as(sandbox, GRACE, team_id, channel_id, MESSAGE)
    return dict(app=application, bot_url=bot_url, sandbox=sandbox, ada=ada,
                reference=reference, team_id=team_id, channel_id=channel_id,
                message=message)


def post_as(sandbox, person, team_id: str, channel_id: str, content: str) -> dict:
    """The person posts in the channel through the sandbox's Graph, as Teams would."""
    sandbox.state.add_user(person[0], person[1])
    add_members(sandbox.state, [person[0]], team_id=team_id)
    token = sandbox.state.token_for(person[0], CLIENT_ID)
    http = requests.Session()
    http.trust_env = False
    try:
        answer = http.post(f"{sandbox.graph_base_url}/teams/{team_id}/channels/{channel_id}"
                           "/messages", timeout=10, headers={"Authorization": f"Bearer {token}"},
                           json={"body": {"contentType": "html", "content": content}})
    finally:
        http.close()
    assert answer.status_code == 201, answer.text
    return answer.json()


def invoke(d, person, name: str, command: str, payload: dict, data: dict | None = None,
           **where) -> dict:
    place = dict(service_url=f"{d['sandbox'].url}/", bot_id=BOT_APP_ID,
                 user_oid=object_id(person[0]), user_name=person[1],
                 user_mri=f"29:mri-{object_id(person[0])[:8]}", channel_id=d["channel_id"],
                 team_id=d["team_id"])
    place.update(where)
    activity = invokes.message_action(name, command, payload, data=data, **place)
    status, body = invokes.send(d["sandbox"].state, d["bot_url"], activity, bot_id=BOT_APP_ID)
    assert status == 200, body
    return body


def dialog_card(body: dict) -> dict:
    task = body["task"]
    assert task["type"] == "continue", task
    assert task["value"]["card"]["contentType"] == "application/vnd.microsoft.card.adaptive"
    return task["value"]["card"]["content"]


def inputs(card: dict) -> dict[str, dict]:
    return {e["id"]: e for e in card["body"] if str(e.get("type", "")).startswith("Input.")}


def words(card: dict) -> str:
    """Every TextRun of a card, joined."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "TextRun":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return " ".join(found)


def entries(d, **where) -> list[TimelineEntry]:
    with d["app"].app_context():
        rows = db.Session.scalars(select(TimelineEntry).where(
            TimelineEntry.kind == "note").filter_by(**where).order_by(TimelineEntry.id)).all()
        db.Session.expunge_all()
        return rows


def incident_id(d, reference: str | None = None) -> int:
    with d["app"].app_context():
        return db.Session.scalar(select(Incident.id).where(
            Incident.reference == (reference or d["reference"])))


def docx_text_and_links(content: bytes) -> tuple[str, set[str]]:
    document = Document(BytesIO(content))
    text = "\n".join([p.text for p in document.paragraphs] + [
        cell.text for table in document.tables for row in table.rows for cell in row.cells])
    links = {r.target_ref for r in document.part.rels.values() if r.reltype == RT.HYPERLINK}
    return text, links


# ---- the app package --------------------------------------------------------------------


def test_the_manifest_offers_both_actions_on_messages():
    manifest = teams_manifest.build(IDENTITY)
    assert schema_errors(manifest, SCHEMA) == []
    [extension] = manifest["composeExtensions"]
    assert extension["botId"] == IDENTITY.bot_app_id
    assert [c["id"] for c in extension["commands"]] == [ADD, DECLARE]
    for command in extension["commands"]:
        assert command["type"] == "action" and command["context"] == ["message"]
        assert command["fetchTask"] is True and "parameters" not in command
        assert len(command["title"]) <= 32 and len(command["description"]) <= 128
    assert "Add to incident timeline" in manifest["description"]["full"]


# ---- add to the timeline ----------------------------------------------------------------


def test_a_message_added_to_the_channels_incident_shows_who_when_and_where(desk):
    d, message = desk, desk["message"]
    payload = invokes.message_payload(d["sandbox"].state, message["id"])
    assert payload["from"]["user"]["displayName"] == "Grace Hopper"
    assert payload["linkToMessage"] == message["webUrl"]

    newer = d["ada"].declare(title="Checkout is slow", severity="P3")  # listed first else
    form = dialog_card(invoke(d, ADA, FETCH, ADD, payload))
    fields = inputs(form)
    own = incident_id(d)
    assert fields["incident_id"]["value"] == str(own)  # the channel's own incident
    assert [c["title"] for c in fields["incident_id"]["choices"]] == [
        f"{d['reference']}: Search is slow", f"{newer}: Checkout is slow"]
    elsewhere = dialog_card(invoke(d, ADA, FETCH, ADD, payload, channel_id="19:general"))
    assert inputs(elsewhere)["incident_id"]["value"] == str(incident_id(d, newer))
    assert [c["value"] for c in fields["entry_type"]["choices"]] == list(scribe.ENTRY_TYPES)
    assert fields["entry_type"]["value"] == "event"
    assert fields["text"]["value"] == "db-2 CPU at 100% since 08:50\nFailing over to db-3"
    assert "From Grace Hopper's message in Teams" in words(form)
    assert [a["type"] for a in form["actions"]] == ["Action.Submit"]

    answer = dialog_card(invoke(d, ADA, SUBMIT, ADD, payload, data={
        "form": ADD, "incident_id": str(own), "entry_type": "decision",
        "text": "Fail over to db-3 (db-2 CPU at 100%)"}))
    assert f"Added to the {d['reference']} timeline as decision." in words(answer)
    [entry] = entries(d, entry_type="decision")
    posted = datetime.fromisoformat(message["createdDateTime"].replace("Z", "+00:00"))
    assert entry.occurred_at == posted
    assert entry.text == "Fail over to db-3 (db-2 CPU at 100%)"
    assert entry.data["teams_message"] == {
        "message_id": message["id"], "reply_to_id": None, "sender": "Grace Hopper",
        "sender_id": object_id(GRACE[0]), "sent_at": posted.isoformat(),
        "web_url": payload["linkToMessage"]}
    assert answer["actions"][0]["url"].endswith(f"/incidents/{d['reference']}#entry-{entry.id}")

    with d["app"].app_context():  # the web page shows it as the app's timezone says
        local = d["app"].jinja_env.filters["local"](posted)
    page = html.unescape(d["ada"].get(f"/incidents/{d['reference']}").get_data(as_text=True))
    assert "Fail over to db-3 (db-2 CPU at 100%)" in page
    assert f"From a Teams message by Grace Hopper, posted {local} · Open the message in " \
           "Teams" in re.sub(r"<[^>]+>", "", page)
    assert f'href="{payload["linkToMessage"]}"' in page

    report = d["ada"].get(f"/incidents/{d['reference']}/reports/running.docx")
    assert report.status_code == 200
    text, links = docx_text_and_links(report.data)
    assert "Fail over to db-3 (db-2 CPU at 100%)" in text
    assert f"From a Teams message by Grace Hopper, posted {local}: open it in Teams" in text
    assert payload["linkToMessage"] in links

    # The same message a second time is refused, saying where it is.
    again = dialog_card(invoke(d, ADA, SUBMIT, ADD, payload, data={
        "incident_id": str(own), "entry_type": "event", "text": "again"}))
    assert f"This message is on {d['reference']}'s timeline already." in words(again)
    assert len(entries(d)) == 1


def test_the_import_page_no_longer_offers_a_message_added_from_teams(desk):
    d = desk
    with d["app"].app_context():  # the import page read the channel earlier
        db.Session.add(ChannelMessageCopy(
            incident_id=incident_id(d), message_id=d["message"]["id"], sender="Grace Hopper",
            text="db-2 CPU at 100%", web_url=d["message"]["webUrl"],
            sent_at=datetime.fromisoformat(d["message"]["createdDateTime"].replace("Z",
                                                                                   "+00:00"))))
        db.Session.commit()
    payload = invokes.message_payload(d["sandbox"].state, d["message"]["id"])
    invoke(d, ADA, SUBMIT, ADD, payload, data={"incident_id": str(incident_id(d)),
                                               "entry_type": "event", "text": "db-2 hot"})
    [entry] = entries(d)
    with d["app"].app_context():
        assert db.Session.scalar(select(ChannelMessageCopy.timeline_entry_id)) == entry.id


def test_someone_who_may_not_see_the_incident_is_refused(desk):
    d = desk
    d["ada"].declare(title="Leaked credentials", severity="P2", is_security="y")
    with d["app"].app_context():
        secret = db.Session.scalar(select(Incident).where(Incident.is_security.is_(True)))
        secret_id, secret_ref = secret.id, secret.reference
        db.Session.remove()
    payload = invokes.message_payload(d["sandbox"].state, d["message"]["id"])
    form = dialog_card(invoke(d, CY, FETCH, ADD, payload))
    offered = [c["value"] for c in inputs(form)["incident_id"]["choices"]]
    assert str(incident_id(d)) in offered and str(secret_id) not in offered
    answer = dialog_card(invoke(d, CY, SUBMIT, ADD, payload, data={
        "incident_id": str(secret_id), "entry_type": "event", "text": "db-2 is hot"}))
    assert "This incident isn't available to you in Incident Desk." in words(answer)
    assert secret_ref not in json.dumps(answer)
    assert inputs(answer)["text"]["value"] == "db-2 is hot"  # what they typed is kept
    assert entries(d) == []

    # Someone Incident Desk does not know is asked to sign in, and nothing is shown.
    stranger = dialog_card(invoke(d, STRANGER, FETCH, ADD, payload))
    assert "sign in to Incident Desk once" in words(stranger)
    assert not inputs(stranger) and d["reference"] not in json.dumps(stranger)
    stranger = dialog_card(invoke(d, STRANGER, SUBMIT, ADD, payload, data={
        "incident_id": str(incident_id(d)), "entry_type": "event", "text": "x"}))
    assert "sign in to Incident Desk once" in words(stranger) and entries(d) == []


def test_a_closed_incident_is_refused(desk):
    d = desk
    with d["app"].app_context():
        incident = db.Session.get(Incident, incident_id(d))
        incident.status = "closed"
        db.Session.commit()
    payload = invokes.message_payload(d["sandbox"].state, d["message"]["id"])
    form = dialog_card(invoke(d, ADA, FETCH, ADD, payload))
    assert f"This channel's incident, {d['reference']}, is closed" in words(form)
    assert "There are no open incidents you can add to." in words(form)
    answer = dialog_card(invoke(d, ADA, SUBMIT, ADD, payload, data={
        "incident_id": str(incident_id(d)), "entry_type": "event", "text": "db-2 is hot"}))
    assert ("A closed incident cannot have its log changed. Choose an incident that is "
            "still open.") in words(answer)
    assert entries(d) == []


def test_html_is_read_as_text_and_every_field_is_bounded(desk):
    d = desk
    payload = invokes.message_payload(d["sandbox"].state, d["message"]["id"])
    payload["body"]["content"] = ("<div>Restarting &lt;db-2&gt; <b>now</b></div>"
                                  "<script>alert('x')</script><style>p{}</style>"
                                  + "<p>" + "load " * 30_000 + "</p>")
    payload["from"]["user"]["displayName"] = "Grace <img src=x onerror=alert(1)>"
    payload["linkToMessage"] = "javascript:alert(1)"
    form = dialog_card(invoke(d, ADA, FETCH, ADD, payload))
    text = inputs(form)["text"]["value"]
    assert text.startswith("Restarting <db-2> now\nload load")
    assert "alert" not in text and "<b>" not in text and "p{}" not in text
    assert len(text) == 5_000  # the import page's bound
    assert message_actions.CUT_SHORT in words(form)
    assert len(json.dumps(form)) < 28_000

    too_long = "x" * (scribe.TEXT_MAX + 1)
    answer = dialog_card(invoke(d, ADA, SUBMIT, ADD, payload, data={
        "incident_id": str(incident_id(d)), "entry_type": "event", "text": too_long}))
    assert "Entries must be 20,000 characters or fewer." in words(answer)
    assert len(inputs(answer)["text"]["value"]) == scribe.TEXT_MAX
    answer = dialog_card(invoke(d, ADA, SUBMIT, ADD, payload, data={
        "incident_id": str(incident_id(d)), "entry_type": "gossip", "text": "x"}))
    assert "Choose what kind of entry this is." in words(answer)
    assert entries(d) == []

    dialog_card(invoke(d, ADA, SUBMIT, ADD, payload, data={
        "incident_id": str(incident_id(d)), "entry_type": "event",
        "text": "Restarting <db-2> <b>now</b>"}))
    [entry] = entries(d)
    assert entry.data["teams_message"]["web_url"] == ""  # no link but https
    assert entry.data["teams_message"]["sender"] == "Grace <img src=x onerror=alert(1)>"
    page = d["ada"].get(f"/incidents/{d['reference']}").get_data(as_text=True)
    assert "Restarting &lt;db-2&gt; &lt;b&gt;now&lt;/b&gt;" in page
    assert "by Grace &lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page and "javascript:" not in page
    text, links = docx_text_and_links(
        d["ada"].get(f"/incidents/{d['reference']}/reports/running.docx").data)
    assert "From a Teams message by Grace <img src=x onerror=alert(1)>, posted" in text
    assert not [link for link in links if "javascript" in link]


def test_a_message_that_names_no_message_or_an_unknown_command(desk):
    d = desk
    payload = invokes.message_payload(d["sandbox"].state, d["message"]["id"])
    body = invoke(d, ADA, FETCH, "somethingElse", payload)
    assert body == {"task": {"type": "message", "value": message_actions.UNKNOWN_COMMAND}}
    body = invoke(d, ADA, FETCH, ADD, {**payload, "id": None})
    assert body == {"task": {"type": "message", "value": message_actions.NO_MESSAGE}}


# ---- declare ------------------------------------------------------------------------------


def test_declare_from_a_message_prefilled_then_declared(desk):
    d = desk
    message = post_as(d["sandbox"], GRACE, d["team_id"], d["channel_id"],
                      "<p>Checkout returns <b>503</b> for everyone</p>"
                      "<p>Started 09:10 after the deploy</p>")
    payload = invokes.message_payload(d["sandbox"].state, message["id"])
    form = dialog_card(invoke(d, ADA, FETCH, DECLARE, payload))
    fields = inputs(form)
    assert fields["title"]["value"] == "Checkout returns 503 for everyone"
    assert fields["description"]["value"] == ("Checkout returns 503 for everyone\n"
                                             "Started 09:10 after the deploy")
    assert {"severity", "new_services", "is_security"} <= set(fields)
    assert [a["type"] for a in form["actions"]] == ["Action.Submit"]

    # Without a severity it is refused as the web form refuses it, keeping what was typed.
    data = {**form["actions"][0]["data"], "title": "Checkout returns 503", "severity": "",
            "description": fields["description"]["value"], "new_services": "Checkout",
            "is_security": "false"}
    again = dialog_card(invoke(d, ADA, SUBMIT, DECLARE, payload, data=data))
    assert "Choose a severity." in words(again)
    assert inputs(again)["title"]["value"] == "Checkout returns 503"

    done = dialog_card(invoke(d, ADA, SUBMIT, DECLARE, payload, data={**data,
                                                                      "severity": "P3"}))
    assert "declared. You are the incident lead until you hand over." in words(done)
    with d["app"].app_context():
        declared = db.Session.scalar(select(Incident).where(
            Incident.title == "Checkout returns 503"))
        assert declared.severity == "P3" and declared.declared_by.name == "Ada Lovelace"
        assert declared.description.startswith("Checkout returns 503 for everyone")
        assert [s.name for s in declared.services] == ["Checkout"]
        assert declared.reference in words(done)
        # The message starts the timeline, with its author, time and link.
        [first] = [e for e in declared.timeline if e.kind == "note"]
        assert first.entry_type == "event" and first.text.startswith("Checkout returns 503")
        source = first.data[message_actions.SOURCE_KEY]
        assert source["sender"] == "Grace Hopper" and source["message_id"] == message["id"]
        assert first.occurred_at <= declared.declared_at
    # The dialog sent again (a double click) shows the incident, and declares nothing.
    twice = dialog_card(invoke(d, ADA, SUBMIT, DECLARE, payload, data={**data,
                                                                       "severity": "P3"}))
    assert f"{declared.reference} was declared from this form already" in words(twice)
    with d["app"].app_context():
        assert len(db.Session.scalars(select(Incident).where(
            Incident.title == "Checkout returns 503")).all()) == 1


def test_a_long_first_line_is_cut_to_a_title_and_said(desk):
    d = desk
    payload = invokes.message_payload(d["sandbox"].state, d["message"]["id"])
    payload["body"]["content"] = "<p>" + "word " * 100 + "</p>"
    form = dialog_card(invoke(d, ADA, FETCH, DECLARE, payload))
    assert len(inputs(form)["title"]["value"]) <= 200
    assert "cut to 200 characters" in words(form)


def test_a_message_the_import_page_put_on_the_timeline_is_not_added_again(desk):
    d = desk
    with d["app"].app_context():
        db.Session.add(TimelineEntry(incident_id=incident_id(d), kind="teams_message",
                                     text="Grace Hopper in Teams: db-2 CPU at 100%",
                                     data={"message_id": d["message"]["id"], "web_url": ""}))
        db.Session.commit()
    payload = invokes.message_payload(d["sandbox"].state, d["message"]["id"])
    again = dialog_card(invoke(d, ADA, SUBMIT, ADD, payload, data={
        "incident_id": str(incident_id(d)), "entry_type": "event", "text": "db-2 hot"}))
    assert f"This message is on {d['reference']}'s timeline already." in words(again)
    assert entries(d) == []


# ---- the reports, without names -----------------------------------------------------------


def test_a_blameless_review_names_the_writers_role_not_their_name():
    from reports import build_review
    from reports.snapshot import TimelineItem
    from tests.reports import sample
    from tests.reports.docs import open_report, rows, table_after

    def entry(sender: str, minutes: int) -> TimelineItem:
        return TimelineItem(sample.at(minutes), "Failing over to db-3", "note", sample.ALAN,
                            {"teams_message": {"message_id": "1", "sender": sender,
                                               "sent_at": sample.at(minutes).isoformat(),
                                               "web_url": "https://teams.microsoft.com/l/m/1"}})

    snap = sample.snapshot(timeline=(*sample.TIMELINE, entry(sample.GRACE, 50),
                                     entry("Margaret Hamilton", 51)))
    draft = rows(table_after(open_report(build_review(snap)), "Timeline"))
    said = [row[1] for row in draft if row[1].startswith("Failing over to db-3")]
    assert said == ["Failing over to db-3\nFrom a Teams message by the comms lead, posted "
                    "3 Mar 2026 10:02 GMT: open it in Teams",
                    "Failing over to db-3\nFrom a Teams message by a responder, posted "
                    "3 Mar 2026 10:03 GMT: open it in Teams"]
    final = rows(table_after(open_report(build_review(snap, final=True)), "Timeline"))
    assert any("by Margaret Hamilton, posted" in row[1] for row in final)
