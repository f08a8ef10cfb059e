"""The incident pinned as a tab in the channel Incident Desk makes for it (issue 17), by the
Teams app itself, through the built-in Graph sandbox over real HTTP: once, only where the
app is installed, looked up before any second pin; a security incident's tab only in its
private channel, or the page saying in plain words why the app is not there."""

from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from app.incidents.models import TimelineEntry
from app.m365 import tab_pins
from app.m365.sandbox_host import sandbox_for, state_for
from app.outbox.models import Delivery
from app.teams_app.identity import identity_from
from app.teams_app.manifest import app_id
from graph.sandbox import teams_apps
from graph.sandbox.routes_connector import sent_activities
from graph.sandbox.routes_tabs import pinned_tabs
from graph.sandbox.seed import BOT_APP_ID, BROADCAST_CHANNEL_ID, CLIENT_ID, TEAM_ID
from tests.conftest import Browser, csrf_from, drain

OLD_RSC = ("ChannelMessage.Read.Group", "TeamMember.Read.Group",
           "ChannelMember.ReadWrite.Group")  # the package before the tab was pinned


def _state(application):
    return state_for(application.extensions["settings"].graph_sandbox_db)


def _deliveries(session) -> dict[str, Delivery]:
    session.expire_all()
    return {d.kind: d for d in session.scalars(select(Delivery).where(
        Delivery.requested_at.is_(None)))}


def _pin(session) -> Delivery | None:
    return _deliveries(session).get(tab_pins.PIN_TAB)


def _channel_id(session) -> str:
    return _deliveries(session)["teams.create_channel"].result["channel_id"]


def _tab_requests(state, method: str | None = None) -> list[dict]:
    return [r for r in state.requests() if "/tabs" in r["path"].split("?")[0]
            and (method is None or r["method"] == method)]


