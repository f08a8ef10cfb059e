"""Notices in the Teams activity feed (issue 17), email where the app is not installed:
the app served over real HTTP, its Microsoft 365 the built-in Graph sandbox (also its
Bot Connector, so a card's buttons can be pressed as Teams would), and the Graph call on
its own against the FakeGraph and the real client alike."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app import db
from app.actions.models import FollowUpAction
from app.auth.models import User
from app.incidents.models import Incident
from app.m365 import activity_feed
from app.m365.sandbox_host import sandbox_for
from app.outbox import service as outbox
from app.outbox.models import CANCELLED, DELIVERED, FAILED, PENDING, SENDING, Delivery
from app.people.models import ACCEPTED, RoleHandover
from app.teams_app import manifest as teams_manifest
from graph.fake import FakeGraph
from graph.port import (
    MAX_PREVIEW_TEXT,
    ActivityNotification,
    AppNotInstalled,
    GraphError,
    InvalidRequest,
)
from graph.sandbox import connector_invokes as invokes
from graph.sandbox import routes_activity, teams_apps
from graph.sandbox import routes_connector as connector
from graph.sandbox.seed import BOT_APP_ID
from tests.conftest import Browser, drain, end_app, make_settings, start_app

ADA, BO = ("Ada Lovelace", "ada@example.com"), ("Bo Ng", "bo@example.com")


@pytest.fixture
def desk(migrated, redis_url, tmp_path, monkeypatch):
    """(app, its /api/messages URL, the sandbox server): the built-in sandbox, as `make
    run` has it, with the app on real HTTP for the sandbox's Bot Connector to call."""
    monkeypatch.setattr(activity_feed, "LOOK_AGAIN", timedelta(seconds=0.2))
    settings = make_settings(migrated, redis_url=redis_url, graph_base_url=None,
                             graph_sandbox_db=str(tmp_path / "graph-sandbox.db"),
                             graph_start_check=False)
    application = start_app(settings)
    application.config["SERVER_NAME"] = None
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield application, f"http://{host}:{port}/api/messages", sandbox_for(application)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        end_app(application)


def settle(application, rounds: int = 80, frozen=None) -> None:
    """Run the outbox until nothing but debounced report writes is left to do (a feed
    notice waiting for its card comes back shortly: `Later`; a `frozen` clock is moved
    on for it)."""
    for _ in range(rounds):
        drain(application)
        if frozen is not None:
            frozen.advance(seconds=1)
        with application.app_context():
            left = db.Session.scalars(select(Delivery.id).where(
                Delivery.status.in_((PENDING, SENDING)),
                Delivery.requested_at.is_(None))).all()
            if not left:
                db.Session.remove()
                return
            time.sleep(0.2)
            outbox.sweep(db.Session)
            db.Session.remove()
    raise AssertionError(f"deliveries still outstanding: {left}")


def signed_in(application, person) -> Browser:
    browser = Browser(application.test_client())
    browser.sign_in(name=person[0], email=person[1])
    return browser


def user_id(application, email: str) -> int:
    with application.app_context():
        return db.Session.scalar(select(User.id).where(User.email == email))


def offer(application, ada: Browser, reference: str, role: str, email: str):
    return ada.submit(f"/incidents/{reference}", f"/incidents/{reference}/roles",
                      {"role-role": role, "role-user": str(user_id(application, email))})


def notifications(sandbox, shown_only: bool = True) -> list[dict]:
    return [n for n in routes_activity.sent_notifications(sandbox.state)
            if not (shown_only and n["replaced"])]


def mails_to(sandbox, email: str) -> list[dict]:
    return [m for m in sandbox.state.mails() if email in m["to"] + m["bcc"]]


def feed_deliveries(application) -> list[Delivery]:
    with application.app_context():
        found = db.Session.scalars(select(Delivery).where(
            Delivery.kind == activity_feed.KIND).order_by(Delivery.id)).all()
        db.Session.expunge_all()
        return list(found)


