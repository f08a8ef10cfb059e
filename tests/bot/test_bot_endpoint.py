"""POST /api/messages over real HTTP: the sandbox's Bot Connector signs and delivers
activities, the SDK's path runs, and replies come back to the sandbox's connector."""

from __future__ import annotations

import json
import logging

import pytest

from app import db
from app.auth.models import User
from app.incidents.models import Incident
from app.m365.graph_setup import MICROSOFT, REAL_GRAPH, GraphSetup
from graph.sandbox import routes_connector as connector
from graph.sandbox.seed import BOT_APP_ID
from graph.sandbox.wire import TENANT_ID

OID = "6f1c0c2e-0000-4000-8000-00000000a11ce"


def _service_url(sandbox) -> str:
    return f"{sandbox.url}/"


def _message(sandbox, text="help", **overrides):
    return connector.message_activity(text=text, service_url=_service_url(sandbox),
                                      bot_id=BOT_APP_ID, user_oid=OID, user_name="Ada",
                                      **overrides)


def _token(sandbox, **overrides):
    values = dict(audience=BOT_APP_ID, service_url=_service_url(sandbox))
    values.update(overrides)
    return connector.connector_token(sandbox.state, **values)


def _refused(bot_url, sandbox, activity, token, caplog):
    with caplog.at_level(logging.WARNING):
        answer = connector.deliver(sandbox.state, bot_url, activity, token)
    assert answer.status_code == 401, answer.text
    assert answer.json() == {"error": "Unauthorized"}
    assert connector.sent_activities(sandbox.state) == []  # the bot never answered
    logged = " ".join(r.getMessage() for r in caplog.records if "bot: refused" in
                      r.getMessage())
    assert logged, "the refusal is logged"
    assert activity["text"] not in logged and activity["id"] not in logged  # never the body
    return logged


def test_no_token_is_refused(bot_app, caplog):
    _app, bot_url, sandbox = bot_app
    logged = _refused(bot_url, sandbox, _message(sandbox, "secret-words"), None, caplog)
    assert "no bearer token" in logged


def test_forged_token_is_refused(bot_app, caplog):
    _app, bot_url, sandbox = bot_app
    with sandbox.state.read() as tx:
        kid = tx.get("connector_key", "current")
    kid = kid["kid"] if kid else None
    forged = _token(sandbox, pem=connector.pem_of(connector.new_rsa_key()), kid=kid)
    logged = _refused(bot_url, sandbox, _message(sandbox), forged, caplog)
    assert "token refused" in logged


def test_wrong_audience_is_refused(bot_app, caplog):
    _app, bot_url, sandbox = bot_app
    token = _token(sandbox, audience="another-bot-app-id")
    assert "token refused" in _refused(bot_url, sandbox, _message(sandbox), token, caplog)


def test_wrong_issuer_is_refused(bot_app, caplog):
    _app, bot_url, sandbox = bot_app
    token = _token(sandbox, issuer="https://attacker.example")
    assert "issuer" in _refused(bot_url, sandbox, _message(sandbox), token, caplog)


def test_a_key_not_endorsed_for_the_activitys_channel_is_refused(bot_app, caplog):
    """Microsoft's step: the signing key's endorsements must include the activity's
    channelId (the sandbox's key is endorsed for msteams only)."""
    _app, bot_url, sandbox = bot_app
    activity = {**_message(sandbox), "channelId": "webchat"}
    assert "endorse" in _refused(bot_url, sandbox, activity, _token(sandbox), caplog)


def test_expired_token_is_refused(bot_app, caplog):
    _app, bot_url, sandbox = bot_app
    token = _token(sandbox, lifetime=-3600)  # beyond the SDK's five minutes' leeway
    assert "token refused" in _refused(bot_url, sandbox, _message(sandbox), token, caplog)


def test_service_url_mismatch_is_refused(bot_app, caplog):
    _app, bot_url, sandbox = bot_app
    token = _token(sandbox, service_url="https://attacker.example/")
    assert "serviceurl" in _refused(bot_url, sandbox, _message(sandbox), token, caplog)


def test_another_tenant_is_refused(bot_app, caplog):
    _app, bot_url, sandbox = bot_app
    activity = _message(sandbox, tenant_id="11111111-2222-3333-4444-555555555555")
    assert "another tenant" in _refused(bot_url, sandbox, activity, _token(sandbox), caplog)


def test_mixed_tenants_are_refused(bot_app, caplog):
    _app, bot_url, sandbox = bot_app
    activity = _message(sandbox)
    activity["channelData"]["tenant"]["id"] = "11111111-2222-3333-4444-555555555555"
    assert "another tenant" in _refused(bot_url, sandbox, activity, _token(sandbox), caplog)