def _declare(application, security: bool = False, **fields) -> tuple[Browser, str]:
    browser = Browser(application.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com", security=security)
    if security:
        fields.setdefault("is_security", "y")
    return browser, browser.declare(**fields)


def _run_again(application, session, delivery: Delivery) -> None:
    """Its backoff run out now, as the sweep would find it later."""
    from app.jobs import deliver

    session.execute(Delivery.__table__.update().where(Delivery.id == delivery.id)
                    .values(next_attempt_at=func.now()))
    session.commit()
    with application.app_context():
        deliver(delivery.id)


def _manifest_id(application) -> str:
    return app_id(identity_from(application.extensions["settings"], built_in_sandbox=True))


def test_the_tab_is_pinned_once_in_the_channel_made_for_the_incident(sandbox_app, session):
    state = _state(sandbox_app)
    browser, reference = _declare(sandbox_app, title="Payments <down>")
    drain(sandbox_app)
    pin = _pin(session)
    assert pin is not None and pin.status == "delivered", pin and pin.last_error
    assert pin.result["found_earlier"] is False and pin.attempts == 1
    channel = _channel_id(session)
    [tab] = pinned_tabs(state)
    assert tab["channel_id"] == channel and pin.result["tab_id"] == tab["id"]
    assert tab["displayName"] == reference
    assert tab["configuration"] == {
        "entityId": reference,  # as the tab's own configuration page sets it (tab.js)
        "contentUrl": f"http://incident-desk.test/tab/incident?reference={reference}",
        "websiteUrl": f"http://incident-desk.test/incidents/{reference}", "removeUrl": None}
    # Bound to this installation's app in the catalog, found by its manifest id.
    assert tab["teamsApp"]["externalId"] == _manifest_id(sandbox_app)
    assert tab["pinned_by"] == "Incident Desk"  # the app itself: nobody's sign-in
    calls = [(r["method"], r["path"].split("?")[0].rsplit("/", 1)[-1], r["actor"])
             for r in state.requests() if "/installedApps" in r["path"]
             or "/tabs" in r["path"]]
    assert calls == [("GET", "installedApps", "Incident Desk"),
                     ("GET", "tabs", "Incident Desk"), ("POST", "tabs", "Incident Desk")]
    entries = session.scalars(select(TimelineEntry).where(
        TimelineEntry.kind == tab_pins.TIMELINE_KIND)).all()
    assert [e.text for e in entries] == ["Incident tab pinned in the Teams channel"]
    assert entries[0].data["web_url"] == tab["webUrl"]
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Incident tab in the Teams channel" in page
    assert not [t for t in pinned_tabs(state) if t["channel_id"] == BROADCAST_CHANNEL_ID]


def test_without_the_app_in_the_team_nothing_is_pinned_and_nothing_fails(sandbox_app,
                                                                          session):
    state = _state(sandbox_app)
    teams_apps.uninstall(state, TEAM_ID)
    browser, reference = _declare(sandbox_app, severity="P1")
    drain(sandbox_app)
    deliveries = _deliveries(session)
    assert tab_pins.PIN_TAB not in deliveries
    assert {d.status for d in deliveries.values()} == {"delivered"}, {
        k: d.last_error for k, d in deliveries.items()}
    assert pinned_tabs(state) == [] and _tab_requests(state) == []
    assert not [r for r in state.requests() if "/installedApps" in r["path"]]
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Incident tab" not in page and "Failed" not in page


def test_a_lost_answer_is_looked_up_not_pinned_twice(sandbox_app, session):
    """The pin was made but its answer lost (504): the retry lists the channel's tabs of
    the app, finds it by the incident's entityId, and pins nothing more."""
    state = _state(sandbox_app)
    # The only POST into a channel of the incident's (the bot posts the kickoff card).
    sandbox_for(sandbox_app).faults.fail_next(1, "lost_response",
                                              f"POST /v1.0/teams/{TEAM_ID}/channels/19")
    _declare(sandbox_app)
    drain(sandbox_app)
    pin = _pin(session)
    if pin.status == "pending":  # the retry's backoff has not run out in the drain
        assert pin.progress.get("ambiguous") is True
        _run_again(sandbox_app, session, pin)
        pin = _pin(session)
    assert pin.status == "delivered", pin.last_error
    assert pin.attempts == 2 and pin.result["found_earlier"] is True
    assert len(pinned_tabs(state)) == 1 and pin.result["tab_id"] == pinned_tabs(state)[0]["id"]
    assert len(_tab_requests(state, "POST")) == 1  # never sent again
    assert len(_tab_requests(state, "GET")) == 2  # looked before each pin
    assert session.scalar(select(func.count()).select_from(TimelineEntry).where(
        TimelineEntry.kind == tab_pins.TIMELINE_KIND)) == 1


def test_a_tab_someone_pinned_by_hand_is_not_pinned_again(sandbox_app, session):
    """A pin that failed (the team's package lacked the tab's permissions) is tried again
    after a person pinned the incident from the channel's + (the same entityId) and the
    current package was installed: the look-up finds their tab and pins no second one."""
    state = _state(sandbox_app)
    teams_apps.install(state, TEAM_ID, BOT_APP_ID, (CLIENT_ID, BOT_APP_ID), OLD_RSC)
    browser, reference = _declare(sandbox_app)
    drain(sandbox_app)
    pin = _pin(session)
    assert pin.status == "failed"
    teams_apps.install(state, TEAM_ID, BOT_APP_ID, (CLIENT_ID, BOT_APP_ID))
    with state.tx() as tx:  # what Teams holds once someone saved the configuration page
        installed = teams_apps.installation(tx, TEAM_ID)
        tx.put("tab", "by-hand", {
            "id": "by-hand", "displayName": reference,
            "configuration": {"entityId": reference, "contentUrl": "https://x.test/tab"},
            "webUrl": "https://teams.microsoft.com/l/channel/x/tab%3a%3aby-hand",
            "teamsApp": {"id": installed["teams_app_id"]}}, scope=_channel_id(session))
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    response = browser.client.post(f"/incidents/{reference}/deliveries/{pin.id}/retry",
                                   data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    drain(sandbox_app)
    pin = _pin(session)
    assert pin.status == "delivered" and pin.result["found_earlier"] is True
    assert pin.result["tab_id"] == "by-hand" and len(pinned_tabs(state)) == 1
    assert _tab_requests(state, "POST") == []


@pytest.mark.parametrize("granted", [OLD_RSC, (*OLD_RSC, "TeamsAppInstallation.Read.Group",
                                               "TeamsTab.Read.Group")],
                         ids=["old package", "no TeamsTab.Create.Group"])
def test_a_missing_permission_is_a_clear_error(sandbox_app, session, granted):
    """The team installed a package from before the tab (its RSC grants lack the tab's):
    Graph's 403, and the page says which permissions and how to give them."""
    state = _state(sandbox_app)
    teams_apps.install(state, TEAM_ID, BOT_APP_ID, (CLIENT_ID, BOT_APP_ID), granted)
    browser, reference = _declare(sandbox_app)
    drain(sandbox_app)
    pin = _pin(session)
    assert pin.status == "failed" and pin.attempts == 1
    assert "403" in pin.last_error and "TeamsTab.Create.Group" in pin.last_error
    assert "upload the current package" in pin.last_error and "Try again" in pin.last_error
    assert pinned_tabs(state) == []
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert str(escape(pin.last_error)) in page
    assert f"/deliveries/{pin.id}/retry" in page
    # Everything else went out: the kickoff and the channel do not wait on the tab.
    others = [d for k, d in _deliveries(session).items() if k != tab_pins.PIN_TAB]
    assert {d.status for d in others} == {"delivered"}


# ---- security incidents: their private channel ------------------------------------------


NOTICE = ("The Incident Desk app could not be added to this private channel: posts go "
          "through Ada Lovelace's sign-in instead.")


def _outside(state, private_channel: str) -> list:
    """Anything Incident Desk put anywhere but the private channel (messages, tabs, bot
    posts)."""
    return ([m for m in state.messages() if m["channel_id"] != private_channel]
            + [t for t in pinned_tabs(state) if t["channel_id"] != private_channel]
            + sent_activities(state))


def test_a_private_channel_without_the_app_says_so_on_the_page(sandbox_app, session):
    state = _state(sandbox_app)
    browser, reference = _declare(sandbox_app, security=True, title="Credentials leaked")
    drain(sandbox_app)
    deliveries = _deliveries(session)
    channel = deliveries["teams.create_channel"]
    assert channel.result["membership_type"] == "private"
    pin = deliveries[tab_pins.PIN_TAB]
    # Done, on the delegated path: not a failure waiting for a person.
    assert pin.status == "delivered" and pin.result[tab_pins.APP_MISSING] == \
        tab_pins.NOT_IN_CHANNEL
    assert pin.result["notice"].startswith(NOTICE)
    assert "an owner can add Incident Desk from the channel's + in Teams" in \
        pin.result["notice"]
    # Posts keep the delegated path: the kickoff is Ada's, through Graph.
    kickoff = deliveries["teams.post"]
    assert kickoff.status == "delivered" and kickoff.result["via"] == "graph"
    private = channel.result["channel_id"]
    assert _outside(state, private) == [] and pinned_tabs(state) == []
    # The app-only look at the channel's tabs was refused (403): nothing was pinned.
    assert [(r["method"], r["status"]) for r in _tab_requests(state)] == [("GET", 403)]
    assert session.scalar(select(func.count()).select_from(TimelineEntry).where(
        TimelineEntry.kind == tab_pins.TIMELINE_KIND)) == 0
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert str(escape(NOTICE)) in page and "Not added" in page
    assert "govuk-warning-text" in page and f"/deliveries/{pin.id}/retry" not in page


def test_with_the_app_in_the_private_channel_its_tab_is_pinned_there_only(sandbox_app,
                                                                         session):
    """The app added to the private channel (by an owner, in Teams) before the pin's
    retry (a throttled first attempt): the tab goes there, and nowhere else."""
    state = _state(sandbox_app)
    faults = sandbox_for(sandbox_app).faults
    faults.configure(retry_after=30)  # the retry waits well past the drain
    faults.fail_next(1, "429", "/installedApps")
    browser, reference = _declare(sandbox_app, security=True, title="Credentials leaked")
    drain(sandbox_app)
    pin = _pin(session)
    assert pin.status == "pending" and pin.attempts == 1
    private = _channel_id(session)
    teams_apps.add_to_channel(state, TEAM_ID, private)  # a channel owner, in Teams
    _run_again(sandbox_app, session, pin)
    pin = _pin(session)
    assert pin.status == "delivered" and tab_pins.APP_MISSING not in pin.result
    [tab] = pinned_tabs(state)
    assert tab["channel_id"] == private and tab["configuration"]["entityId"] == reference
    assert _outside(state, private) == []
    entries = session.scalars(select(TimelineEntry.text).where(
        TimelineEntry.kind == tab_pins.TIMELINE_KIND)).all()
    assert entries == ["Incident tab pinned in the private channel"]
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Incident tab in the private channel" in page and NOTICE[:40] not in page


def test_a_private_channel_in_a_team_without_the_app_says_so_without_asking_graph(
        sandbox_app, session):
    state = _state(sandbox_app)
    teams_apps.uninstall(state, TEAM_ID)
    browser, reference = _declare(sandbox_app, security=True)
    drain(sandbox_app)
    pin = _pin(session)
    assert pin.status == "delivered" and pin.result[tab_pins.APP_MISSING] == \
        tab_pins.NOT_INSTALLED
    assert pin.result["notice"].startswith(NOTICE)
    assert "not installed in the incidents team" in pin.result["notice"]
    assert _tab_requests(state) == []
    assert not [r for r in state.requests() if "/installedApps" in r["path"]]
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert str(escape(NOTICE)) in page