def press(sandbox, bot_url: str, oid: str, verb: str, posted: dict) -> dict:
    """Press `verb` on the card the bot posted (`posted`: its Bot Connector record)."""
    card = posted["activity"]["attachments"][0]["content"]
    data = card["refresh"]["action"]["data"]
    where = dict(service_url=f"{sandbox.url}/", bot_id=BOT_APP_ID, user_oid=oid,
                 user_mri=f"29:mri-{oid[:8]}", channel_id=posted["channel_id"],
                 team_id=posted["team_id"], conversation_id=posted["conversation_id"],
                 reply_to_id=posted["id"])
    status, body = invokes.send(sandbox.state, bot_url,
                                invokes.card_action(verb, data, **where), bot_id=BOT_APP_ID)
    assert status == 200, body
    return body


# ---- the four notices ------------------------------------------------------------------


def test_a_hand_over_reaches_the_feed_not_the_inbox_and_is_accepted_from_its_card(desk):
    application, bot_url, sandbox = desk
    ada, _bo = signed_in(application, ADA), signed_in(application, BO)
    activity_feed.install_in_sandbox(application, BO[1])
    reference = ada.declare(title="Checkout <b>slow</b>\u202e now", severity="P3")
    settle(application)
    assert offer(application, ada, reference, "incident_lead", BO[1]).status_code == 302
    settle(application)

    [sent] = notifications(sandbox)
    with application.app_context():
        bo = db.Session.scalar(select(User).where(User.email == BO[1]))
        bo_oid, handover = bo.entra_oid, db.Session.scalars(select(RoleHandover)).one()
    assert sent["recipient_id"] == bo_oid and sent["activity_type"] == "handoverOffered"
    # Plain text, one line: the title's markup is words, its direction override gone.
    assert sent["text"] == (f"Ada Lovelace asks you to take over as incident lead for "
                            f"{reference}: Checkout <b>slow</b> now")
    assert sent["preview"] == "Ada Lovelace keeps the role until you accept."
    assert not mails_to(sandbox, BO[1])  # the feed, not a duplicate email
    [feed] = feed_deliveries(application)
    assert feed.status == DELIVERED and feed.result["sent"]

    # It opens the hand-over card the bot posted in the incident channel...
    link = sent["topic"]["webUrl"]
    assert link.startswith("https://teams.microsoft.com/l/message/")
    message_id = unquote(urlsplit(link).path).rsplit("/", 1)[-1]
    [posted] = [a for a in connector.sent_activities(sandbox.state) if a["id"] == message_id]
    assert "please take over as incident lead" in json.dumps(posted["activity"])
    # ...where Bo accepts.
    body = press(sandbox, bot_url, bo_oid, "accept_handover", posted)
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    with application.app_context():
        assert db.Session.get(RoleHandover, handover.id).status == ACCEPTED
        incident = db.Session.scalar(select(Incident).where(Incident.reference == reference))
        assert incident.current_roles()["incident_lead"].user.email == BO[1]


def test_without_the_app_the_email_goes_instead(desk):
    application, _bot_url, sandbox = desk
    ada, _bo = signed_in(application, ADA), signed_in(application, BO)
    reference = ada.declare(title="Search down", severity="P3")
    settle(application)
    offer(application, ada, reference, "incident_lead", BO[1])
    settle(application)

    assert not notifications(sandbox, shown_only=False)
    [mail] = mails_to(sandbox, BO[1])  # once
    assert "please take over as incident lead" in mail["subject"]
    [feed] = feed_deliveries(application)
    assert feed.status == CANCELLED
    assert "Bo Ng does not have the Incident Desk app in Teams, so it was emailed" in \
        feed.payload["label"]
    page = ada.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "does not have the Incident Desk app in Teams, so it was emailed" in page


def test_a_missing_permission_fails_visibly_and_still_emails(desk):
    application, _bot_url, sandbox = desk
    ada, _bo = signed_in(application, ADA), signed_in(application, BO)
    package = installed_package(application, BO[1], permissions=False)
    assert "TeamsActivity.Send.User" not in json.dumps(package["rsc"])
    reference = ada.declare(title="Search down", severity="P3")
    settle(application)
    offer(application, ada, reference, "incident_lead", BO[1])
    settle(application)

    assert not notifications(sandbox, shown_only=False)
    assert len(mails_to(sandbox, BO[1])) == 1  # nothing lost
    [feed] = feed_deliveries(application)
    assert feed.status == FAILED
    assert "Missing role permissions" in feed.last_error
    assert "needs TeamsActivity.Send.User" in feed.last_error
    assert "emailed instead" in feed.last_error
    page = ada.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "needs TeamsActivity.Send.User" in page and "Try again" in page

    # Once the package is updated, a person's Try again sends it; the email is not resent.
    installed_package(application, BO[1], permissions=True)
    retry = ada.submit(f"/incidents/{reference}",
                       f"/incidents/{reference}/deliveries/{feed.id}/retry")
    assert retry.status_code == 302, retry.get_data(as_text=True)
    settle(application)
    assert len(notifications(sandbox)) == 1
    assert len(mails_to(sandbox, BO[1])) == 1


