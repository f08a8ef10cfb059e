"""Posts come from the app: with the Teams app installed in the incidents team, channel
posts are sent by the bot through the Bot Connector (the sandbox's), needing nobody's
token; without it, the delegated Graph path. Exactly once on both paths."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app import db
from app.auth.models import TokenCache
from app.bot.installations import NOT_IN_ROSTER, UNINSTALLED
from app.bot.models import BotInstallation
from app.m365.sandbox_host import sandbox_for, state_for
from app.outbox.models import Delivery
from graph.port import CardMarker, GraphError
from graph.sandbox import routes_connector as connector
from graph.sandbox import teams_apps
from graph.sandbox.seed import BOT_APP_ID, CLIENT_ID, TEAM_ID
from graph.sandbox.wire import TENANT_ID
from tests.conftest import Browser, drain

POST = "teams.post"


def _state(application):
    return state_for(application.extensions["settings"].graph_sandbox_db)


def _posts(session) -> dict[str, Delivery]:
    session.expire_all()
    return {d.key.rsplit("/", 1)[-1]: d for d in session.scalars(
        select(Delivery).where(Delivery.kind == POST))}


def _bot_threads(state) -> list[dict]:
    return [a for a in connector.sent_activities(state) if a.get("new_conversation")]


def _card(activity: dict) -> dict:
    [attachment] = activity["activity"]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def _graph_posts(state) -> list[dict]:
    return [r for r in state.requests() if r["method"] == "POST"
            and r["path"].split("?")[0].endswith("/messages")]


def _declare(application, **fields) -> tuple[Browser, str]:
    browser = Browser(application.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    return browser, browser.declare(**fields)


def test_the_kickoff_and_announcement_come_from_the_bot(sandbox_app, session):
    state = _state(sandbox_app)
    browser, _reference = _declare(sandbox_app, title="Payments <down>", severity="P1")
    drain(sandbox_app)
    posts = _posts(session)
    assert {d.status for d in posts.values()} == {"delivered"}, posts
    assert {d.result["via"] for d in posts.values()} == {"bot"}
    threads = _bot_threads(state)
    assert len(threads) == len(posts) == 2  # kickoff and broadcast announcement
    by_key = {_card(t)["refresh"]["action"]["data"]["delivery_key"]: t for t in threads}
    assert set(by_key) == {d.key for d in posts.values()}  # the marker: the delivery key
    for delivery in posts.values():
        card = _card(by_key[delivery.key])
        assert card["refresh"]["action"]["type"] == "Action.Execute"
        assert card["refresh"]["action"]["data"]["kind"] == delivery.payload["card_kind"]
        assert by_key[delivery.key]["sent_by"] == BOT_APP_ID
        activity = by_key[delivery.key]["activity"]
        assert activity["textFormat"] == "xml" and "&lt;down&gt;" in activity["text"]
        assert delivery.result["message_id"] == by_key[delivery.key]["id"]
        assert delivery.result["channel_id"] and delivery.result["web_url"]
    assert _graph_posts(state) == []  # nobody posted through Graph
    # What Graph shows: the bot's messages, its card a JSON string.
    messages = {m["id"]: m for m in state.messages()}
    kickoff = messages[posts["kickoff"].result["message_id"]]
    assert kickoff["from"]["user"] is None
    assert kickoff["from"]["application"]["id"] == BOT_APP_ID
    assert kickoff["channel_id"] == posts["kickoff"].result["channel_id"]
    assert json.loads(kickoff["attachments"][0]["content"])["refresh"]
    installation = session.get(BotInstallation, TEAM_ID)
    assert installation.active and installation.tenant_id == TENANT_ID
    # The sandbox page shows what the app posted.
    page = browser.get("/sandbox").get_data(as_text=True)
    assert "Posted by the Incident Desk app" in page
    assert "Payments &lt;down&gt;" in page and "Payments <down>" not in page


def test_an_update_needs_nobodys_token(sandbox_app, session):
    """Every stored sign-in gone: the bot still posts the update; no token is redeemed."""
    state = _state(sandbox_app)
    browser, reference = _declare(sandbox_app)
    drain(sandbox_app)
    session.execute(TokenCache.__table__.delete())
    session.commit()
    redeemed = {g: state.token_redemptions(g) for g in ("authorization_code", "refresh_token")}
    before = len(_bot_threads(state))
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "identified", "message": "A bad release; rolling back.", "to_channel": "y",
        "contacts": []})
    assert response.status_code == 302, response.get_data(as_text=True)
    drain(sandbox_app)
    update = next(d for k, d in _posts(session).items() if k not in ("kickoff",))
    assert update.status == "delivered", update.last_error
    assert update.result["via"] == "bot" and update.payload["card_kind"] == "update"
    assert len(_bot_threads(state)) == before + 1
    assert {g: state.token_redemptions(g) for g in redeemed} == redeemed
    assert _graph_posts(state) == []


def test_without_the_app_posts_go_through_graph(sandbox_app, session):
    state = _state(sandbox_app)
    teams_apps.uninstall(state, TEAM_ID)  # never installed, as far as Incident Desk knows
    _declare(sandbox_app, severity="P1")
    drain(sandbox_app)
    posts = _posts(session)
    assert {d.status for d in posts.values()} == {"delivered"}
    assert {d.result["via"] for d in posts.values()} == {"graph"}
    assert _bot_threads(state) == [] and len(_graph_posts(state)) == 2
    assert session.get(BotInstallation, TEAM_ID) is None


def test_a_lost_answer_is_looked_up_not_posted_twice(sandbox_app, session):
    """The connector applied the post but its answer was lost (504): the retry finds the
    post through Graph with the app's own token (the installed app's RSC) and does not
    send it again."""
    from app.jobs import deliver

    state = _state(sandbox_app)
    sandbox_for(sandbox_app).faults.fail_next(1, "lost_response", "POST /v3/conversations")
    _declare(sandbox_app)
    drain(sandbox_app)
    kickoff = _posts(session)["kickoff"]
    if kickoff.status == "pending":  # the retry's backoff has not run out in the drain
        session.execute(Delivery.__table__.update().where(Delivery.id == kickoff.id)
                        .values(next_attempt_at=func.now()))
        session.commit()
        with sandbox_app.app_context():
            deliver(kickoff.id)
    kickoff = _posts(session)["kickoff"]
    assert kickoff.status == "delivered", kickoff.last_error
    assert kickoff.attempts == 2 and kickoff.result["found_earlier"] is True
    assert kickoff.result["via"] == "bot"
    assert len(_bot_threads(state)) == 1  # one post, not two
    [thread] = _bot_threads(state)
    assert kickoff.result["message_id"] == thread["id"]
    reads = [r for r in state.requests() if r["method"] == "GET"
             and "/messages" in r["path"] and r["status"] == 200]
    assert reads and all(r["actor"] == "Incident Desk" for r in reads)  # app-only


def test_when_the_app_has_left_the_team_posts_fall_back_to_graph(sandbox_app, session):
    state = _state(sandbox_app)
    browser, reference = _declare(sandbox_app)
    drain(sandbox_app)
    assert _posts(session)["kickoff"].result["via"] == "bot"
    teams_apps.uninstall(state, TEAM_ID)  # Incident Desk has not heard of it yet
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "identified", "message": "Rolling back.", "to_channel": "y",
        "contacts": []})
    assert response.status_code == 302
    drain(sandbox_app)
    update = next(d for k, d in _posts(session).items() if k != "kickoff")
    assert update.status == "delivered", update.last_error
    assert update.result["via"] == "graph" and update.attempts == 1
    installation = session.get(BotInstallation, TEAM_ID)
    assert not installation.active and installation.removed_because == NOT_IN_ROSTER
    assert len(_bot_threads(state)) == 1 and len(_graph_posts(state)) == 1


def test_a_security_incidents_private_channel_stays_on_graph(sandbox_app, session):
    state = _state(sandbox_app)
    browser = Browser(sandbox_app.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com", security=True)
    browser.declare(title="Credentials leaked", is_security="y")
    drain(sandbox_app)
    kickoff = _posts(session)["kickoff"]
    assert kickoff.status == "delivered", kickoff.last_error
    assert kickoff.result["via"] == "graph" and _bot_threads(state) == []


# ---- the app-only look-up: Graph's rules --------------------------------------------


def _app_graph(application):
    return application.extensions["graph_for_app"]()


def test_reading_channel_messages_as_the_app_needs_the_installed_apps_rsc(sandbox_app):
    state = _state(sandbox_app)
    marker = CardMarker(("refresh", "action", "data", "delivery_key"), "nothing-posted")
    graph = _app_graph(sandbox_app)
    with state.read() as tx:
        general = teams_apps.general_channel(tx, TEAM_ID)
    assert graph.find_card_message(TEAM_ID, general, marker) is None  # installed: allowed
    teams_apps.uninstall(state, TEAM_ID)
    with pytest.raises(GraphError) as refused:
        graph.find_card_message(TEAM_ID, general, marker)
    assert refused.value.status == 403
    assert "ChannelMessage.Read.All" in refused.value.message
    assert "ChannelMessage.Read.Group" in refused.value.message
    # RSC is team-scoped: installed in another team, it grants nothing here.
    state.add_team("other-team", "Other")
    teams_apps.install(state, "other-team", BOT_APP_ID, (CLIENT_ID,))
    with pytest.raises(GraphError) as again:
        graph.find_card_message(TEAM_ID, general, marker)
    assert again.value.status == 403


def test_the_connector_refuses_a_bot_not_in_the_teams_roster(sandbox_app):
    import requests

    state = _state(sandbox_app)
    server = sandbox_for(sandbox_app)
    with state.tx() as tx:
        app = tx.get("app", BOT_APP_ID)
        key = connector.signing_key(tx)
        general = teams_apps.general_channel(tx, TEAM_ID)
    token, _ = connector.bot_access_token(key, app, 600)
    body = {"isGroup": True, "channelData": {"channel": {"id": general}},
            "activity": {"type": "message", "text": "hello"}}
    headers = {"Authorization": f"Bearer {token}"}
    ok = requests.post(f"{server.url}/v3/conversations", json=body, headers=headers,
                       timeout=5)
    assert ok.status_code == 201 and ok.json()["id"] == \
        f"{general};messageid={ok.json()['activityId']}"
    teams_apps.uninstall(state, TEAM_ID)
    refused = requests.post(f"{server.url}/v3/conversations", json=body, headers=headers,
                            timeout=5)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "BotNotInConversationRoster"


# ---- installation tracking: what Teams tells the bot --------------------------------


def _rows(application) -> dict[str, BotInstallation]:
    with application.app_context():
        rows = {r.team_id: r for r in db.Session.scalars(select(BotInstallation))}
        db.Session.remove()
    return rows


def test_installation_updates_are_recorded(bot_app):
    application, bot_url, sandbox = bot_app
    state = sandbox.state
    state.add_team("team-two", "Two")
    state.add_channel("team-two", "General", "19:general-two@thread.tacv2")
    teams_apps.install(state, "team-two", BOT_APP_ID, (CLIENT_ID,))
    answer = teams_apps.deliver_installation(state, bot_url, "team-two", "add",
                                             service_url=f"{sandbox.url}/", bot_id=BOT_APP_ID)
    assert answer.status_code in (200, 202), answer.text
    row = _rows(application)["team-two"]
    assert row.active and row.thread_id == "19:general-two@thread.tacv2"
    assert row.tenant_id == TENANT_ID and row.service_url == f"{sandbox.url}/"
    teams_apps.uninstall(state, "team-two")
    teams_apps.deliver_installation(state, bot_url, "team-two", "remove",
                                    service_url=f"{sandbox.url}/", bot_id=BOT_APP_ID)
    row = _rows(application)["team-two"]
    assert not row.active and row.removed_because == UNINSTALLED


def test_the_bot_added_to_and_removed_from_a_team_is_recorded(bot_app):
    application, bot_url, sandbox = bot_app
    service_url = f"{sandbox.url}/"

    def update(event: str, members_key: str, member_id: str) -> None:
        activity = teams_apps.installation_activity(sandbox.state, TEAM_ID, "add",
                                                    service_url=service_url,
                                                    bot_id=BOT_APP_ID)
        activity.pop("action")
        activity.update(type="conversationUpdate", **{members_key: [{"id": member_id}]})
        activity["channelData"] = {"team": activity["channelData"]["team"],
                                   "eventType": event, "tenant": {"id": TENANT_ID}}
        token = connector.connector_token(sandbox.state, audience=BOT_APP_ID,
                                          service_url=service_url)
        answer = connector.deliver(sandbox.state, bot_url, activity, token)
        assert answer.status_code in (200, 202), answer.text

    update("teamMemberAdded", "membersAdded", "29:someone-else")
    assert TEAM_ID not in _rows(application)  # a person joining is not the app
    update("teamMemberAdded", "membersAdded", f"28:{BOT_APP_ID}")
    assert _rows(application)[TEAM_ID].active
    update("teamMemberRemoved", "membersRemoved", f"28:{BOT_APP_ID}")
    assert not _rows(application)[TEAM_ID].active


def test_the_sandbox_installs_and_removes_the_app_and_tells_the_bot(bot_app):
    import requests

    application, bot_url, sandbox = bot_app
    control = f"{sandbox.url}/_sandbox/teams-app"
    removed = requests.post(control, json={"action": "uninstall", "bot_url": bot_url},
                            timeout=10).json()
    assert removed["installed"] is False and removed["bot_answered"] in (200, 202)
    assert not _rows(application)[TEAM_ID].active
    with sandbox.state.read() as tx:
        assert teams_apps.rsc_granted(tx, TEAM_ID, CLIENT_ID,
                                      ("ChannelMessage.Read.Group",)) is None
    added = requests.post(control, json={"action": "install", "bot_url": bot_url},
                          timeout=10).json()
    assert added["installed"] is True and added["bot_answered"] in (200, 202)
    row = _rows(application)[TEAM_ID]
    assert row.active and row.service_url == f"{sandbox.url}/"
    with sandbox.state.read() as tx:
        assert teams_apps.rsc_granted(tx, TEAM_ID, CLIENT_ID,
                                      ("ChannelMessage.Read.Group",)) is not None
    bad = requests.post(control, json={"action": "explode"}, timeout=10)
    assert bad.status_code == 400


@pytest.mark.parametrize("fault", ["429", "503", "timeout"])
def test_a_throttled_or_unanswered_send_is_retried_once(sandbox_app, session, fault):
    """429 / 5xx: not posted, retried after Retry-After; no answer at all (status 0): may
    have posted, so the retry looks first and, finding nothing, posts once."""
    from app.jobs import deliver

    state = _state(sandbox_app)
    faults = sandbox_for(sandbox_app).faults
    faults.configure(retry_after=0, hang=0.1)
    faults.fail_next(1, fault, "POST /v3/conversations")
    _declare(sandbox_app)
    drain(sandbox_app)
    kickoff = _posts(session)["kickoff"]
    if kickoff.status == "pending":
        assert kickoff.last_error
        session.execute(Delivery.__table__.update().where(Delivery.id == kickoff.id)
                        .values(next_attempt_at=func.now()))
        session.commit()
        with sandbox_app.app_context():
            deliver(kickoff.id)
    kickoff = _posts(session)["kickoff"]
    assert kickoff.status == "delivered", kickoff.last_error
    assert kickoff.attempts == 2 and kickoff.result["via"] == "bot"
    assert "found_earlier" not in kickoff.result
    assert len(_bot_threads(state)) == 1
    looked = [r for r in state.requests() if r["method"] == "GET" and "/messages" in r["path"]]
    assert bool(looked) == (fault == "timeout")  # only an unanswered send is looked for
