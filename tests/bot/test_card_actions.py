"""Live cards over real HTTP: the sandbox's Bot Connector signs and delivers
`adaptiveCard/action` invokes to the bot, as Teams does when someone presses a card's
button, and the bot's invoke response and the database
say what happened. The rules are the web's (the same service functions)."""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import select

from app import db
from app.auth.models import User
from app.bot import live_cards, update_form
from app.incidents import delivery_keys
from app.incidents import service as incidents
from app.incidents.models import Incident, StatusUpdate, TimelineEntry
from app.outbox import service as outbox
from app.outbox.models import Delivery
from app.people import service as people
from app.people.models import ACCEPTED, PENDING, RoleHandover
from app.reminders.models import ReminderSnooze, SentReminder
from graph.sandbox import connector_invokes as invokes
from graph.sandbox import routes_connector as connector
from graph.sandbox.seed import BOT_APP_ID
from graph.sandbox.wire import TENANT_ID

ADA = "0a0a0a0a-0000-4000-8000-00000000ada0"  # declares and leads
BO = "0b0b0b0b-0000-4000-8000-000000000b00"  # offered the comms lead role
CY = "0c0c0c0c-0000-4000-8000-000000000c00"  # signed in, not on the incident
STRANGER = "0d0d0d0d-0000-4000-8000-000000000d00"  # never signed in
CHANNEL = "19:inc-0001@thread.tacv2"
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"


def _person(oid: str, name: str) -> User:
    user = User(entra_oid=oid, tenant_id=TENANT_ID, name=name,
                email=f"{name.lower()}@example.org")
    db.Session.add(user)
    db.Session.flush()
    return user


@pytest.fixture
def desk(bot_app):
    """(app, bot URL, sandbox, incident id) with Ada leading an incident."""
    application, bot_url, sandbox = bot_app
    with application.app_context():
        ada = _person(ADA, "Ada")
        _person(BO, "Bo")
        _person(CY, "Cy")
        db.Session.commit()
        incident = incidents.declare(db.Session, application.extensions["org"], ada,
                                     title="Payments **down** <b>now</b>",
                                     description="Card payments fail", severity="P2",
                                     effects=application.extensions["effects"])
        incident_id = incident.id
    return application, bot_url, sandbox, incident_id


def _where(sandbox, oid: str, **extra) -> dict:
    return dict(service_url=f"{sandbox.url}/", bot_id=BOT_APP_ID, user_oid=oid,
                user_mri=f"29:mri-{oid[:8]}", channel_id=CHANNEL, team_id="incident-team",
                **extra)


def _press(sandbox, bot_url, oid, verb, data, **extra) -> dict:
    status, body = invokes.send(sandbox.state, bot_url,
                                invokes.card_action(verb, data, **_where(sandbox, oid, **extra)),
                                bot_id=BOT_APP_ID)
    assert status == 200, body
    return body


def _card(incident_id, kind="kickoff", key="INC/kickoff", **context) -> dict:
    return live_cards.refresh_data(kind, incident_id, key, context)