def test_an_answer_lost_after_sending_is_retried_without_a_second_notification(desk):
    application, _bot_url, sandbox = desk
    ada, _bo = signed_in(application, ADA), signed_in(application, BO)
    activity_feed.install_in_sandbox(application, BO[1])
    reference = ada.declare(title="Search down", severity="P3")
    settle(application)
    sandbox.faults.fail_next(1, "lost_response", "sendActivityNotification")
    offer(application, ada, reference, "incident_lead", BO[1])
    settle(application)

    everything = notifications(sandbox, shown_only=False)
    assert len(everything) == 2  # the lost one and the retry...
    assert everything[0]["replaced"] and not everything[1]["replaced"]  # ...shown once
    assert everything[0]["chain_id"] == everything[1]["chain_id"]
    [feed] = feed_deliveries(application)
    assert feed.status == DELIVERED and feed.attempts == 2
    assert not mails_to(sandbox, BO[1])


def test_a_security_incident_keeps_its_title_out_of_the_feed(desk):
    application, _bot_url, sandbox = desk
    ada, _bo = signed_in(application, ADA), signed_in(application, BO)
    activity_feed.install_in_sandbox(application, BO[1])
    reference = ada.declare(title="Customer records exposed", severity="P2",
                            is_security="y")
    settle(application)
    offer(application, ada, reference, "incident_lead", BO[1])
    settle(application)

    [sent] = notifications(sandbox)
    assert sent["text"] == f"Ada Lovelace asks you to take over as incident lead for {reference}"
    assert "Customer records" not in json.dumps(sent)
    assert sent["topic"]["value"] == reference
    assert sent["topic"]["webUrl"].startswith("https://teams.microsoft.com/")
    # The sandbox page shows it to those who may see the incident, and to nobody else.
    page = ada.get("/sandbox").get_data(as_text=True)
    assert "Activity feed notifications sent" in page and reference in page
    stranger = signed_in(application, ("Cy Stranger", "cy@example.com"))
    assert reference not in stranger.get("/sandbox").get_data(as_text=True)


def test_a_role_given_by_someone_else_links_to_the_incident_tab(desk):
    application, _bot_url, sandbox = desk
    ada, _bo = signed_in(application, ADA), signed_in(application, BO)
    activity_feed.install_in_sandbox(application, BO[1])
    reference = ada.declare(title="Search down", severity="P3")
    settle(application)
    offer(application, ada, reference, "scribe", BO[1])  # nobody holds it: given at once
    offer(application, ada, reference, "tech_lead", ADA[1])  # Ada herself: nobody told
    settle(application)

    [sent] = notifications(sandbox)
    assert sent["activity_type"] == "roleAssigned"
    assert sent["text"] == f"Ada Lovelace made you scribe for {reference}: Search down"
    link = urlsplit(sent["topic"]["webUrl"])
    with application.app_context():
        channel = db.Session.scalar(select(Incident).where(
            Incident.reference == reference)).id
        from app.m365.models import TeamsChannel

        channel_id = db.Session.get(TeamsChannel, channel).channel_id
        external_id = activity_feed.teams_app().external_id
    assert link.netloc == "teams.microsoft.com"
    assert unquote(link.path) == f"/l/entity/{external_id}/{reference}"
    query = parse_qs(link.query)
    assert json.loads(query["context"][0]) == {"channelId": channel_id}
    assert query["webUrl"] == [f"http://incident-desk.test/incidents/{reference}"]
    assert not mails_to(sandbox, BO[1])
    assert len(feed_deliveries(application)) == 1