def test_help_replies_with_a_card_through_the_connector(bot_app):
    _app, bot_url, sandbox = bot_app
    activity = _message(sandbox, "help")
    answer = connector.deliver(sandbox.state, bot_url, activity, _token(sandbox))
    assert answer.status_code in (200, 202), answer.text
    sent = connector.sent_activities(sandbox.state)
    assert len(sent) == 1
    reply = sent[0]
    assert reply["sent_by"] == BOT_APP_ID  # with the bot's token from the sandbox Entra
    assert reply["conversation_id"] == activity["conversation"]["id"]
    assert reply["reply_to_id"] == activity["id"]
    card = reply["activity"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert {"help", "status"} <= {f["title"] for f in card["content"]["body"][1]["facts"]}


def test_connector_refuses_a_bot_without_a_token(bot_app):
    import requests

    _app, _bot_url, sandbox = bot_app
    answer = requests.post(f"{sandbox.url}/v3/conversations/a:1/activities",
                           json={"type": "message", "text": "hi"}, timeout=5)
    assert answer.status_code == 401
    assert connector.sent_activities(sandbox.state) == []


def _card_text(reply) -> str:
    """The replied card's text runs (commands answer with cards: tests/bot/test_commands.py)."""
    [attachment] = reply["activity"]["attachments"]
    return json.dumps(attachment["content"], ensure_ascii=False)


def _known_person(application) -> User:
    with application.app_context():
        person = User(entra_oid=OID, tenant_id=TENANT_ID, name="Ada", email="ada@example.org")
        db.Session.add(person)
        db.Session.flush()
        db.Session.add_all([
            Incident(reference="INC-2026-0007", year=2026, number=7, title="Payments down",
                     severity="P1", status="investigating", declared_by_id=person.id),
            Incident(reference="INC-2026-0008", year=2026, number=8, title="Old one",
                     severity="P3", status="resolved", declared_by_id=person.id)])
        db.Session.commit()
        return person


@pytest.mark.parametrize("known", [True, False])
def test_status_in_personal_chat(bot_app, known):
    application, bot_url, sandbox = bot_app
    if known:
        _known_person(application)
    answer = connector.deliver(sandbox.state, bot_url, _message(sandbox, "status"),
                               _token(sandbox))
    assert answer.status_code in (200, 202), answer.text
    [reply] = connector.sent_activities(sandbox.state)
    text = _card_text(reply)
    if known:
        assert "INC-2026-0007 Payments down" in text and "Investigating" in text
        assert "INC-2026-0008" not in text  # resolved: not open
    else:
        assert "sign in to Incident Desk once" in text


def test_a_person_of_another_tenant_with_the_same_object_id_is_unknown(bot_app):
    application, bot_url, sandbox = bot_app
    with application.app_context():
        db.Session.add(User(entra_oid=OID, tenant_id="another-tenant", name="Eve",
                            email="eve@example.org"))
        db.Session.commit()
    connector.deliver(sandbox.state, bot_url, _message(sandbox, "status"), _token(sandbox))
    [reply] = connector.sent_activities(sandbox.state)
    assert "sign in to Incident Desk once" in _card_text(reply)


def test_oversized_and_malformed_bodies_are_clear_refusals(bot_app):
    import requests

    _app, bot_url, _sandbox = bot_app
    big = requests.post(bot_url, data="x" * (300 * 1024), timeout=5,
                        headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and "too large" in big.json()["error"]
    bad = requests.post(bot_url, data="[1]", timeout=5,
                        headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and json.loads(bad.text)["error"]


def test_status_in_an_incident_channel(bot_app):
    from app.m365.models import TeamsChannel

    application, bot_url, sandbox = bot_app
    _known_person(application)
    with application.app_context():
        incident = db.Session.query(Incident).filter_by(number=7).one()
        db.Session.add(TeamsChannel(incident_id=incident.id, team_id="incident-team",
                                    channel_id="19:inc-0007@thread.tacv2", name="inc-0007"))
        db.Session.commit()
    activity = _message(sandbox, "<at>Incident Desk</at> status",
                        channel_id="19:inc-0007@thread.tacv2", team_id="incident-team")
    connector.deliver(sandbox.state, bot_url, activity, _token(sandbox))
    [reply] = connector.sent_activities(sandbox.state)
    text = _card_text(reply)
    assert "INC-2026-0007 · P1" in text and "Payments down" in text and "Investigating" in text


def test_connector_updates_what_the_bot_sent(bot_app):
    import requests

    _app, bot_url, sandbox = bot_app
    connector.deliver(sandbox.state, bot_url, _message(sandbox, "help"), _token(sandbox))
    [sent] = connector.sent_activities(sandbox.state)
    with sandbox.state.tx() as tx:
        app = tx.get("app", BOT_APP_ID)
        key = connector.signing_key(tx)
    token, _ = connector.bot_access_token(key, app, 600)
    url = f"{sandbox.url}/v3/conversations/{sent['conversation_id']}/activities/{sent['id']}"
    answer = requests.put(url, json={"type": "message", "text": "edited"}, timeout=5,
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json() == {"id": sent["id"]}
    [updated] = connector.sent_activities(sandbox.state)
    assert updated["updated"] and updated["activity"]["text"] == "edited"


def test_bot_switched_off_answers_not_found(bot_app):
    application, bot_url, sandbox = bot_app
    application.extensions["settings"].bot_enabled = False
    answer = connector.deliver(sandbox.state, bot_url, _message(sandbox), _token(sandbox))
    assert answer.status_code == 404 and "not enabled" in answer.json()["error"]


@pytest.mark.parametrize("real", ["entra", "graph"])
def test_with_a_real_tenant_and_no_bot_set_up_the_endpoint_trusts_nobody(bot_app, real):
    """The sandbox's bot is for the built-in sandbox only: an installation with a real
    tenant (Entra or Graph) and no BOT_* settings must not trust the sandbox's keys."""
    application, bot_url, sandbox = bot_app
    settings = application.extensions["settings"]
    if real == "entra":
        settings.entra_tenant_id = "11111111-2222-3333-4444-555555555555"
    else:
        application.extensions["graph_setup"] = GraphSetup(MICROSOFT, REAL_GRAPH)
    answer = connector.deliver(sandbox.state, bot_url, _message(sandbox), _token(sandbox))
    assert answer.status_code == 404 and "BOT_APP_ID" in answer.json()["error"]
    assert connector.sent_activities(sandbox.state) == []