def _all_actions(card: dict) -> list[dict]:
    """Every action on a card, inside action sets and show-cards too."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Action."):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in card.items() if k != "refresh"})
    return found


def _verbs(card: dict) -> set[str]:
    return {a.get("verb") for a in _all_actions(card) if a["type"] == "Action.Execute"}


def _offer_to_bo(application, incident_id) -> int:
    with application.app_context():
        incident = db.Session.get(Incident, incident_id)
        people.assign_or_offer(db.Session, application.extensions["org"],
                               application.extensions["effects"], incident.declared_by,
                               incident, "scribe", incident.declared_by)
        bo = db.Session.scalar(select(User).where(User.entra_oid == BO))
        offer = people.assign_or_offer(db.Session, application.extensions["org"],
                                       application.extensions["effects"],
                                       incident.declared_by, incident, "scribe", bo)
        return offer.id


def test_refresh_gives_each_person_their_own_actions(desk):
    application, bot_url, sandbox, incident_id = desk
    offer_id = _offer_to_bo(application, incident_id)
    handover = _card(incident_id, "notice", f"INC/handover/{offer_id}/teams")
    assert handover == {"incident_id": incident_id, "kind": "handover",
                        "delivery_key": f"INC/handover/{offer_id}/teams", "handover_id": offer_id}
    bo_view = _press(sandbox, bot_url, BO, "refresh", handover, trigger="automatic")
    ada_view = _press(sandbox, bot_url, ADA, "refresh", handover, trigger="automatic")
    assert bo_view["type"] == CARD and ada_view["type"] == CARD
    assert {"accept_handover", "decline_handover"} <= _verbs(bo_view["value"])
    assert not {"accept_handover", "decline_handover"} & _verbs(ada_view["value"])
    assert {"take_role", "change_status", "add_entry", "update_form"} <= _verbs(
        ada_view["value"])
    assert not [a for a in _all_actions(ada_view["value"]) if a["type"] == "Action.Submit"]
    # The title is user text: only ever a TextRun, never markdown.
    runs = json.dumps(ada_view["value"])
    assert "Payments **down** <b>now</b>" in runs
    assert '"type": "TextBlock"' not in runs
    refresh = bo_view["value"]["refresh"]
    assert refresh["action"]["verb"] == "refresh"
    assert refresh["userIds"] == [f"29:mri-{BO[:8]}"]  # learnt from Bo's own press


def test_take_a_role_from_the_kickoff_card(desk):
    application, bot_url, sandbox, incident_id = desk
    body = _press(sandbox, bot_url, CY, "take_role", {**_card(incident_id), "role": "scribe"})
    assert body["type"] == CARD, body
    assert "You are now scribe." in json.dumps(body["value"])
    with application.app_context():
        incident = db.Session.get(Incident, incident_id)
        assert incident.current_roles()["scribe"].user.entra_oid == CY
    refused = _press(sandbox, bot_url, CY, "take_role", {**_card(incident_id), "role": "boss"})
    assert refused == {"statusCode": 200, "type": MESSAGE,
                       "value": "Choose a role from the list."}


def test_only_the_person_offered_may_accept_a_hand_over(desk):
    application, bot_url, sandbox, incident_id = desk
    offer_id = _offer_to_bo(application, incident_id)
    card = _card(incident_id, "handover", f"INC/handover/{offer_id}/teams",
                 handover_id=offer_id)
    refused = _press(sandbox, bot_url, CY, "accept_handover", card)
    assert refused == {"statusCode": 200, "type": MESSAGE,
                       "value": "Only Bo can accept this hand-over."}
    with application.app_context():
        assert db.Session.get(RoleHandover, offer_id).status == PENDING
    accepted = _press(sandbox, bot_url, BO, "accept_handover", card)
    assert accepted["type"] == CARD and "You are now scribe." in json.dumps(accepted["value"])
    assert not {"accept_handover", "decline_handover"} & _verbs(accepted["value"])
    with application.app_context():
        assert db.Session.get(RoleHandover, offer_id).status == ACCEPTED
        incident = db.Session.get(Incident, incident_id)
        assert incident.current_roles()["scribe"].user.entra_oid == BO
    again = _press(sandbox, bot_url, BO, "accept_handover", card)
    assert again["type"] == MESSAGE and "already accepted" in again["value"]


def test_resolving_needs_a_note(desk):
    application, bot_url, sandbox, incident_id = desk
    no_note = _press(sandbox, bot_url, ADA, "change_status",
                     {**_card(incident_id), "status": "resolved", "note": "  "})
    assert no_note["type"] == MESSAGE and "Say how the incident was resolved" in no_note["value"]
    with application.app_context():
        assert db.Session.get(Incident, incident_id).status == "investigating"
    done = _press(sandbox, bot_url, ADA, "change_status",
                  {**_card(incident_id), "status": "resolved", "note": "Rolled back"})
    assert done["type"] == CARD and "Status is now resolved." in json.dumps(done["value"])
    with application.app_context():
        incident = db.Session.get(Incident, incident_id)
        assert (incident.status, incident.resolution) == ("resolved", "Rolled back")
    too_long = _press(sandbox, bot_url, ADA, "change_status",
                      {**_card(incident_id), "status": "closed", "note": "x" * 5000})
    assert too_long["type"] == MESSAGE and "2,000 characters" in too_long["value"]


def test_add_a_log_entry(desk):
    application, bot_url, sandbox, incident_id = desk
    body = _press(sandbox, bot_url, ADA, "add_entry",
                  {**_card(incident_id), "entry_type": "decision", "text": "Roll back v2"})
    assert body["type"] == CARD and "Added to the log." in json.dumps(body["value"])
    with application.app_context():
        entry = db.Session.scalar(select(TimelineEntry).where(
            TimelineEntry.incident_id == incident_id, TimelineEntry.kind == "note"))
        assert (entry.text, entry.entry_type, entry.author.entra_oid) == (
            "Roll back v2", "decision", ADA)
    bad = _press(sandbox, bot_url, ADA, "add_entry",
                 {**_card(incident_id), "entry_type": "gossip", "text": "x"})
    assert bad["type"] == MESSAGE and "Choose what kind of entry" in bad["value"]


def test_snooze_a_reminder_from_its_card(desk):
    application, bot_url, sandbox, incident_id = desk
    with application.app_context():
        incident = db.Session.get(Incident, incident_id)
        key = delivery_keys.reminders(incident.reference, 1)
        db.Session.add(SentReminder(incident_id=incident_id, key="update@1", kind="update",
                                    due_at=incident.declared_at, text="An update is due.",
                                    notice_key=key))
        db.Session.commit()
    card = _card(incident_id, "notice", f"{key}/teams")
    assert card["kind"] == "reminders" and card["notice_key"] == key
    view = _press(sandbox, bot_url, ADA, "refresh", card)
    snoozes = [a for a in _all_actions(view["value"]) if a.get("verb") == "snooze"]
    assert [a["data"]["reminder"] for a in snoozes] == ["update"]
    body = _press(sandbox, bot_url, ADA, "snooze", {**snoozes[0]["data"], "minutes_update": "60"})
    assert body["type"] == CARD and "snoozed until" in json.dumps(body["value"])
    with application.app_context():
        assert db.Session.get(ReminderSnooze, (incident_id, "update")) is not None


def test_a_security_incident_is_invisible_to_a_non_member(desk):
    application, bot_url, sandbox, _ = desk
    with application.app_context():
        ada = db.Session.scalar(select(User).where(User.entra_oid == ADA))
        secret = incidents.declare(db.Session, application.extensions["org"], ada,
                                   title="Laptop stolen with customer data", description="",
                                   severity="P2", is_security=True,
                                   effects=application.extensions["effects"])
        secret_id = secret.id
    view = _press(sandbox, bot_url, CY, "refresh", _card(secret_id))
    assert view["type"] == CARD
    assert "Laptop" not in json.dumps(view) and not _verbs(view["value"])
    assert live_cards.NOT_AVAILABLE in json.dumps(view["value"])
    refused = _press(sandbox, bot_url, CY, "take_role", {**_card(secret_id), "role": "scribe"})
    assert refused == {"statusCode": 200, "type": MESSAGE, "value": live_cards.NOT_AVAILABLE}
    with application.app_context():
        assert "scribe" not in db.Session.get(Incident, secret_id).current_roles()
    for verb in ("update_form", "send_update"):  # the update form, and sending one
        refused = _press(sandbox, bot_url, CY, verb, {**_card(secret_id), "phase":
                                                      "identified", "message": "Leak"})
        assert refused == {"statusCode": 200, "type": MESSAGE,
                           "value": live_cards.NOT_AVAILABLE}
    with application.app_context():
        assert not db.Session.scalars(select(StatusUpdate)).all()
    mine = _press(sandbox, bot_url, ADA, "refresh", _card(secret_id))
    assert "Laptop stolen" in json.dumps(mine["value"])


def test_an_unknown_teams_user_is_asked_to_sign_in_once(desk):
    _application, bot_url, sandbox, incident_id = desk
    body = _press(sandbox, bot_url, STRANGER, "take_role", {**_card(incident_id),
                                                             "role": "scribe"})
    assert body["type"] == CARD and "sign in to Incident Desk once" in json.dumps(body["value"])


def _inputs(card: dict) -> dict:
    return {e["id"]: e for e in card["body"] if "id" in e}


def test_send_an_update_from_the_card(desk):
    """"Send an update" shows the web form's fields in the card (Action.Execute answered
    with the form); a starting wording, a refusal and the update sent are presses too."""
    application, bot_url, sandbox, incident_id = desk
    kickoff = _card(incident_id)
    view = _press(sandbox, bot_url, ADA, "refresh", kickoff)
    [opener] = [a for a in _all_actions(view["value"]) if a.get("verb") == "update_form"]
    assert opener["title"] == "Send an update" and opener["data"] == kickoff
    shown = _press(sandbox, bot_url, ADA, "update_form", opener["data"])
    assert shown["type"] == CARD, shown
    form = shown["value"]
    inputs = _inputs(form)
    assert list(inputs) == ["phase", "message", "to_channel", "extra_recipients", "publish",
                            "public_title"]  # the web form's, in its order
    assert inputs["phase"]["value"] == "investigating"
    assert "We are investigating reports that" in inputs["message"]["value"]
    assert (inputs["message"]["maxLength"], inputs["extra_recipients"]["maxLength"],
            inputs["public_title"]["maxLength"]) == (4000, update_form.EXTRA_MAX, 200)
    assert inputs["to_channel"]["value"] == "true"
    assert inputs["public_title"]["value"] == "Payments **down** <b>now</b>"
    assert "Payments **down** <b>now</b>" in json.dumps(form)
    assert '"type": "TextBlock"' not in json.dumps(form)  # user text only in TextRuns
    assert "refresh" not in form  # nothing replaces the form while it is being filled in
    send, cancel = form["actions"]
    assert (send["verb"], send["data"]) == ("send_update", kickoff)
    assert (cancel["verb"], cancel["associatedInputs"]) == ("refresh", "none")
    # A starting wording: the form again with it, what was typed elsewhere kept.
    [monitoring] = [a for a in _all_actions(form) if a.get("data", {}).get("template")
                    and a["title"] == "Monitoring"]  # a saved template (migration 0029)
    templated = _press(sandbox, bot_url, ADA, "update_form", {
        **monitoring["data"], "phase": "investigating", "message": "x",
        "extra_recipients": "ops@example.org", "to_channel": "false"})
    body = _inputs(templated["value"])
    assert body["phase"]["value"] == "monitoring"
    assert "A fix has been put in place" in body["message"]["value"]
    assert body["extra_recipients"]["value"] == "ops@example.org"
    assert body["to_channel"]["value"] == "false"
    # Nobody to tell: refused like the web, the form again with the reason and the input.
    refused = _press(sandbox, bot_url, ADA, "send_update", {
        **send["data"], "phase": "identified", "message": "Found it <b>x</b>",
        "to_channel": "false", "publish": "false"})
    assert refused["type"] == CARD
    assert "Choose at least one person" in json.dumps(refused["value"])
    assert _inputs(refused["value"])["message"]["value"] == "Found it <b>x</b>"
    assert _inputs(refused["value"])["phase"]["value"] == "identified"
    too_long = _press(sandbox, bot_url, ADA, "send_update", {
        **send["data"], "phase": "identified", "message": "y" * 5000})
    assert "4,000 characters or fewer" in json.dumps(too_long["value"])
    assert len(_inputs(too_long["value"])["message"]["value"]) == 4000
    with application.app_context():
        assert not db.Session.scalars(select(StatusUpdate)).all()
    sent = _press(sandbox, bot_url, ADA, "send_update", {
        **send["data"], "phase": "identified", "message": "We found the cause.",
        "to_channel": "true", "publish": "false",
        "extra_recipients": "ops@example.org, boss@example.org"})
    assert sent["type"] == CARD, sent
    assert update_form.SENT in json.dumps(sent["value"])
    assert "update_form" in _verbs(sent["value"])  # the live card again, refreshed
    assert sent["value"]["refresh"]["action"]["data"] == kickoff
    with application.app_context():
        update = db.Session.scalar(select(StatusUpdate).where(
            StatusUpdate.incident_id == incident_id))
        assert (update.phase, update.message, update.author.entra_oid, update.to_channel) == (
            "identified", "We found the cause.", ADA, True)
        assert sorted(update.recipients) == ["boss@example.org", "ops@example.org"]
        reference = db.Session.get(Incident, incident_id).reference
        key = delivery_keys.update(reference, update.id)
        mails = db.Session.scalars(select(Delivery).where(
            Delivery.key.startswith(key), Delivery.kind == "mail.send")).all()
        assert mails, "the update's emails are in the outbox"


def test_a_closed_incident_takes_no_update_from_the_card(desk):
    application, bot_url, sandbox, incident_id = desk
    for status in ("resolved", "closed"):
        _press(sandbox, bot_url, ADA, "change_status",
               {**_card(incident_id), "status": status, "note": "Fixed"})
    for verb in ("update_form", "send_update"):
        refused = _press(sandbox, bot_url, ADA, verb, {
            **_card(incident_id), "phase": "resolved", "message": "Late",
            "extra_recipients": "ops@example.org"})
        assert refused == {"statusCode": 200, "type": MESSAGE, "value": update_form.CLOSED}
    with application.app_context():
        assert not db.Session.scalars(select(StatusUpdate)).all()


def test_after_a_change_the_posted_card_is_updated_for_everyone(desk, monkeypatch):
    """The person pressing gets their card in the answer; the message everyone reads is
    updated by the outbox, once for a burst of presses (app/bot/card_updates.py)."""
    import time
    from datetime import timedelta

    from app.bot import card_updates
    from tests.conftest import drain

    monkeypatch.setattr(card_updates, "DEBOUNCE", timedelta(seconds=0.3))
    monkeypatch.setattr(card_updates.UpdatePostedCard, "debounce", timedelta(seconds=0.3))
    application, bot_url, sandbox, incident_id = desk
    with sandbox.state.tx() as tx:
        app_row = tx.get("app", BOT_APP_ID)
        key = connector.signing_key(tx)
    token, _ = connector.bot_access_token(key, app_row, 600)
    conversation = f"{CHANNEL};messageid=1700000000000"
    posted = requests.post(f"{sandbox.url}/v3/conversations/{conversation}/activities",
                           json={"type": "message", "text": "kickoff"}, timeout=5,
                           headers={"Authorization": f"Bearer {token}"}).json()["id"]
    body = _press(sandbox, bot_url, ADA, "change_status",
                  {**_card(incident_id), "status": "identified"},
                  conversation_id=conversation, reply_to_id=posted)
    assert body["type"] == CARD
    drain(application)
    [shared] = [a for a in connector.sent_activities(sandbox.state) if a["id"] == posted]
    assert shared["updated"] and "Identified" in json.dumps(shared["activity"])
    for text in ("First note", "Second note", "Third note"):  # a burst: one more update
        _press(sandbox, bot_url, ADA, "add_entry", {**_card(incident_id), "text": text},
               conversation_id=conversation, reply_to_id=posted)
    with application.app_context():
        [row] = db.Session.scalars(select(Delivery).where(
            Delivery.kind == "teams.update_card")).all()
        assert row.status == "pending"  # put off while the presses keep coming
    time.sleep(0.4)
    with application.app_context():  # what production's 15 s sweep does (app/cron.py)
        outbox.sweep(db.Session)
    drain(application)
    with application.app_context():
        row = db.Session.scalars(select(Delivery).where(
            Delivery.kind == "teams.update_card")).one()
        assert row.status == "delivered"
    [shared] = [a for a in connector.sent_activities(sandbox.state) if a["id"] == posted]
    card = shared["activity"]["attachments"][0]["content"]
    assert "Identified" in json.dumps(card)
    assert not _verbs(card) - {"refresh"}  # nobody's own actions on the shared card
    assert card["refresh"]["userIds"] == [f"29:mri-{ADA[:8]}"]


def test_a_malformed_or_unknown_action_is_a_clear_error(desk):
    _application, bot_url, sandbox, incident_id = desk
    body = _press(sandbox, bot_url, ADA, "launch_missiles", _card(incident_id))
    assert body["statusCode"] == 400
    assert body["type"] == "application/vnd.microsoft.error"
    assert body["value"]["code"] == "NotSupported"


def test_a_closed_incident_offers_no_changes(desk):
    _application, bot_url, sandbox, incident_id = desk
    for status in ("resolved", "closed"):
        body = _press(sandbox, bot_url, ADA, "change_status",
                      {**_card(incident_id), "status": status, "note": "Fixed"})
        assert body["type"] == CARD, body
    assert _verbs(body["value"]) == set()
    assert "This incident is closed" in json.dumps(body["value"])
    refused = _press(sandbox, bot_url, ADA, "add_entry",
                     {**_card(incident_id), "entry_type": "event", "text": "late news"})
    assert refused == {"statusCode": 200, "type": MESSAGE,
                       "value": "A closed incident cannot have its log changed."}


def test_decline_a_hand_over_with_a_reason(desk):
    application, bot_url, sandbox, incident_id = desk
    offer_id = _offer_to_bo(application, incident_id)
    card = _card(incident_id, "handover", "k", handover_id=offer_id)
    body = _press(sandbox, bot_url, BO, "decline_handover", {**card, "reason": "On leave"})
    assert body["type"] == CARD and "You declined" in json.dumps(body["value"])
    with application.app_context():
        handover = db.Session.get(RoleHandover, offer_id)
        assert (handover.status, handover.note) == ("declined", "On leave")


def test_a_stranger_refreshing_sees_the_card_and_is_asked_to_sign_in(desk):
    application, bot_url, sandbox, incident_id = desk
    body = _press(sandbox, bot_url, STRANGER, "refresh", _card(incident_id),
                  trigger="automatic")
    text = json.dumps(body["value"])
    assert "Payments **down** <b>now</b>" in text and "sign in to Incident Desk once" in text
    assert _verbs(body["value"]) == set()
    with application.app_context():
        ada = db.Session.scalar(select(User).where(User.entra_oid == ADA))
        secret = incidents.declare(db.Session, application.extensions["org"], ada,
                                   title="Breach of the payroll files", description="",
                                   severity="P2", is_security=True,
                                   effects=application.extensions["effects"])
        secret_id = secret.id
    hidden = _press(sandbox, bot_url, STRANGER, "refresh", _card(secret_id))
    assert "payroll" not in json.dumps(hidden)


def test_cards_stay_far_below_the_teams_message_limit(desk):
    _application, bot_url, sandbox, incident_id = desk
    view = _press(sandbox, bot_url, ADA, "refresh", _card(incident_id))
    assert len(json.dumps(view["value"])) < 20_000


def test_a_notice_without_a_live_view_is_posted_as_it_is(desk):
    application, bot_url, sandbox, incident_id = desk
    card = {"type": "AdaptiveCard", "version": "1.5", "body": []}
    with application.app_context():
        static = live_cards.actionable(db.Session, card, kind="notice",
                                       incident_id=incident_id,
                                       key="INC-2026-0001/security-contacts/teams")
        live = live_cards.actionable(db.Session, card, kind="kickoff",
                                     incident_id=incident_id, key="INC-2026-0001/kickoff")
    assert static["body"] == card["body"]
    # Still carries its delivery key (how a repeated post is recognised), but Teams never
    # refreshes it by itself, and a manual refresh leaves its words alone.
    assert static["refresh"] == {"action": {
        "type": "Action.Execute", "verb": "refresh", "title": "Refresh",
        "data": {"incident_id": incident_id, "kind": "notice",
                 "delivery_key": "INC-2026-0001/security-contacts/teams"}}, "userIds": []}
    assert _press(sandbox, bot_url, ADA, "refresh", static["refresh"]["action"]["data"]) == {
        "statusCode": 200, "type": MESSAGE, "value": live_cards.STATIC_REFRESH}
    assert live["refresh"]["action"]["data"] == {"incident_id": incident_id,
                                                 "kind": "kickoff",
                                                 "delivery_key": "INC-2026-0001/kickoff"}
    assert "userIds" not in live["refresh"]  # none known yet: Teams refreshes small channels


def test_the_bot_posted_kickoff_is_live_end_to_end(bot_app):
    """Declared on the web, the kickoff posted by the bot (app/bot/outbound.py); pressing
    its button changes the incident and updates that very message for everyone."""
    from tests.conftest import Browser, drain

    application, bot_url, sandbox = bot_app
    browser = Browser(application.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = browser.declare(title="Checkout <slow>", severity="P3")
    drain(application)
    [thread] = [a for a in connector.sent_activities(sandbox.state)
                if a.get("new_conversation")]
    posted = thread["activity"]["attachments"][0]["content"]
    data = posted["refresh"]["action"]["data"]
    assert data["kind"] == "kickoff" and data["delivery_key"] == f"{reference}/kickoff"
    with application.app_context():
        ada = db.Session.scalar(select(User).where(User.email == "ada@example.com"))
        oid, tenant = ada.entra_oid, ada.tenant_id
    assert tenant == TENANT_ID
    where = dict(service_url=f"{sandbox.url}/", bot_id=BOT_APP_ID, user_oid=oid,
                 user_mri="29:mri-ada", channel_id=thread["channel_id"],
                 team_id=thread["team_id"], conversation_id=thread["conversation_id"],
                 reply_to_id=thread["id"])
    status, body = invokes.send(sandbox.state, bot_url, invokes.card_action(
        "change_status", {**data, "status": "identified"}, **where), bot_id=BOT_APP_ID)
    assert status == 200 and body["type"] == CARD, body
    drain(application)
    [shared] = [a for a in connector.sent_activities(sandbox.state) if a["id"] == thread["id"]]
    assert shared["updated"]
    assert "Identified" in json.dumps(shared["activity"]["attachments"][0]["content"])
    with application.app_context():
        assert db.Session.scalar(select(Incident.status).where(
            Incident.reference == reference)) == "identified"