def test_the_role_notice_is_emailed_to_someone_without_the_app(desk):
    application, _bot_url, sandbox = desk
    ada, _bo = signed_in(application, ADA), signed_in(application, BO)
    reference = ada.declare(title="Search down", severity="P3")
    settle(application)
    offer(application, ada, reference, "scribe", BO[1])
    settle(application)
    [mail] = mails_to(sandbox, BO[1])
    assert "Bo Ng: you are now scribe" in mail["subject"]
    assert "Ada Lovelace made you scribe" in mail["html"]


def test_an_overdue_action_and_an_update_due_reach_their_owner(desk, frozen_clock):
    from app.actions.service import chase_overdue
    from app.reminders.service import policy_from, send_due

    application, _bot_url, sandbox = desk
    ada, _bo = signed_in(application, ADA), signed_in(application, BO)
    for email in (ADA[1], BO[1]):
        activity_feed.install_in_sandbox(application, email)
    reference = ada.declare(title="Search down", severity="P1")
    settle(application)
    with application.app_context():
        incident = db.Session.scalar(select(Incident).where(Incident.reference == reference))
        db.Session.add(FollowUpAction(incident_id=incident.id, description="Add a\nretry",
                                      owner_id=user_id(application, BO[1]),
                                      due=date(2026, 11, 20), status="open",
                                      created_at=frozen_clock(), updated_at=frozen_clock()))
        db.Session.commit()
        effects = application.extensions["effects"]
        assert chase_overdue(db.Session, effects) == 1
        db.Session.remove()
    # Sent before the clock moves on: a notice waits at most CARD_WAIT for its card.
    settle(application, frozen=frozen_clock)
    with application.app_context():
        frozen_clock.advance(minutes=61)  # a P1's first update is overdue
        send_due(db.Session, application.extensions["org"], application.extensions["effects"],
                 policy_from(application.extensions["settings"]))
        db.Session.remove()
    settle(application, frozen=frozen_clock)

    by_type = {n["activity_type"]: n for n in notifications(sandbox)}
    overdue = by_type["actionOverdue"]
    assert overdue["text"] == f"Your follow-up action for {reference}: Search down is overdue"
    assert overdue["preview"] == "Add a retry"
    assert overdue["topic"]["webUrl"].startswith("https://teams.microsoft.com/l/message/")
    update = by_type["updateDue"]
    assert update["text"] == f"An update on {reference}: Search down is due"
    assert len(update["preview"]) <= MAX_PREVIEW_TEXT and reference in update["preview"]
    with application.app_context():
        ada_oid = db.Session.scalar(select(User.entra_oid).where(User.email == ADA[1]))
    assert update["recipient_id"] == ada_oid  # the lead, who is also comms lead here
    assert not mails_to(sandbox, BO[1]) and not [
        m for m in mails_to(sandbox, ADA[1]) if "update is due" in m["subject"].lower()]


# ---- the pieces --------------------------------------------------------------------------


def installed_package(application, email: str, permissions: bool) -> dict:
    """The app installed for `email` from a package with (or without) the RSC."""
    found = activity_feed.install_in_sandbox(application, email)
    if permissions:
        return found
    state = sandbox_for(application).state
    with state.tx() as tx:
        key = f"{found['user_id']}/{found['external_id'].lower()}"
        tx.put(teams_apps.PERSONAL_KIND, key, {**found, "rsc": []}, scope=found["user_id"])
        return tx.get(teams_apps.PERSONAL_KIND, key)


def test_plain_words_lose_what_could_mislead_and_are_cut():
    assert activity_feed.plain("a\u202eb\u200bc\td\r\ne  f") == "abc d e f"
    cut = activity_feed.plain("x" * 200, 20)
    assert len(cut) == 20 and cut.endswith("…")


def test_the_manifest_declares_each_notice_with_its_template():
    from app.teams_app.manifest import AppIdentity, build

    built = build(AppIdentity(base_url="https://desk.example.org",
                              bot_app_id="b07a55e1-1d2e-4f00-9a7c-5a4db0b07de5"))
    declared = {a["type"]: a["templateText"] for a in built["activities"]["activityTypes"]}
    assert set(declared) == {a.type for a in activity_feed.ACTIVITY.values()}
    assert all(len(a["description"]) <= 128 and len(a["templateText"]) <= 128
               for a in built["activities"]["activityTypes"])
    assert "systemDefault" not in declared  # reserved: never declared
    assert {"name": "TeamsActivity.Send.User", "type": "Application"} in \
        built["authorization"]["permissions"]["resourceSpecific"]
    assert declared[teams_manifest.HANDOVER_OFFERED.type] == \
        "{asker} asks you to take over as {role} for {incident}"


NOTICE = ActivityNotification(
    "handoverOffered", "INC-1: Search down", "https://teams.microsoft.com/l/message/c/1",
    "Ada keeps the role until you accept.",
    (("asker", "Ada"), ("role", "scribe"), ("incident", "INC-1")), chain_id=7)
TEMPLATES = {"handoverOffered": "{asker} asks you to take over as {role} for {incident}"}
APP = "feed-tests"


@pytest.fixture(scope="module")
def sandbox_server():
    from graph.sandbox import SandboxServer

    server = SandboxServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["fake", "client"])
def graph(request):
    """(graph, install(user, rsc), sent()) for the FakeGraph and the real client."""
    if request.param == "fake":
        fake = FakeGraph()
        return (fake, lambda who, rsc=True: fake.install_app_for_user(who, TEMPLATES, rsc),
                fake.activity_notifications)
    from graph.client import GraphClient

    server = request.getfixturevalue("sandbox_server")
    server.state.reset()
    server.faults.reset()
    server.state.add_app(APP, "secret", "Feed tests")
    server.state.add_user("bo@example.org", "Bo")
    token = server.state.app_token(APP)

    def install(who, rsc=True):
        teams_apps.install_for_user(server.state, who, {
            "id": "manifest-1", "name": {"short": "Incident Desk"},
            "webApplicationInfo": {"id": APP},
            "activities": {"activityTypes": [
                {"type": t, "description": t, "templateText": text}
                for t, text in TEMPLATES.items()]},
            "authorization": {"permissions": {"resourceSpecific": [
                {"name": "TeamsActivity.Send.User", "type": "Application"}] if rsc else []}}})

    return (GraphClient(server.graph_base_url, lambda: token, timeout=5), install,
            lambda: routes_activity.sent_notifications(server.state))


def test_graph_notifies_only_those_with_the_app(graph):
    client, install, sent = graph
    with pytest.raises(AppNotInstalled) as refused:
        client.send_activity_notification("bo@example.org", NOTICE)
    assert refused.value.status == 403 and "installed in the target scope" in \
        refused.value.message
    install("bo@example.org", False)
    with pytest.raises(GraphError) as forbidden:
        client.send_activity_notification("bo@example.org", NOTICE)
    assert not isinstance(forbidden.value, AppNotInstalled)
    assert forbidden.value.status == 403 and "TeamsActivity.Send.User" in \
        forbidden.value.message
    assert sent() == []
    install("bo@example.org")
    client.send_activity_notification("bo@example.org", NOTICE)
    [one] = sent()
    assert one["text"] == "Ada asks you to take over as scribe for INC-1"
    assert one["topic"]["webUrl"] == NOTICE.web_url and one["chain_id"] == 7


def test_graph_refuses_what_the_manifest_does_not_declare(graph):
    from dataclasses import replace

    client, install, sent = graph
    install("bo@example.org")
    for wrong in (replace(NOTICE, activity_type="somethingElse"),
                  replace(NOTICE, parameters=NOTICE.parameters[:2]),
                  replace(NOTICE, parameters=(*NOTICE.parameters, ("extra", "x"))),
                  replace(NOTICE, web_url="https://incident-desk.example.org/incidents/1")):
        with pytest.raises(InvalidRequest):
            client.send_activity_notification("bo@example.org", wrong)
    assert sent() == []


def test_graph_replaces_a_notification_sent_again_with_its_chain_id(graph):
    from dataclasses import replace

    client, install, sent = graph
    install("bo@example.org")
    client.send_activity_notification("bo@example.org", NOTICE)
    client.send_activity_notification("bo@example.org", NOTICE)
    client.send_activity_notification("bo@example.org", replace(NOTICE, chain_id=8))
    assert [n["replaced"] for n in sent()] == [True, False, False]
    long = replace(NOTICE, preview="p" * 400, chain_id=9)
    client.send_activity_notification("bo@example.org", long)
    assert sent()[-1]["preview"] == "p" * MAX_PREVIEW_TEXT  # what Teams shows of it
